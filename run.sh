#!/usr/bin/env bash
# Set up (first time: Debian packages, .venv, the package) and open ECP Desktop.
# Arguments go to the app, e.g. ./run.sh --connect qemu+ssh://root@host/system
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh app
if [[ -z ${DISPLAY:-} && -z ${WAYLAND_DISPLAY:-} && -z ${QT_QPA_PLATFORM:-} && $# -eq 0 ]]; then
  echo "run.sh: no display found (DISPLAY/WAYLAND_DISPLAY unset); run it in a desktop session," >&2
  echo "        or under Xvfb: xvfb-run -a ./run.sh" >&2
  exit 1
fi
exec .venv/bin/ecp-desktop "$@"
