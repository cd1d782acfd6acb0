#!/usr/bin/env bash
# The main job on the built-in local demo config: no servers needed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install -q -e .
.venv/bin/orch --demo ls
echo '{"level": "error", "msg": "disk full"}' | .venv/bin/orch --demo run local log-processor
.venv/bin/orch --demo run local health-check
