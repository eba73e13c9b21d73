#!/usr/bin/env bash
# Install the Debian packages ../shared/corpus/build.sh needs, if any is missing.
set -euo pipefail
need=()
for tool in debootstrap:debootstrap umoci:umoci skopeo:skopeo go:golang-go gcc:gcc openssl:openssl \
            ssh-keygen:openssh-client dpkg-deb:dpkg-dev; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool##*:}")
done
if (( ${#need[@]} )); then
  if [[ $EUID -ne 0 ]]; then
    echo "corpus-prereqs: missing ${need[*]}; install them as root (apt-get install ...)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# build.sh runs the python3 on PATH, which must import cryptography
python3 -c 'import cryptography' 2>/dev/null || python3 -m pip install -q cryptography
