#!/usr/bin/env bash
# meshscope's test suite: what README tells a new user to run, and what CI runs.
#   1. cargo fmt --check
#   2. every Rust test in the workspace (unit tests and the end-to-end suite in tests/e2e),
#      compiled through clippy-driver with warnings as errors: one build both lints and tests
#      (a separate `cargo clippy` would type-check every dependency a second time)
#   3. interoperability with the Python OpenTelemetry SDK (tests/python, in a local venv; the
#      Zipkin protobuf exporter in a second one)
#   4. interoperability with the JavaScript OpenTelemetry SDK (tests/js, npm)
#   5. the web UI in headless Chromium (tests/ui)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo test (linted by clippy, warnings are errors)"
clippy_driver="$(rustc --print sysroot)/bin/clippy-driver"
if [ -x "$clippy_driver" ]; then
  export RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
  export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
else
  echo "clippy is not installed (rustup component add clippy): testing without lints" >&2
fi
cargo test --workspace --locked
# `cargo test` built the server binary the remaining suites drive
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/meshscope"

echo "== python interop (tests/python)"
venv=tests/python/.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt
MESHSCOPE_BIN="$bin" "$venv/bin/python" -m pytest tests/python -q -p no:cacheprovider
# the Zipkin protobuf exporter pins protobuf 3, which the OTLP exporters refuse: its own venv
zipkin_venv=tests/python/.venv-zipkin-proto
if [ ! -x "$zipkin_venv/bin/python" ]; then
  python3 -m venv "$zipkin_venv"
fi
"$zipkin_venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements-zipkin-proto.txt
MESHSCOPE_BIN="$bin" "$zipkin_venv/bin/python" -m pytest tests/python/test_zipkin_proto.py -q -p no:cacheprovider

echo "== JavaScript SDK interop (tests/js)"
MESHSCOPE_BIN="$bin" bash tests/js/run.sh

echo "== web UI (tests/ui, headless Chromium)"
MESHSCOPE_BIN="$bin" bash tests/ui/run.sh

echo "== benchmark harness, a small run (benches/src/main.rs against the debug build)"
# --workspace --tests: the features of `cargo test` above, so that no dependency is built twice
# (building only the three packages drops dev-dependency features and rebuilt half the tree)
cargo build --locked --workspace --bins --tests
debug_dir="${CARGO_TARGET_DIR:-$PWD/target}/debug"
harness_out="$(mktemp -d)"
"$debug_dir/meshscope-bench" --bin-dir "$debug_dir" --spans 6000 --runs 1 --batch-spans 500 \
  --concurrency 4 --out "$harness_out" > /dev/null
python3 tests/harness_report_check.py "$harness_out" 6000
rm -rf "$harness_out"
