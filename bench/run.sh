#!/usr/bin/env bash
# Proxy benchmark: one machine, one run. Starts a fast upstream (nginx returning a small body),
# then drives the same load (wrk, fixed connections and duration) at
#   direct upstream | nginx reverse proxy | HAProxy | Gatehouse
# with 1, 1,000 and 10,000 routes configured in Gatehouse, and prints requests/s, p50/p99/p99.9
# latency and the maximum (the worst round), CPU µs per request of each proxy (utime + stime from
# /proc over the run, nginx's workers included), the ratios Gatehouse/nginx, Gatehouse/HAProxy and
# Gatehouse/direct, and Gatehouse's RSS.
#
# Every comparison is interleaved: for each route count, ROUNDS rounds of direct, nginx, HAProxy and
# Gatehouse back to back, and the medians are compared. On a shared 2-core VM one run varies by
# ±10 %; interleaving and medians keep a slow minute from deciding the ratio. Beside the ratio of
# medians it prints the round-by-round comparison (each round's Gatehouse against that round's
# better peer, which ran seconds apart): the median of those and in how many rounds it held.
# Every wrk run also reports the CPU time the hypervisor stole from this VM meanwhile (/proc/stat),
# so a round slowed by a neighbour shows as such instead of as a regression.
#
# Usage: bench/run.sh [--duration 5s] [--connections 64] [--threads 2] [--routes "1 1000 10000"] [--rounds 3]
#        [--bin PATH]   (another build of gatehouse, to compare before and after)
#        [--no-plugins] (skip the plugin table)
# Before the route counts it prints the plugin table: Gatehouse with no plugins, key-auth,
# rate-limiting (local) and key-auth + rate-limiting + cors, beside nginx doing the same work
# (a `map` on the key header, `limit_req`, CORS headers), same load, interleaved rounds.
# With the first route count it also runs a second Gatehouse with GATEHOUSE_ANALYTICS=off and
# prints the analytics overhead.
# Installs nginx, haproxy and wrk from Debian packages when absent.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=5s; CONNS=64; THREADS=2; ROUTES="1 1000 10000"; ROUNDS=3; BIN=""; PLUGINS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2;;
    --connections) CONNS=$2; shift 2;;
    --threads) THREADS=$2; shift 2;;
    --routes) ROUTES=$2; shift 2;;
    --rounds) ROUNDS=$2; shift 2;;
    --bin) BIN=$2; shift 2;;
    --no-plugins) PLUGINS=0; shift;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
done

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

if [ -z "$BIN" ]; then
  cargo build --release --quiet
  BIN=target/release/gatehouse
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

UP=18080; NGX=18081; HAP=18082; GH=18000; ADMIN=18001; CONSOLE=18002
TOKEN=bench-token-$$-0123456789abcdef0123456789

# The upstream and the nginx proxy are separate nginx instances, each with a worker per core. In
# one instance, nginx's proxied requests could be answered by the same worker process without a
# context switch, an advantage no other proxy here gets from the shared upstream.
#
# Both listen with `reuseport`. Without it, nginx's workers race to accept and one of them often
# takes most of a burst of new connections: a proxy's 64 upstream connections were seen split
# 57:7 and 17:47 between the upstream's two workers in one run, while HAProxy's got 30:33. The
# overloaded worker then slows whichever proxy drew it for the whole run, which was the largest
# source of run-to-run spread in the comparison. With `reuseport` the kernel spreads connections
# by their address hash (26:38 to 40:24 measured), the same for every proxy; nginx as a proxy
# gets the same for wrk's connections, as HAProxy (and Gatehouse) balance theirs over threads.
cat > "$WORK/upstream.conf" <<NGX
worker_processes auto;
pid $WORK/upstream.pid;
error_log $WORK/upstream-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$UP reuseport; location / { return 200 "hello from upstream\n"; } }
}
NGX
"$NGINX" -c "$WORK/upstream.conf" -g "daemon off;" &
PIDS+=($!)

