#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests (real broker, real
# clients), then the tutorials' Python clients against the real broker, then
# the client compatibility matrix (server/tests/clients/run.py), which
# rewrites docs/compatibility.md and fails if it changed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# io_uring registers buffers in locked memory; raise the limit where allowed.
ulimit -l unlimited 2>/dev/null || true
cargo test --workspace
cargo build -q -p ringlog --bin ringlog --example rdkafka_client
RINGLOG_BIN="$PWD/target/debug/ringlog" target/python-venv/bin/pytest -q server/tests/python
RINGLOG_BIN="$PWD/target/debug/ringlog" target/python-venv/bin/python server/tests/clients/run.py
