#!/usr/bin/env bash
# Installs the pinned MicroPython ESP32 type stubs into typings/ (gitignored) for tests/test_typecheck.py.
# They are bare .pyi files that mypy ignores in site-packages, hence pip --target a folder mypy.ini names.
set -euo pipefail
cd "$(dirname "$0")/.."
ESP32_STUBS=1.29.0.post1   # micropython-esp32-stubs: the ESP32 port of MicroPython 1.29
STDLIB_STUBS=1.29.0.post2  # micropython-stdlib-stubs: what ESP32_STUBS requires (~=1.29.0)
if [ -d "typings/micropython_esp32_stubs-$ESP32_STUBS.dist-info" ] &&
   [ -d "typings/micropython_stdlib_stubs-$STDLIB_STUBS.dist-info" ]; then
    exit 0  # already there: nothing to do
fi
PY=${PYTHON:-}
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/threadbeat-typings.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if ! "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --target "$tmp/typings" \
        "micropython-esp32-stubs==$ESP32_STUBS" "micropython-stdlib-stubs==$STDLIB_STUBS"; then
    echo "typings: could not install micropython-esp32-stubs==$ESP32_STUBS and micropython-stdlib-stubs==$STDLIB_STUBS from PyPI" >&2
    exit 1
fi
rm -rf typings
mv "$tmp/typings" typings
echo "typings: micropython-esp32-stubs $ESP32_STUBS + micropython-stdlib-stubs $STDLIB_STUBS in typings/"
