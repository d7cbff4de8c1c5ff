#!/usr/bin/env bash
# Installs what the test suite needs and a fresh Debian machine lacks: Chromium and ChromeDriver
# for the browser tests, PostgreSQL's server binaries for the second backend's run, and
# redis-server for the rate-limiting plugin's redis policy, and nginx for the HTTP strictness
# tests that send the same raw bytes to nginx and to Gatehouse (the tests start their own
# throwaway servers). Quiet and idempotent: installs nothing when all is there.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "the tests need: ${need[*]}; run this as root or: sudo apt-get install ${need[*]}" >&2
  exit 1
fi
echo "installing: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
