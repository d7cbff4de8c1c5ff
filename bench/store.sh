#!/usr/bin/env bash
# Store benchmark: how fast the control plane takes configuration writes, and how quickly the
# console answers, while the proxy runs at full load (so the analytics writer is busy too).
#
# For each backend (the embedded SQLite file, a throwaway PostgreSQL server started here) it
# prints, in one run:
#   proxy alone           wrk req/s through Gatehouse's proxy with nothing else going on
#   writes + pages, idle  Admin API writes/s (8 writers) and console page p50/p99 (2 readers)
#   writes + pages, load  the same while wrk drives the proxy, plus the proxy's req/s meanwhile
# The proxy never touches the database, so its req/s should not drop because of the writers
# beyond the CPU they take on this 2-core machine.
#
# Usage: bench/store.sh [--backend sqlite|postgres|both] [--duration 10] [--bin PATH]
#   --bin runs another build of gatehouse (an older commit's, to compare before and after;
#   builds from before PostgreSQL support only take --backend sqlite).
# Installs nginx, wrk and postgresql from Debian packages when absent.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

BACKENDS="sqlite postgres"; DURATION=10; BIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) BACKENDS=$([ "$2" = both ] && echo "sqlite postgres" || echo "$2"); shift 2;;
    --duration) DURATION=$2; shift 2;;
    --bin) BIN=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
if [ -z "$BIN" ]; then
  cargo build --release --quiet
  BIN=target/release/gatehouse
fi

WORK=$(mktemp -d)
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/pg/postmaster.pid" ] && runuser -u postgres -- "$PGBIN/pg_ctl" stop -m fast -D "$WORK/pg" >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(free_port)
start_upstream "$WORK" "$UP"

TOKEN=bench-token-$$-0123456789abcdef0123456789
EMAIL=bench@example.com; PASSWORD=bench-password-123

start_pg() {
  mkdir -p "$WORK/pg" && chown postgres:postgres "$WORK/pg"
  runuser -u postgres -- "$PGBIN/initdb" -A trust -U postgres --no-sync -D "$WORK/pg" >/dev/null
  PGPORT=$(free_port)
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg/log" -w \
    -o "-p $PGPORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
  runuser -u postgres -- "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "CREATE DATABASE bench" >/dev/null
  echo "postgres://postgres@127.0.0.1:$PGPORT/bench"
}

run_backend() {
  local backend=$1 db=""
  [ "$backend" = postgres ] && db=$(start_pg)
  local P A C
  P=$(free_port); A=$(free_port); C=$(free_port)
  mkdir -m 700 -p "$WORK/$backend"
  env GATEHOUSE_DATA_DIR="$WORK/$backend" ${db:+GATEHOUSE_DATABASE_URL=$db} \
    GATEHOUSE_PROXY_LISTEN=127.0.0.1:$P GATEHOUSE_PROXY_TLS_LISTEN=127.0.0.1:$(free_port) \
    GATEHOUSE_ADMIN_LISTEN=127.0.0.1:$A GATEHOUSE_CONSOLE_LISTEN=127.0.0.1:$C \
    GATEHOUSE_CLUSTER_LISTEN=127.0.0.1:$(free_port) GATEHOUSE_ECHO_LISTEN=127.0.0.1:$(free_port) \
    GATEHOUSE_BOOTSTRAP_TOKEN=$TOKEN GATEHOUSE_ADMIN_EMAIL=$EMAIL GATEHOUSE_ADMIN_PASSWORD=$PASSWORD \
    GATEHOUSE_LOG=warn "$BIN" >"$WORK/$backend.log" 2>&1 &
  local gh=$!
  PIDS+=($gh)
  for _ in $(seq 100); do curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$A/status" >/dev/null && break; sleep 0.1; done
  curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"name\":\"bench\",\"url\":\"http://127.0.0.1:$UP\"}" "http://127.0.0.1:$A/services" >/dev/null
  curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"name":"bench-route","paths":["/bench"]}' "http://127.0.0.1:$A/services/bench/routes" >/dev/null
  for _ in $(seq 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/bench")" = 200 ] && break; sleep 0.05; done

  local rps_alone rps_load idle load
  rps_alone=$(wrk -t1 -c32 -d"${DURATION}s" "http://127.0.0.1:$P/bench" | awk '/Requests\/sec/ {print $2}')
  idle=$(python3 bench/store_load.py "127.0.0.1:$A" "127.0.0.1:$C" "$TOKEN" "$EMAIL" "$PASSWORD" "$DURATION" 8 2)
  wrk -t1 -c32 -d"$((DURATION + 2))s" "http://127.0.0.1:$P/bench" >"$WORK/wrk.txt" &
  local w=$!
  sleep 1
  load=$(python3 bench/store_load.py "127.0.0.1:$A" "127.0.0.1:$C" "$TOKEN" "$EMAIL" "$PASSWORD" "$DURATION" 8 2)
  wait $w
  rps_load=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
  kill $gh 2>/dev/null || true; wait $gh 2>/dev/null || true
  python3 - "$backend" "$rps_alone" "$rps_load" "$idle" "$load" <<'PY'
import json, sys
b, alone, under, idle, load = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), json.loads(sys.argv[4]), json.loads(sys.argv[5])
print(f"== {b}")
print(f"  proxy alone            {alone:10.0f} req/s")
for name, r in (("idle", idle), ("under proxy load", load)):
    print(f"  writes + pages, {name:17} {r['writes_per_s']:7.1f} writes/s  page p50 {r['page_p50_ms']} ms  p99 {r['page_p99_ms']} ms  max {r['page_max_ms']} ms  ({r['pages']} pages, {r['write_errors']} write errors, {r['page_errors']} page errors)")
print(f"  proxy during writes    {under:10.0f} req/s  ({under / alone:.2f}x alone)")
PY
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); binary: $BIN; ${DURATION}s per phase"
for b in $BACKENDS; do run_backend "$b"; done
