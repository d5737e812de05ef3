#!/usr/bin/env bash
# Packaging checks (CI): the desktop entry and AppStream metainfo validate; a wheel
# builds with `python -m build`, installs into a fresh virtual environment, runs, and
# installs (then removes) its desktop entry, metainfo and icons in a temporary HOME.
set -euo pipefail
cd "$(dirname "$0")/.."
app=io.github.ecp_desktop.EcpDesktop
desktop-file-validate "resources/applications/$app.desktop"
appstreamcli validate --no-net "resources/metainfo/$app.metainfo.xml"

work=$(mktemp -d /tmp/ecp-packaging.XXXXXX)
trap 'rm -rf "$work"' EXIT
.venv/bin/python -m build --wheel --outdir "$work/dist" . > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
base=$(.venv/bin/python -c 'import sys; print(sys._base_executable)')
"$base" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q "$work"/dist/ecp_desktop-*.whl
"$work/venv/bin/ecp-desktop" --version

home="$work/home"
mkdir -p "$home"
# PATH without the venv: the entry must name the command by its absolute path.
HOME=$home XDG_DATA_HOME='' PATH=/usr/bin:/bin "$work/venv/bin/ecp-desktop" install-desktop --user
share=$home/.local/share
desktop-file-validate "$share/applications/$app.desktop"
grep -qx "Exec=$work/venv/bin/ecp-desktop %U" "$share/applications/$app.desktop"
test -s "$share/metainfo/$app.metainfo.xml"
test -s "$share/icons/hicolor/scalable/apps/$app.svg"
for size in 16 32 48 64 128 256; do test -s "$share/icons/hicolor/${size}x${size}/apps/$app.png"; done
HOME=$home XDG_DATA_HOME='' "$work/venv/bin/ecp-desktop" install-desktop --user --uninstall > /dev/null
test ! -e "$share/applications/$app.desktop" && test ! -e "$share/icons/hicolor/scalable/apps/$app.svg"
echo "packaging: entry and metainfo valid; wheel built, installed, ran, installed and removed its desktop files"