cat > "$WORK/nginx.conf" <<NGX
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream backend { server 127.0.0.1:$UP; keepalive 256; }
  # The plugin table's equivalents: key-auth as a map on the key header, rate-limiting as
  # limit_req with a rate the load never reaches (so every request is counted, none refused).
  map \$http_apikey \$key_ok { default 0; "bench-key" 1; }
  limit_req_zone \$binary_remote_addr zone=rl:10m rate=100000000r/s;
  server {
    listen 127.0.0.1:$NGX reuseport;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host \$host;
    proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    location /bench { proxy_pass http://backend; }
    location /ka {
      if (\$key_ok = 0) { return 401 '{"message":"Unauthorized"}'; }
      proxy_pass http://backend;
    }
    location /rl { limit_req zone=rl burst=1000000 nodelay; proxy_pass http://backend; }
    location /karl {
      if (\$key_ok = 0) { return 401 '{"message":"Unauthorized"}'; }
      limit_req zone=rl burst=1000000 nodelay;
      proxy_pass http://backend;
    }
    location /all {
      if (\$key_ok = 0) { return 401 '{"message":"Unauthorized"}'; }
      limit_req zone=rl burst=1000000 nodelay;
      add_header Access-Control-Allow-Origin \$http_origin always;
      add_header Vary Origin always;
      proxy_pass http://backend;
    }
  }
}
NGX
"$NGINX" -c "$WORK/nginx.conf" -g "daemon off;" &
NGXPID=$!
PIDS+=($NGXPID)

cat > "$WORK/haproxy.cfg" <<HAP
global
  maxconn 4000
  nbthread $(nproc)
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  option forwardfor
frontend fe
  bind 127.0.0.1:$HAP
  default_backend be
backend be
  http-reuse always
  server up 127.0.0.1:$UP
HAP
"$HAPROXY" -f "$WORK/haproxy.cfg" -db &
HAPPID=$!
PIDS+=($HAPPID)

GATEHOUSE_DATA_DIR="$WORK/gh" GATEHOUSE_PROXY_LISTEN=127.0.0.1:$GH GATEHOUSE_PROXY_TLS_LISTEN=127.0.0.1:18443 GATEHOUSE_ADMIN_LISTEN=127.0.0.1:$ADMIN \
GATEHOUSE_CONSOLE_LISTEN=127.0.0.1:$CONSOLE GATEHOUSE_CLUSTER_LISTEN=127.0.0.1:0 GATEHOUSE_ECHO_LISTEN=127.0.0.1:0 \
GATEHOUSE_BOOTSTRAP_TOKEN=$TOKEN GATEHOUSE_LOG=warn "$BIN" &
GHPID=$!
PIDS+=($GHPID)
# A second Gatehouse with analytics off, to print what recording every request costs.
GHOFF=18010; ADMIN_OFF=18011
GATEHOUSE_DATA_DIR="$WORK/gh-off" GATEHOUSE_PROXY_LISTEN=127.0.0.1:$GHOFF GATEHOUSE_PROXY_TLS_LISTEN=127.0.0.1:18444 GATEHOUSE_ADMIN_LISTEN=127.0.0.1:$ADMIN_OFF \
GATEHOUSE_CONSOLE_LISTEN=127.0.0.1:0 GATEHOUSE_CLUSTER_LISTEN=127.0.0.1:0 GATEHOUSE_ECHO_LISTEN=127.0.0.1:0 GATEHOUSE_ANALYTICS=off \
GATEHOUSE_BOOTSTRAP_TOKEN=$TOKEN GATEHOUSE_LOG=warn "$BIN" &
GHOFFPID=$!
PIDS+=($GHOFFPID)

wait_http() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "not up: $1" >&2; exit 1; }
wait_http "http://127.0.0.1:$UP/"
wait_http "http://127.0.0.1:$NGX/bench"
wait_http "http://127.0.0.1:$HAP/bench"
api() { curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $TOKEN" "$@"; }
for _ in $(seq 1 200); do [ "$(api http://127.0.0.1:$ADMIN/status)" = 200 ] && break; sleep 0.05; done
api -X POST "http://127.0.0.1:$ADMIN/services" -d name=bench -d "url=http://127.0.0.1:$UP" >/dev/null
api -X POST "http://127.0.0.1:$ADMIN/services/bench/routes" -d name=bench -d 'paths[]=/bench' >/dev/null
for _ in $(seq 1 200); do [ "$(api http://127.0.0.1:$ADMIN_OFF/status)" = 200 ] && break; sleep 0.05; done
api -X POST "http://127.0.0.1:$ADMIN_OFF/services" -d name=bench -d "url=http://127.0.0.1:$UP" >/dev/null
api -X POST "http://127.0.0.1:$ADMIN_OFF/services/bench/routes" -d name=bench -d 'paths[]=/bench' >/dev/null
wait_http "http://127.0.0.1:$GHOFF/bench"
CONFIGURED=1
FIRST_ROUTES=${ROUTES%% *}

# The plugin routes: key-auth, rate-limiting (local, a limit the load never reaches), and both
# plus cors; one consumer with the key the load sends.
if [ "$PLUGINS" = 1 ]; then
  api -X POST "http://127.0.0.1:$ADMIN/consumers" -d username=bench >/dev/null
  api -X POST "http://127.0.0.1:$ADMIN/consumers/bench/key-auth" -d key=bench-key >/dev/null
  for r in ka rl karl all; do
    api -X POST "http://127.0.0.1:$ADMIN/services/bench/routes" -d name=$r -d "paths[]=/$r" >/dev/null
  done
  api -X POST "http://127.0.0.1:$ADMIN/routes/karl/plugins" -d name=key-auth >/dev/null
  api -X POST "http://127.0.0.1:$ADMIN/routes/karl/plugins" -d name=rate-limiting -d config.second=100000000 -d config.policy=local >/dev/null
  api -X POST "http://127.0.0.1:$ADMIN/routes/ka/plugins" -d name=key-auth >/dev/null
  api -X POST "http://127.0.0.1:$ADMIN/routes/rl/plugins" -d name=rate-limiting -d config.second=100000000 -d config.policy=local >/dev/null
  api -X POST "http://127.0.0.1:$ADMIN/routes/all/plugins" -d name=key-auth >/dev/null
  api -X POST "http://127.0.0.1:$ADMIN/routes/all/plugins" -d name=rate-limiting -d config.second=100000000 -d config.policy=local >/dev/null
  api -X POST "http://127.0.0.1:$ADMIN/routes/all/plugins" -d name=cors >/dev/null
  for _ in $(seq 1 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'apikey: bench-key' http://127.0.0.1:$GH/all)" = 200 ] && break; sleep 0.05; done
  [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$GH/ka)" = 401 ] || { echo "key-auth is not enforced on /ka" >&2; exit 1; }
fi

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$GHPID/status"; }

# Grows the configuration to $1 routes: distinct prefixes that never match /bench, so the
# benchmark measures lookup cost among many routes. One declarative import (POST /config) holds
# the routes, the consumer and the plugins above, as a team with thousands of routes would load
# them (and one version in the history, not thousands).
grow_routes() {
  local target=$1
  [ "$target" -le "$CONFIGURED" ] && return
  python3 - "$ADMIN" "$TOKEN" "$UP" "$PLUGINS" "$target" <<'PY'
import sys, json, http.client
admin, token, up, plugins, total = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1", int(sys.argv[5])
routes = [{"name": "bench", "paths": ["/bench"]}]
doc = {"_format_version": "3.0"}
if plugins:
    routes += [{"name": r, "paths": [f"/{r}"]} for r in ("ka", "rl", "karl", "all")]
    rl = {"second": 100000000, "policy": "local"}
    doc["consumers"] = [{"username": "bench", "keyauth_credentials": [{"key": "bench-key"}]}]
    doc["plugins"] = [
        {"name": "key-auth", "route": "ka"},
        {"name": "rate-limiting", "route": "rl", "config": rl},
        {"name": "key-auth", "route": "karl"},
        {"name": "rate-limiting", "route": "karl", "config": rl},
        {"name": "key-auth", "route": "all"},
        {"name": "rate-limiting", "route": "all", "config": rl},
        {"name": "cors", "route": "all"},
    ]
for i in range(len(routes), total):
    r = {"name": f"r{i}", "paths": [f"/svc{i}/v{i % 7}"]}
    if i % 2:
        r["methods"] = ["GET"]
    routes.append(r)
doc["services"] = [{"name": "bench", "url": f"http://127.0.0.1:{up}", "routes": routes}]
c = http.client.HTTPConnection("127.0.0.1", int(admin), timeout=300)
c.request("POST", "/config", json.dumps(doc), {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
r = c.getresponse(); body = r.read()
if r.status != 201:
    sys.exit(f"POST /config with {total} routes: {r.status} {body[:300]!r}")
PY
  CONFIGURED=$target
  # Let the snapshot rebuild land before measuring, and the heap the import freed go back to
  # the OS (`src/memory.rs` trims 2 s after the new snapshot is applied).
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$GH/bench" && break; sleep 0.05; done
  sleep 3
}

# CPU time (utime + stime, in clock ticks) of a process and its children (nginx's workers).
TICKS_PER_S=$(getconf CLK_TCK)
cpu_ticks() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" 2>/dev/null || true); do
    [ -r "/proc/$p/stat" ] || continue
    # Fields after the command name (which may hold spaces): utime is 14th, stime 15th overall.
    total=$((total + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}
# wrk's Lua hook prints p99.9 and the maximum (microseconds), which --latency does not.
cat > "$WORK/tail.lua" <<'LUA'
done = function(summary, latency, requests)
  io.write(string.format("TAIL %d %d %d\n", latency:percentile(99.9), latency.max, summary.requests))
end
LUA
# The machine's stolen and total CPU ticks so far (/proc/stat): time the hypervisor gave this
# VM's virtual CPUs to someone else, which slows every target of a round without showing in
# any process's CPU time.
steal_ticks() { awk '/^cpu / {print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
STEALS=""
# Runs wrk against $1 and prints: req/s, p50, p99, p99.9 and max (ms), CPU µs per request of
# process $2 (and its children) over the run ("-" without $2), the % of the machine's CPU time
# stolen during the run, then any error counts.
run_wrk() {
  local before after=0 s0 t0 s1 t1
  [ -n "${2:-}" ] && before=$(cpu_ticks "$2")
  read -r s0 t0 <<<"$(steal_ticks)"
  local out; out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$WORK/tail.lua" -H "apikey: bench-key" -H "Origin: http://app.example" "$1")
  [ -n "${2:-}" ] && after=$(cpu_ticks "$2")
  read -r s1 t1 <<<"$(steal_ticks)"
  local steal; steal=$(awk -v s=$((s1 - s0)) -v t=$((t1 - t0)) 'BEGIN{printf "%.1f", (t > 0) ? s * 100 / t : 0}')
  local rps p50 p99 p999 max n cpu=-
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  read -r p999 max n <<<"$(echo "$out" | awk '$1=="TAIL" {printf "%.3f %.3f %d", $2/1000, $3/1000, $4}')"
  if [ -n "${2:-}" ] && [ "${n:-0}" -gt 0 ]; then
    cpu=$(awk -v t=$((after - before)) -v hz="$TICKS_PER_S" -v n="$n" 'BEGIN{printf "%.1f", t*1e6/hz/n}')
  fi
  local errs; errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
  echo "$rps $(to_ms "$p50") $(to_ms "$p99") $p999 $max $cpu $steal ${errs:-}"
}
to_ms() { case "$1" in *us) awk -v v="${1%us}" 'BEGIN{printf "%.3f", v/1000}';; *ms) echo "${1%ms}";; *s) awk -v v="${1%s}" 'BEGIN{printf "%.3f", v*1000}';; *) echo "$1";; esac; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }'; }

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
# The worst of the rounds (for the maximum latency, a median would hide an outlier).
max_of() { tr ' ' '\n' | grep -v '^$' | sort -g | tail -1; }
# Round by round over two lists of the same length: OP is ratio (a/b), diff (a-b), max or min.
# Each round's targets ran back to back, so comparing within a round cancels the VM's slow
# drift (a busier minute slows every target of that round) that medians taken apart keep.
pairwise() {
  awk -v op="$1" -v a="$2" -v b="$3" 'BEGIN{ n = split(a, x, " "); split(b, y, " ")
    for (i = 1; i <= n; i++) {
      if (op == "ratio") v = x[i] / y[i]; else if (op == "diff") v = x[i] - y[i]
      else if (op == "max") v = (x[i] > y[i] ? x[i] : y[i]); else v = (x[i] < y[i] ? x[i] : y[i])
      printf "%.4f ", v } }'
}
# How many of a list's values are at least $1 (pass negated values for "at most").
count_at_least() { tr ' ' '\n' | grep -v '^$' | awk -v t="$1" '$1 >= t {n++} END {print n+0}'; }

IDLE_RSS=$(rss_kb)
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); wrk -t$THREADS -c$CONNS -d$DURATION; $ROUNDS interleaved rounds, medians; $(date -u +%Y-%m-%dT%H:%MZ)"
echo "Gatehouse idle RSS: $((IDLE_RSS / 1024)) MB"
printf "\n%-8s %-15s %10s %8s %8s %8s %8s %7s  %s\n" routes target "req/s" "p50 ms" "p99 ms" "p99.9" "max ms" "µs/req" notes

