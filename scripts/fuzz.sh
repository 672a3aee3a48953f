#!/usr/bin/env bash
# Schema-fuzz a running tuneforge for a while (default 10 minutes) with a valid operator key:
# starts `tuneforge serve` on the embedded default in a scratch data dir, then runs schemathesis
# against /openapi.json at a gentle rate. Fails on any server error or undocumented status.
#   scripts/fuzz.sh [SECONDS] [RATE]      e.g. scripts/fuzz.sh 600 10/s
set -euo pipefail
seconds="${1:-600}"
rate="${2:-10/s}"
python="${PYTHON:-python}"
data="$(mktemp -d)"
port="${FUZZ_PORT:-8765}"
export TUNEFORGE_DATA_DIR="$data" TUNEFORGE_PORT="$port" TUNEFORGE_HOST=127.0.0.1
cleanup() { [ -n "${server:-}" ] && kill -TERM "$server" 2>/dev/null && wait "$server" || true; }
trap cleanup EXIT
"$python" -m tuneforge_cli.main migrate >/dev/null
"$python" -m tuneforge_cli.main tenants create fuzz >/dev/null
key="$("$python" -m tuneforge_cli.main keys create --tenant fuzz --operator 2>/dev/null)"
"$python" -m tuneforge_cli.main serve >"$data/serve.log" 2>&1 &
server=$!
for _ in $(seq 300); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.5
done
"$python" -m schemathesis.cli run "http://127.0.0.1:$port/openapi.json" \
  --header "Authorization: Bearer $key" \
  --checks not_a_server_error,status_code_conformance \
  --max-time "$seconds" --rate-limit "$rate" --workers 1 --wait-for-schema 60 \
  --report junit --report-dir "${FUZZ_REPORT_DIR:-$data/report}"
