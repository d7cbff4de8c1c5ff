#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, integration tests (including the
# conformance cases and the headless-Chromium walkthrough) on SQLite, then the integration
# tests again on a throwaway PostgreSQL server that the tests start themselves.
# The README's test command. Extra arguments go to both `cargo test` runs (a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets "$@"
echo "== integration tests on PostgreSQL =="
GATEHOUSE_TEST_BACKEND=postgres cargo test --test it "$@"
