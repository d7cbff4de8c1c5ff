#!/usr/bin/env bash
# A/B of two Gatehouse builds (or one build under two settings) side by side: one upstream
# (nginx), two Gatehouses configured alike, then ROUNDS interleaved wrk rounds on each path
# against A and B, and the medians of req/s, p99 and CPU µs per request with B's ratios to A.
# Settles "did this change help" where two separate runs of bench/run.sh differ by the VM's
# noise (±10-20 % per round here).
#
# Usage: bench/ab.sh BIN_A BIN_B [--rounds 6] [--paths "bench karl"] [--duration 5]
#                    [--env-a VAR=VALUE] [--env-b VAR=VALUE] [--routes-b N]
#   paths: bench (no plugins), karl (key-auth + rate-limiting), all (and cors)
#   --env-b GATEHOUSE_ANALYTICS=off   what analytics cost, same build
#   --routes-b 10000                  B with that many routes (one POST /config), A with 3
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n 2,12p "$0"; exit 2; }
A=$(realpath "$1"); B=$(realpath "$2"); shift 2
ROUNDS=6; PATHS="bench karl"; DURATION=5; ENV_A="GATEHOUSE_LOG=warn"; ENV_B="GATEHOUSE_LOG=warn"; ROUTES_B=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2;;
    --paths) PATHS=$2; shift 2;;
    --duration) DURATION=$2; shift 2;;
    --env-a) ENV_A=$2; shift 2;;
    --env-b) ENV_B=$2; shift 2;;
    --routes-b) ROUTES_B=$2; shift 2;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done
command -v wrk >/dev/null && { command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } \
  || { echo "needs nginx and wrk (bench/run.sh installs them)" >&2; exit 1; }

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
UP=19180; TOKEN=ab-bench-token-$$-0123456789abcdef0123456789
cat > "$WORK/up.conf" <<NGX
worker_processes auto; pid $WORK/up.pid; error_log $WORK/up-error.log warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$UP reuseport; location / { return 200 "hello from upstream\n"; } } }
NGX
"$(command -v nginx || echo /usr/sbin/nginx)" -c "$WORK/up.conf" -g "daemon off;" &
PIDS+=($!)

# start BIN PORT_BASE ENV: proxy on PORT_BASE, Admin API on PORT_BASE+1.
start() {
  env "$3" GATEHOUSE_DATA_DIR="$WORK/gh$2" GATEHOUSE_PROXY_LISTEN=127.0.0.1:$2 GATEHOUSE_PROXY_TLS_LISTEN=127.0.0.1:0 \
    GATEHOUSE_ADMIN_LISTEN=127.0.0.1:$(($2 + 1)) GATEHOUSE_CONSOLE_LISTEN=127.0.0.1:0 GATEHOUSE_CLUSTER_LISTEN=127.0.0.1:0 \
    GATEHOUSE_ECHO_LISTEN=127.0.0.1:0 GATEHOUSE_BOOTSTRAP_TOKEN=$TOKEN "$1" >"$WORK/gh$2.log" 2>&1 &
  PIDS+=($!)
}
start "$A" 19100 "$ENV_A"; PA=${PIDS[-1]}
start "$B" 19200 "$ENV_B"; PB=${PIDS[-1]}

# One kong.yml for both (B's with the extra routes): the three benchmark routes, a consumer.
configure() {
  python3 - "$1" "$TOKEN" "$UP" "$2" <<'PY'
import sys, json, http.client, time
admin, token, up, total = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4] or 0)
routes = [{"name": n, "paths": [f"/{n}"]} for n in ("bench", "karl", "all")]
routes += [{"name": f"r{i}", "paths": [f"/svc{i}/v{i % 7}"]} for i in range(len(routes), total)]
rl = {"second": 100000000, "policy": "local"}
doc = {"_format_version": "3.0",
       "consumers": [{"username": "bench", "keyauth_credentials": [{"key": "bench-key"}]}],
       "plugins": [{"name": "key-auth", "route": "karl"}, {"name": "rate-limiting", "route": "karl", "config": rl},
                   {"name": "key-auth", "route": "all"}, {"name": "rate-limiting", "route": "all", "config": rl},
                   {"name": "cors", "route": "all"}],
       "services": [{"name": "bench", "url": f"http://127.0.0.1:{up}", "routes": routes}]}
for _ in range(200):
    try:
        c = http.client.HTTPConnection("127.0.0.1", admin, timeout=300)
        c.request("POST", "/config", json.dumps(doc), {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        r = c.getresponse(); body = r.read()
        if r.status == 201:
            break
        sys.exit(f"POST /config: {r.status} {body[:300]!r}")
    except ConnectionRefusedError:
        time.sleep(0.05)
PY
}
configure 19101 ""
configure 19201 "$ROUTES_B"
for port in 19100 19200; do
  for p in $PATHS; do
    for _ in $(seq 1 100); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'apikey: bench-key' "http://127.0.0.1:$port/$p")" = 200 ] && break
      sleep 0.05
    done
  done
done
sleep 3

echo 'done = function(s) io.write(string.format("N %d\n", s.requests)) end' > "$WORK/n.lua"
ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
HZ=$(getconf CLK_TCK)
echo "A: $A ($ENV_A); B: $B ($ENV_B${ROUTES_B:+, $ROUTES_B routes}); $ROUNDS rounds of ${DURATION}s, wrk -t2 -c64"
for _ in $(seq 1 "$ROUNDS"); do
  for p in $PATHS; do
    for who in A B; do
      port=19100; pid=$PA; [ $who = B ] && port=19200 && pid=$PB
      t0=$(ticks $pid)
      out=$(wrk -t2 -c64 -d"${DURATION}s" --latency -H 'apikey: bench-key' -H 'Origin: http://app.example' -s "$WORK/n.lua" "http://127.0.0.1:$port/$p")
      t1=$(ticks $pid)
      n=$(echo "$out" | awk '/^N /{print $2}')
      echo "$p $who $(echo "$out" | awk '/Requests\/sec/{print $2}') $(echo "$out" | awk '$1=="99%"{print $2}') $(awk -v t=$((t1 - t0)) -v n="$n" -v hz="$HZ" 'BEGIN{printf "%.2f", t*1e6/hz/n}')"
    done
  done
done | tee "$WORK/rounds" | sed 's/^/  /'
python3 - "$WORK/rounds" <<'PY'
import sys, statistics as st
from collections import defaultdict
def ms(v):
    for unit, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if v.endswith(unit):
            return float(v[:-len(unit)]) * f
    return float(v)
d = defaultdict(lambda: defaultdict(list))
for line in open(sys.argv[1]):
    p, who, rps, p99, cpu = line.split()
    d[p][who].append((float(rps), ms(p99), float(cpu)))
print(f"{'path':6} {'A req/s':>9} {'p99 ms':>7} {'µs/req':>7} {'B req/s':>9} {'p99 ms':>7} {'µs/req':>7} {'B/A req/s':>10} {'B/A µs':>7}")
for p, r in d.items():
    a = [st.median(x[i] for x in r["A"]) for i in range(3)]
    b = [st.median(x[i] for x in r["B"]) for i in range(3)]
    print(f"{p:6} {a[0]:9.0f} {a[1]:7.2f} {a[2]:7.2f} {b[0]:9.0f} {b[1]:7.2f} {b[2]:7.2f} {b[0]/a[0]:10.3f} {b[2]/a[2]:7.3f}")
PY
