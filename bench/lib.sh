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
