#!/usr/bin/env bash
# The test command (README): installs everything the tests need on a fresh machine, then runs
# them. Real parts only: sshd, dockerd and JupyterLab are started by the test fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-system.sh
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
exec .venv/bin/python -m pytest -ra "$@"
