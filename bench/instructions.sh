#!/usr/bin/env bash
# Instructions and heap allocations per proxied request, counted by valgrind's callgrind: with
# GATEHOUSE_ANALYTICS=off the same binary and input give the same count within about 0.5 %
# whatever else the machine is doing, so a change of a few percent shows where wrk's rounds
# (±10-20 % on a shared VM) cannot. With analytics on, the clock-driven work (the writer's
# batches, timers) is spread over however many requests arrive per tick, so the count moves
# with the machine's speed (seen: up to +17 % on a slow hour); compare builds with it off. Gatehouse runs under
# callgrind with one route without plugins (/bench) and one with key-auth + rate-limiting
# (/karl); one client sends N keep-alive requests to each, one at a time, after a warm-up. The
# counts cover every thread of the process (the analytics writer too), from the first of the
# N requests to the last.
#
# Usage: bench/instructions.sh [--requests 3000] [--bin PATH]
#        GATEHOUSE_ANALYTICS=off bench/instructions.sh   (the environment reaches Gatehouse)
# Installs valgrind and nginx (the upstream) from Debian packages when absent.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

N=3000; BIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) N=$2; shift 2;;
    --bin) BIN=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
need=()
command -v valgrind >/dev/null || need+=(valgrind)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ -z "$BIN" ]; then
  cargo build --release --quiet
  BIN=target/release/gatehouse
fi
BIN=$(realpath "$BIN")

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
UP=19280; PROXY=19200; ADMIN=19201; TOKEN=bench-token-$$-0123456789abcdef0123456789

start_upstream "$WORK" "$UP"

GATEHOUSE_DATA_DIR="$WORK/gh" GATEHOUSE_PROXY_LISTEN=127.0.0.1:$PROXY GATEHOUSE_PROXY_TLS_LISTEN=127.0.0.1:0 \
GATEHOUSE_ADMIN_LISTEN=127.0.0.1:$ADMIN GATEHOUSE_CONSOLE_LISTEN=127.0.0.1:0 GATEHOUSE_CLUSTER_LISTEN=127.0.0.1:0 \
GATEHOUSE_ECHO_LISTEN=127.0.0.1:0 GATEHOUSE_BOOTSTRAP_TOKEN=$TOKEN GATEHOUSE_LOG=warn \
  valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" "$BIN" >"$WORK/gh.log" 2>&1 &
VG=$!
PIDS+=($VG)

api() { curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $TOKEN" "$@"; }
for _ in $(seq 1 600); do [ "$(api http://127.0.0.1:$ADMIN/status)" = 200 ] && break; sleep 0.5; done
A=http://127.0.0.1:$ADMIN
api -X POST $A/services -d name=bench -d "url=http://127.0.0.1:$UP" >/dev/null
api -X POST $A/services/bench/routes -d name=bench -d 'paths[]=/bench' >/dev/null
api -X POST $A/consumers -d username=bench >/dev/null
api -X POST $A/consumers/bench/key-auth -d key=bench-key >/dev/null
api -X POST $A/services/bench/routes -d name=karl -d 'paths[]=/karl' >/dev/null
api -X POST $A/routes/karl/plugins -d name=key-auth >/dev/null
api -X POST $A/routes/karl/plugins -d name=rate-limiting -d config.second=100000000 -d config.policy=local >/dev/null

# N keep-alive requests on one connection, one at a time; fails unless every answer is a 200.
load() {
  python3 - "$PROXY" "$1" "$2" <<'PY'
import socket, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
req = (f"GET /{path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\napikey: bench-key\r\n"
       "User-Agent: instructions\r\nAccept: */*\r\n\r\n").encode()
s = socket.create_connection(("127.0.0.1", port))
buf = b""
for i in range(n):
    s.sendall(req)
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, _, buf = buf.partition(b"\r\n\r\n")
    length = next(int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:"))
    while len(buf) < length:
        buf += s.recv(65536)
    buf = buf[length:]
    if not head.startswith(b"HTTP/1.1 200"):
        sys.exit(f"request {i} to /{path}: {head.splitlines()[0].decode()}")
PY
}

echo "machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); $N requests per path, one client; $BIN"
printf "%-34s %14s %14s\n" path "instructions" "allocations"
for P in bench karl; do
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'apikey: bench-key' http://127.0.0.1:$PROXY/$P)" = 200 ] && break
    sleep 0.5
  done
  load $P 300
  sleep 1
  callgrind_control -z $VG >/dev/null 2>&1
  load $P "$N"
  callgrind_control -d "$P" $VG >/dev/null 2>&1
  sleep 1
  F=$(grep -l "^desc: Trigger: .*$P\$" "$WORK"/cg.out.* | head -1)
  python3 - "$F" "$N" "$P" <<'PY'
import re, sys
f, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
names, total, allocs, cfn = {}, 0, 0, None
def name(v):
    m = re.match(r'\((\d+)\)(?: (.*))?', v)
    if not m:
        return v
    if m.group(2):
        names[m.group(1)] = m.group(2)
    return names.get(m.group(1), v)
for line in open(f):
    if line.startswith('summary:'):
        total = int(line.split()[1])
    elif line.startswith('cfn='):
        cfn = name(line[4:].strip())
    elif line.startswith('calls=') and cfn in ('malloc', 'calloc', 'realloc'):
        allocs += int(line[6:].split()[0])
    elif line.startswith(('fn=', 'fl=', 'fi=', 'fe=', 'ob=', 'cob=', 'cfi=', 'cfl=')):
        name(line.split('=', 1)[1].strip())
label = {'bench': '/bench (no plugins)', 'karl': '/karl (key-auth + rate-limiting)'}[path]
print(f"{label:<34} {total // n:>14,} {allocs / n:>14.1f}")
PY
done
