#!/usr/bin/env bash
# Declarative import benchmark: how long `gatehouse config validate` and `gatehouse config
# import` take on kong.yml files of 1,000 and 10,000 routes (100 routes per service, a
# key-auth plugin and a consumer per service), and the peak RSS of each run (from
# /usr/bin/time). Each import goes into a fresh SQLite data dir; the same file is then
# imported again (nothing changes: no new version) and once more with every path changed
# (every route updated: one version holding the whole diff).
#
# Usage: bench/import.sh [--routes "1000 10000"] [--bin PATH]
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh
routes_and_bin "$@"
[ -x /usr/bin/time ] || { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq time >/dev/null; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

gen() { # gen ROUTES SUFFIX > file
  python3 - "$1" "$2" <<'PY'
import sys
n, suffix = int(sys.argv[1]), sys.argv[2]
per = 100
print('_format_version: "3.0"')
print('services:')
for s in range(max(1, n // per)):
    print(f'- name: svc{s}\n  url: http://127.0.0.1:9/s{s}\n  plugins:\n  - name: key-auth\n  routes:')
    for r in range(min(per, n)):
        print(f'  - name: r{s}-{r}\n    paths: [/s{s}/r{r}{suffix}]\n    methods: [GET, POST]')
print('consumers:')
for s in range(max(1, n // per)):
    print(f'- username: user{s}\n  keyauth_credentials:\n  - key: key-{s}')
PY
}

# run LABEL CMD... : prints seconds and peak RSS of CMD
run() {
  local label=$1; shift
  /usr/bin/time -o "$WORK/time" -f '%e %M' "$@" >/dev/null 2>"$WORK/err" || {
    echo "$label failed:" >&2; cat "$WORK/err" >&2; exit 1; }
  read -r secs kb <"$WORK/time"
  printf '| %s | %s | %.2f | %d |\n' "$n" "$label" "$secs" "$((kb / 1024))"
}

echo "$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $($BIN --version 2>/dev/null || echo gatehouse)"
echo
echo "| routes | step | seconds | peak RSS MB |"
echo "| --- | --- | --- | --- |"
for n in $ROUTES; do
  gen "$n" "" > "$WORK/a.yml"
  gen "$n" "/v2" > "$WORK/b.yml"
  size=$(du -k "$WORK/a.yml" | cut -f1)
  dir="$WORK/data-$n"
  mkdir -m 700 "$dir"
  run "validate (${size} KB file)" "$BIN" config validate "$WORK/a.yml"
  run "import into an empty group" env GATEHOUSE_DATA_DIR="$dir" "$BIN" config import "$WORK/a.yml"
  run "import the same file again" env GATEHOUSE_DATA_DIR="$dir" "$BIN" config import "$WORK/a.yml"
  run "import with every path changed" env GATEHOUSE_DATA_DIR="$dir" "$BIN" config import "$WORK/b.yml"
  run "export" env GATEHOUSE_DATA_DIR="$dir" "$BIN" config export
done
