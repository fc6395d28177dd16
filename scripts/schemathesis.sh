#!/usr/bin/env bash
# Fuzzes the running API from its own OpenAPI document with schemathesis (PyPI): starts
# `refvid serve` on a fresh data dir and a free loopback port, then sends generated requests to
# every documented operation and checks that nothing answers 5xx and that every answer's
# status, content type and body match the document.
#
#   scripts/schemathesis.sh [MAX_EXAMPLES]      (default 30 per operation)
#
# One check is left out: `positive_data_acceptance` (ST202, "schema-valid request rejected").
# The validator has rules a JSON Schema does not carry (exactly one of `subjects` and `images`,
# every `@name` naming a subject, images that must decode as PNG/JPEG/WebP of at least 128×128,
# a non-empty task_id), so schema-valid bodies are rightly refused with a 400 naming the rule.
# Every other check runs: no 5xx, documented statuses, content types and response schemas.
#
# Installs schemathesis into .venv-schemathesis (git-ignored) on first use. Exits non-zero on
# any failure. Not part of the test command: it needs PyPI and takes minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-30}"
venv=.venv-schemathesis
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check schemathesis
fi
cargo build -q --release -p refvid
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
key=$(target/release/refvid keys create --data-dir "$data" --name schemathesis | tail -n 1)
target/release/refvid serve --data-dir "$data" --listen "127.0.0.1:$port" \
  --rate-limit-per-minute 1000000 --rate-limit-burst 100000 >"$data/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done
"$venv/bin/st" run "http://127.0.0.1:$port/openapi.json" \
  --url "http://127.0.0.1:$port" \
  --header "Authorization: Bearer $key" \
  --checks all \
  --exclude-checks positive_data_acceptance \
  --max-examples "$examples" \
  --request-timeout 30 \
  --exclude-path-regex '^/files/' \
  --seed 1
