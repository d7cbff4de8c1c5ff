#!/usr/bin/env bash
# CPU per Gatehouse thread under load: which part of the process pays for a request. Starts a
# one-worker nginx upstream and Gatehouse (analytics on, or off with ANALYTICS=off), warms up,
# then prints requests/s and each thread group's CPU over a 10 s wrk run.
# Usage: bench/threads.sh            (needs nginx and wrk; bench/run.sh installs them)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
WORK=$(mktemp -d)
cleanup() { kill "${PID:-}" 2>/dev/null || true; [ -f "$WORK/n.pid" ] && kill "$(cat "$WORK/n.pid")" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
cat > "$WORK/n.conf" <<NGX
worker_processes 1;
pid $WORK/n.pid;
error_log $WORK/e.log warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:19080; location / { return 200 "hello world\n"; } } }
NGX
"$(command -v nginx || echo /usr/sbin/nginx)" -c "$WORK/n.conf"
GATEHOUSE_DATA_DIR="$WORK/gh" GATEHOUSE_PROXY_LISTEN=127.0.0.1:19000 GATEHOUSE_PROXY_TLS_LISTEN=127.0.0.1:0 \
GATEHOUSE_ADMIN_LISTEN=127.0.0.1:19001 GATEHOUSE_CONSOLE_LISTEN=127.0.0.1:0 GATEHOUSE_CLUSTER_LISTEN=127.0.0.1:0 \
GATEHOUSE_ECHO_LISTEN=127.0.0.1:0 GATEHOUSE_BOOTSTRAP_TOKEN=threads-bench-token-0123456789abcdef GATEHOUSE_ANALYTICS="${ANALYTICS:-on}" \
GATEHOUSE_LOG=warn target/release/gatehouse &
PID=$!
for _ in $(seq 1 100); do curl -s -o /dev/null -H "Authorization: Bearer threads-bench-token-0123456789abcdef" localhost:19001/status && break; sleep 0.05; done
curl -s -o /dev/null -H "Authorization: Bearer threads-bench-token-0123456789abcdef" -X POST localhost:19001/services -d name=b -d url=http://127.0.0.1:19080
curl -s -o /dev/null -H "Authorization: Bearer threads-bench-token-0123456789abcdef" -X POST localhost:19001/services/b/routes -d name=b -d 'paths[]=/b'
sleep 0.5
wrk -t2 -c64 -d3s http://127.0.0.1:19000/b > /dev/null
snap() { for t in /proc/$PID/task/*; do s=($(sed 's/.*) //' "$t/stat")); echo "$(tr ' ' '_' < "$t/comm") $(( s[11] + s[12] ))"; done \
  | awk '{a[$1]+=$2} END {for (k in a) print k, a[k]}' | sort; }
snap > "$WORK/before"
wrk -t2 -c64 -d10s http://127.0.0.1:19000/b | grep Requests/sec
snap > "$WORK/after"
echo "CPU per thread group over 10 s (gatehouse-ctl holds the telemetry writer and its SQLite work):"
join "$WORK/before" "$WORK/after" | awk '{ if ($3 > $2) print "  " $1, ($3 - $2) * 10, "ms" }' | sort -k2 -n -r
