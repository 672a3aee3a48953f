#!/usr/bin/env bash
# Creates .venv and installs tuneforge with its local-training and dev extras, at the versions
# in constraints.txt (the ones the tests passed on; refresh on purpose with scripts/lock.sh).
# torch is pinned and installed first: any looser spec would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "tuneforge needs Python >= 3.11"'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/pip install -q -c constraints.txt torch==2.13.0
.venv/bin/pip install -q -c constraints.txt -e '.[local,dev]' --config-settings editable_mode=compat
