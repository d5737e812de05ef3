#!/usr/bin/env bash
# Screenshot of the main window under a real X server (Xvfb), for the README.
set -euo pipefail
cd "$(dirname "$0")/.."
exec xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshot.py "${1:-docs/screenshot.png}"
