#!/usr/bin/env bash
# Install Debian's checksec, the reference tests/test_binary_hardening.py compares
# hullscan.binaries.hardening against (the comparison skips without it). Optional.
# Usage: bash scripts/checksec.sh   (from the repository root; apt-get needs root)
set -euo pipefail
command -v checksec >/dev/null 2>&1 && exit 0
if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends checksec binutils >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends checksec binutils >/dev/null; } \
    || echo "checksec.sh: apt-get install checksec failed (the checksec comparison skips)" >&2
else
  echo "checksec.sh: checksec missing (not root or no apt-get; the checksec comparison skips)" >&2
fi
