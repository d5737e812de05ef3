#!/usr/bin/env bash
# The app as a user sees it on a desktop: Xvfb with icewm (title bar with the app's icon,
# a taskbar with a system tray), the window on the demo host, and the tray icon.
#   scripts/screenshot_desktop.sh [OUT.png]
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-docs/desktop.png}")
work=$(mktemp -d /tmp/ecp-desktop-shot.XXXXXX)
trap 'rm -rf "$work"' EXIT
export HOME=$work XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data XDG_STATE_HOME=$work/state
db="sqlite:///$work/inventory.sqlite3"
.venv/bin/python -m ecp_desktop --database "$db" --connect test:///default setup >/dev/null
xvfb-run -a -s "-screen 0 1280x800x24" bash -c '
  set -euo pipefail
  icewm >/dev/null 2>&1 & wm=$!
  sleep 2
  .venv/bin/python -m ecp_desktop --database "$0" >/dev/null 2>&1 & app=$!
  sleep 7
  import -window root "$1"
  kill -TERM $app; wait $app || true
  kill $wm 2>/dev/null || true
' "$db" "$out"
test -s "$out"
echo "wrote $out"
