#!/usr/bin/env bash
# End-to-end tests of the web UI in headless Chromium.
#
#   MESHSCOPE_BIN=target/release/meshscope tests/ui/run.sh
#
# Starts the server on free ports with a temporary data directory, installs playwright-core
# (npm ci) when node_modules is missing, runs every *.test.mjs here with node's test runner,
# prints the folder holding the screenshots, and stops the server.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${MESHSCOPE_BIN:?set MESHSCOPE_BIN to the path of a built meshscope binary}"
bin="$(cd "$(dirname "$MESHSCOPE_BIN")" && pwd)/$(basename "$MESHSCOPE_BIN")"

if [[ ! -x /usr/bin/chromium ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    apt-get install -y chromium >/dev/null || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
  else
    echo "run.sh: Debian's chromium is needed at /usr/bin/chromium (apt-get install chromium)" >&2
    exit 1
  fi
fi
if [[ ! -d "$here/node_modules/playwright-core" ]]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/meshscope-ui.XXXXXX")"
export SCREENSHOT_DIR="${SCREENSHOT_DIR:-$work/screenshots}"
mkdir -p "$SCREENSHOT_DIR"
log="$work/server.log"
"$bin" --otlp-grpc-addr 127.0.0.1:0 --otlp-http-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 \
  --zipkin-addr 127.0.0.1:0 --data-dir "$work/data" 2>"$log" &
server=$!
stop() {
  if kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server"
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$work/data"
}
trap stop EXIT

line=""
for _ in $(seq 1 600); do
  line="$(grep -m1 'meshscope listening' "$log" || true)"
  [[ -n "$line" ]] && break
  if ! kill -0 "$server" 2>/dev/null; then
    echo "run.sh: the server exited before listening:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ -z "$line" ]]; then
  echo "run.sh: no 'meshscope listening' line after 60 s:" >&2
  cat "$log" >&2
  exit 1
fi
addr() { grep -oE "(^| )$1=[^ ]+" <<<"$line" | head -1 | cut -d= -f2; }
export MESHSCOPE_HTTP="http://$(addr http)"
export MESHSCOPE_OTLP_HTTP="http://$(addr otlp_http)"
echo "server: query API $MESHSCOPE_HTTP, OTLP/HTTP $MESHSCOPE_OTLP_HTTP (log: $log)"

status=0
(cd "$here" && node --test --test-concurrency=1 --test-reporter=spec ${UI_TESTS:-./*.test.mjs}) || status=$?
echo "screenshots: $SCREENSHOT_DIR"
exit "$status"
