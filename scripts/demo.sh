#!/usr/bin/env bash
# Sets up the Python side and replays the bundled demo track through the default garment
# (ESP32 DevKitC jacket): writes out/events.json, features.csv, timeline.png and preview.gif.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/threadbeat replay "$@"
