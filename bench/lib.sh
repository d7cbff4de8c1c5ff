# Shared by the benches that take `--routes "N M"` and `--bin PATH` (sourced, not run): parses
# those options into ROUTES and BIN, and builds a release binary unless --bin names one.
routes_and_bin() {
  ROUTES="1000 10000"; BIN=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --routes) ROUTES=$2; shift 2;;
      --bin) BIN=$2; shift 2;;
      *) echo "unknown option $1" >&2; exit 2;;
    esac
  done
  if [ -z "$BIN" ]; then
    cargo build --release --quiet
    BIN=target/release/gatehouse
  fi
}

# Starts the benches' upstream: an nginx on 127.0.0.1:PORT answering every request with a small
# body, one worker, its files in DIR; appends its pid to PIDS.
start_upstream() {
  local dir=$1 port=$2
  cat > "$dir/upstream.conf" <<NGX
worker_processes 1;
pid $dir/upstream.pid;
error_log $dir/upstream-error.log warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$port; location / { return 200 "hello from upstream\n"; } } }
NGX
  "$(command -v nginx || echo /usr/sbin/nginx)" -c "$dir/upstream.conf" -g "daemon off;" &
  PIDS+=($!)
}
