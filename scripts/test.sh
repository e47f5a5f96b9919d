#!/usr/bin/env bash
# Sets up everything (Python venv, npm MicroPython VM) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-vm
exec .venv/bin/python -m pytest "$@"
