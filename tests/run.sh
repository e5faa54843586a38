#!/usr/bin/env bash
# meshscope's test suite: what README tells a new user to run, and what CI runs.
#   1. cargo fmt / clippy (warnings are errors)
#   2. every Rust test in the workspace (unit tests and the end-to-end suite in tests/e2e)
#   3. interoperability with the Python OpenTelemetry SDK (tests/python, in a local venv)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked

echo "== python interop (tests/python)"
cargo build --locked -p meshscope
venv=tests/python/.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt
MESHSCOPE_BIN="$PWD/target/debug/meshscope" "$venv/bin/python" -m pytest tests/python -q -p no:cacheprovider