if [ "$PLUGINS" = 1 ]; then
  declare -A PR=() PP=() PU=()
  for _ in $(seq 1 "$ROUNDS"); do
    for path in bench ka rl karl all; do
      for who in gatehouse nginx; do
        port=$GH; pid=$GHPID; [ "$who" = nginx ] && port=$NGX && pid=$NGXPID
        read -r r _ b _ _ u st _ <<<"$(run_wrk "http://127.0.0.1:$port/$path" "$pid")"
        STEALS+="$st "
        PR[$who-$path]+="$r "; PP[$who-$path]+="$b "; PU[$who-$path]+="$u "
      done
    done
  done
  printf "\nplugins (1 route each, key sent as apikey, Origin set)\n%-28s %12s %9s %7s %12s %9s %7s %8s %8s\n" "" "gatehouse" "p99 ms" "µs/req" "nginx" "p99 ms" "µs/req" "ratio" "paired"
  for path in bench ka rl karl all; do
    case $path in bench) label="no plugins";; ka) label="key-auth";; rl) label="rate-limiting (local)";; karl) label="key-auth + rate-limiting";; all) label="key-auth + rate-limiting + cors";; esac
    G=$(median <<<"${PR[gatehouse-$path]}"); N=$(median <<<"${PR[nginx-$path]}")
    PAIRS=$(pairwise ratio "${PR[gatehouse-$path]}" "${PR[nginx-$path]}")
    printf "%-28s %12s %9s %7s %12s %9s %7s %8s %8.2f\n" "$label" "$G" "$(median <<<"${PP[gatehouse-$path]}")" "$(median <<<"${PU[gatehouse-$path]}")" \
      "$N" "$(median <<<"${PP[nginx-$path]}")" "$(median <<<"${PU[nginx-$path]}")" "$(ratio "$G" "$N")" "$(median <<<"$PAIRS")"
  done
  echo
