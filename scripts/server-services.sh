#!/usr/bin/env bash
# Install what the server's scale-out tests run: redis-server, rabbitmq-server and
# PostgreSQL (tests/services.py starts private instances of Redis and PostgreSQL for
# the restart tests, and uses the machine's running ones with names of their own).
# Usage: bash scripts/server-services.sh   (from the repository root; apt-get needs root)
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v rabbitmq-server >/dev/null 2>&1 || [[ -x /usr/sbin/rabbitmq-server ]] || need+=(rabbitmq-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
[[ ${#need[@]} -eq 0 ]] && exit 0
if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
  # the packages' own services are what the tests share (own database, prefix, queues)
  if command -v service >/dev/null 2>&1; then
    for s in redis-server rabbitmq-server postgresql; do service "$s" start >/dev/null 2>&1 || true; done
  fi
else
  echo "server-services.sh: missing ${need[*]} (not root or no apt-get; the service tests skip, or fail in CI)" >&2
fi
