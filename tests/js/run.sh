#!/usr/bin/env bash
# The OpenTelemetry JavaScript SDK's trace exporters against meshscope (interop.test.mjs).
#
#   MESHSCOPE_BIN=target/debug/meshscope tests/js/run.sh
#
# Installs the pinned SDK packages (npm ci) when node_modules is missing, then runs the tests
# with node's test runner; each test file starts its own server.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${MESHSCOPE_BIN:?set MESHSCOPE_BIN to the path of a built meshscope binary}"
MESHSCOPE_BIN="$(cd "$(dirname "$MESHSCOPE_BIN")" && pwd)/$(basename "$MESHSCOPE_BIN")"
export MESHSCOPE_BIN
if [[ ! -d "$here/node_modules/@opentelemetry/sdk-trace-base" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi
cd "$here"
node --test --test-reporter=spec