fi

SUMMARY=()
for n in $ROUTES; do
  grow_routes "$n"
  ROUTES_RSS=$(rss_kb)
  declare -A RPS=() P50=() P99=() P999=() PMAX=() CPU=() NOTE=() STEAL=()
  PEAK_RSS=$ROUTES_RSS
  TARGETS="direct nginx haproxy gatehouse"
  if [ "$n" = "$FIRST_ROUTES" ]; then TARGETS="$TARGETS gh-no-analytics"; fi
  for _ in $(seq 1 "$ROUNDS"); do
    for t in $TARGETS; do
      case $t in
        gh-no-analytics) url="http://127.0.0.1:$GHOFF/bench"; pid=$GHOFFPID;;
        direct) url="http://127.0.0.1:$UP/bench"; pid="";;
        nginx) url="http://127.0.0.1:$NGX/bench"; pid=$NGXPID;;
        haproxy) url="http://127.0.0.1:$HAP/bench"; pid=$HAPPID;;
        gatehouse) url="http://127.0.0.1:$GH/bench"; pid=$GHPID;;
      esac
      read -r r a b c m u st note <<<"$(run_wrk "$url" "$pid")"
      STEALS+="$st "; STEAL[$t]+="$st "
      RPS[$t]+="$r "; P50[$t]+="$a "; P99[$t]+="$b "; P999[$t]+="$c "; PMAX[$t]+="$m "; CPU[$t]+="$u "; NOTE[$t]+="${note:-}"
      if [ "$t" = gatehouse ]; then rss=$(rss_kb); [ "$rss" -gt "$PEAK_RSS" ] && PEAK_RSS=$rss; fi
    done
  done
  for t in $TARGETS; do
    printf "%-8s %-15s %10s %8s %8s %8s %8s %7s  %s\n" "$n" "$t" "$(median <<<"${RPS[$t]}")" "$(median <<<"${P50[$t]}")" "$(median <<<"${P99[$t]}")" \
      "$(median <<<"${P999[$t]}")" "$(max_of <<<"${PMAX[$t]}")" "$(median <<<"${CPU[$t]}")" \
      "$([ "$t" = gatehouse ] && echo "rss ${ROUTES_RSS}->${PEAK_RSS} kB; runs: ${RPS[$t]}" || echo "runs: ${RPS[$t]}")p99s: ${P99[$t]}steal %: ${STEAL[$t]}${NOTE[$t]}"
  done
  G=$(median <<<"${RPS[gatehouse]}"); N=$(median <<<"${RPS[nginx]}"); H=$(median <<<"${RPS[haproxy]}"); D=$(median <<<"${RPS[direct]}")
  BEST=$(awk -v n="$N" -v h="$H" 'BEGIN{print (n > h ? n : h)}')
  BEST_RPS=$(pairwise max "${RPS[nginx]}" "${RPS[haproxy]}")
  BEST_P99=$(pairwise min "${P99[nginx]}" "${P99[haproxy]}")
  RPS_PAIRS=$(pairwise ratio "${RPS[gatehouse]}" "$BEST_RPS")
  P99_PAIRS=$(pairwise diff "${P99[gatehouse]}" "$BEST_P99")
  SUMMARY+=("$(printf "%-8s gatehouse/better peer %s; round by round against that round's better peer: req/s %.2f× (median; >= 1.0 in %s of %s rounds), p99 %+.2f ms (median; <= in %s of %s rounds)" \
    "$n" "$(ratio "$G" "$BEST")" "$(median <<<"$RPS_PAIRS")" "$(count_at_least 1 <<<"$RPS_PAIRS")" "$ROUNDS" \
    "$(median <<<"$P99_PAIRS")" "$(awk '{for (i = 1; i <= NF; i++) printf "%s ", -$i}' <<<"$P99_PAIRS" | count_at_least 0)" "$ROUNDS")")
  SUMMARY+=("$(printf "%-8s gatehouse/nginx %s (p99 %s vs %s ms)  gatehouse/haproxy %s (p99 %s ms)  gatehouse/direct %s  CPU µs/req gatehouse %s nginx %s haproxy %s  RSS with routes %s MB, under load %s MB" \
    "$n" "$(ratio "$G" "$N")" "$(median <<<"${P99[gatehouse]}")" "$(median <<<"${P99[nginx]}")" "$(ratio "$G" "$H")" "$(median <<<"${P99[haproxy]}")" "$(ratio "$G" "$D")" \
    "$(median <<<"${CPU[gatehouse]}")" "$(median <<<"${CPU[nginx]}")" "$(median <<<"${CPU[haproxy]}")" $((ROUTES_RSS / 1024)) $((PEAK_RSS / 1024)))")
  if [ -n "${RPS[gh-no-analytics]:-}" ]; then
    OFF=$(median <<<"${RPS[gh-no-analytics]}")
    # CPU per request is the steadier measure: throughput also moves with whatever else the
    # shared cores ran during that round. The process's CPU includes the analytics writer thread.
    ANALYTICS_LINE=$(awk -v on="$G" -v off="$OFF" -v con="$(median <<<"${CPU[gatehouse]}")" -v coff="$(median <<<"${CPU[gh-no-analytics]}")" \
      -v paired="$(median <<<"$(pairwise ratio "${RPS[gatehouse]}" "${RPS[gh-no-analytics]}")")" \
      'BEGIN{ printf "analytics overhead (%s routes): %.1f %% fewer requests/s with analytics on (%.0f vs %.0f off; round by round, median %.1f %%); CPU %.1f vs %.1f µs/request off (%+.1f %%)", "'"$n"'", (off-on)*100/off, on, off, (1-paired)*100, con, coff, (con-coff)*100/coff }')
  fi
  unset RPS P50 P99 P999 PMAX CPU NOTE STEAL
done
echo
printf "%s\n" "${SUMMARY[@]}"
if [ -n "${ANALYTICS_LINE:-}" ]; then echo "$ANALYTICS_LINE"; fi
# A quiet host steals ~1 %; a run whose rounds lost much more measured the neighbours too.
echo "CPU stolen by the host (hypervisor steal, % of the machine's CPU time per wrk run): median $(median <<<"$STEALS") %, worst $(max_of <<<"$STEALS") %, $(count_at_least 5 <<<"$STEALS") of $(wc -w <<<"$STEALS") runs at 5 % or more"
