#!/usr/bin/env bash
# Refreshes constraints.txt on purpose: a throwaway venv resolves the newest versions that
# pyproject.toml allows, and their exact versions become the constraints every install uses.
# Run the whole suite (make test) before committing the new file.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q --upgrade pip
"$tmp/venv/bin/pip" install -q torch==2.13.0
"$tmp/venv/bin/pip" install -q '.[local,dev]'
{
  echo "# Exact versions of every dependency, used by scripts/setup.sh (pip -c)."
  echo "# Refreshed on purpose with scripts/lock.sh, then checked with make test."
  # --all keeps setuptools, which torch requires at run time (plain freeze leaves it out)
  "$tmp/venv/bin/pip" freeze --all --exclude-editable | grep -v -e '^tuneforge' -e '^pip==' \
    | sed 's/^torch==2.13.0+cpu$/torch==2.13.0/'
} > constraints.txt
