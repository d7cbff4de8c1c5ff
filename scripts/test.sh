#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, integration tests (including the
# conformance cases and the headless-Chromium walkthrough). The README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets "$@"
