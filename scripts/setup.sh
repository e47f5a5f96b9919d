#!/usr/bin/env bash
# Sets up a fresh checkout: a .venv with threadbeat installed (editable, so the firmware/ files
# you import are the ones that go onto the board) plus test tools, and the npm MicroPython VM.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
if [ "${1:-}" = "--with-vm" ]; then
    bash scripts/typings.sh  # ESP32 API stubs for the type check (typings/, not committed)
    if command -v npm >/dev/null 2>&1; then
        if [ ! -d node_modules/@micropython/micropython-webassembly-pyscript ]; then
            npm ci --silent --no-audit --no-fund
        fi
    else
        echo "setup: npm not found; the MicroPython VM tests need Node.js 18+ and npm" >&2
        exit 1
    fi
fi
