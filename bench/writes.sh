#!/usr/bin/env bash
# Admin API write latency with a large configuration: loads N routes with one POST /config, then
# times 20 single-route updates (PATCH /routes/r1, each a new configuration version with its
# diff) and prints the median, fastest and slowest, and the process's RSS once the heap those
# writes freed has been trimmed. Every write re-reads the group's configuration, diffs it
# against the previous version and stores it packed, so this is what a team with thousands of
# routes waits for on each console or Admin API change.
#
# Usage: bench/writes.sh [--routes "1000 10000"] [--bin PATH]
set -euo pipefail
cd "$(dirname "$0")/.."

. bench/lib.sh
routes_and_bin "$@"

WORK=$(mktemp -d)
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
ADMIN=19101; TOKEN=bench-token-$$-0123456789abcdef0123456789

echo "machine: $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); SQLite"
printf "%-8s %12s %10s %10s %10s %10s\n" routes "import s" "PATCH p50" "fastest" "slowest" "RSS MB"
for n in $ROUTES; do
  rm -rf "$WORK/gh"
  GATEHOUSE_DATA_DIR="$WORK/gh" GATEHOUSE_PROXY_LISTEN=127.0.0.1:0 GATEHOUSE_PROXY_TLS_LISTEN=127.0.0.1:0 \
  GATEHOUSE_ADMIN_LISTEN=127.0.0.1:$ADMIN GATEHOUSE_CONSOLE_LISTEN=127.0.0.1:0 GATEHOUSE_CLUSTER_LISTEN=127.0.0.1:0 \
  GATEHOUSE_ECHO_LISTEN=127.0.0.1:0 GATEHOUSE_BOOTSTRAP_TOKEN=$TOKEN GATEHOUSE_LOG=warn "$BIN" >"$WORK/log" 2>&1 &
  PID=$!
  for _ in $(seq 1 200); do
    curl -s -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$ADMIN/status" && break
    sleep 0.05
  done
  out=$(python3 - "$ADMIN" "$TOKEN" "$n" <<'PY'
import sys, json, http.client, time
admin, token, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
routes = [{"name": f"r{i}", "paths": [f"/svc{i}/v{i % 7}"]} for i in range(total)]
doc = {"_format_version": "3.0", "services": [{"name": "bench", "url": "http://127.0.0.1:9", "routes": routes}]}
c = http.client.HTTPConnection("127.0.0.1", int(admin), timeout=600)
t = time.time()
c.request("POST", "/config", json.dumps(doc), auth)
r = c.getresponse(); r.read()
if r.status != 201:
    sys.exit(f"POST /config: {r.status}")
imported = time.time() - t
ts = []
for i in range(20):
    t = time.time()
    c.request("PATCH", "/routes/r1", json.dumps({"paths": [f"/changed{i}"]}), auth)
    r = c.getresponse(); r.read()
    if r.status != 200:
        sys.exit(f"PATCH: {r.status}")
    ts.append((time.time() - t) * 1000)
ts.sort()
print(f"{imported:.1f} {ts[len(ts) // 2]:.0f} {ts[0]:.0f} {ts[-1]:.0f}")
PY
)
  sleep 3
  rss=$(awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$PID/status")
  read -r imp p50 lo hi <<<"$out"
  printf "%-8s %12s %10s %10s %10s %10s\n" "$n" "$imp" "$p50 ms" "$lo ms" "$hi ms" "$rss"
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
done
