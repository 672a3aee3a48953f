#!/usr/bin/env bash
# The whole check: lint, strict types, then the test suite twice — on PostgreSQL + Redis and
# on the embedded default (SQLite + the SQLite broker). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
scripts/ensure-services.sh
scripts/ensure-browser.sh
scripts/ensure-wordnet.sh

echo "== ruff"
$BIN/ruff check .
$BIN/ruff format --check .
echo "== mypy --strict"
$BIN/mypy .

mkdir -p test-output
status=0
for backend in postgres embedded; do
  echo "== pytest on the $backend backend"
  TUNEFORGE_TEST_BACKEND=$backend $BIN/python -m pytest -p no:cacheprovider \
    --junitxml="test-output/junit-$backend.xml" "$@" || status=$?
done
exit $status
