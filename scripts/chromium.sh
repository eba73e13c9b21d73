#!/usr/bin/env bash
# Install Debian's chromium and chromium-driver, which tests/test_html_browser.py drives
# headless through selenium to open the HTML reports (no browser build is downloaded).
# Those tests skip without it, except in CI (CI=true), where they fail instead.
# Usage: bash scripts/chromium.sh   (from the repository root; apt-get needs root)
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; } \
    || echo "chromium.sh: apt-get install chromium chromium-driver failed (the browser tests skip)" >&2
else
  echo "chromium.sh: chromium missing (not root or no apt-get; the browser tests skip)" >&2
fi
