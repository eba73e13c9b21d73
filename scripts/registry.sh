#!/usr/bin/env bash
# Install Debian's docker-registry (the OCI Distribution reference registry), which
# tests/test_registry.py runs on 127.0.0.1 to pull from (those tests skip without it,
# and without skopeo). Optional.
# Usage: bash scripts/registry.sh   (from the repository root; apt-get needs root)
set -euo pipefail
command -v docker-registry >/dev/null 2>&1 || [[ -x /usr/bin/docker-registry ]] && exit 0
if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends docker-registry >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends docker-registry >/dev/null; } \
    || echo "registry.sh: apt-get install docker-registry failed (the registry tests skip)" >&2
  # the package starts a system service on :5000; the tests run their own instance
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now docker-registry >/dev/null 2>&1 || true; fi
else
  echo "registry.sh: docker-registry missing (not root or no apt-get; the registry tests skip)" >&2
fi
