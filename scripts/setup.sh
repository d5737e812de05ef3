#!/usr/bin/env bash
# Installs what ECP Desktop needs, idempotently: Debian packages that are missing,
# a virtual environment in .venv at the repository root, and the package itself.
#   scripts/setup.sh app     what running the app needs
#   scripts/setup.sh test    that, plus what the test suite needs (Xvfb, PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-app}

# libvirt-dev/pkg-config/gcc build libvirt-python; the xcb/EGL/font libraries are what
# the PySide6 wheel's "xcb" platform plugin loads on a desktop.
APP_PACKAGES=(libvirt-dev libvirt-clients pkg-config gcc python3-venv python3-dev
  libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xkb1
  libxcb-shape0 libxcb-xinerama0 libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1 libdbus-1-3
  fonts-dejavu-core virt-viewer osinfo-db libosinfo-bin openssl qemu-utils)
# virt-viewer: Machine → Open Console (remote-viewer); osinfo-db, libosinfo-bin: New Machine's
# operating systems (recommended resources, ISO detection); openssl: hashing a typed guest password;
# qemu-utils: qemu-img, flattening a local image that reads other files before it is uploaded
# xvfb, icewm (title bars, a taskbar with a tray), imagemagick: screenshots; postgresql: the PostgreSQL tier;
# libvirt-daemon to tini: the lab tier (real libvirtd + QEMU, TCG); desktop-file-utils, appstream:
# the packaging checks; isolinux, syslinux-common: the lab's bootable installer ISO (New Machine)
TEST_PACKAGES=(xvfb xauth cpio postgresql libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils tini
               desktop-file-utils appstream icewm imagemagick isolinux syslinux-common)

missing=()
want=("${APP_PACKAGES[@]}")
[[ $mode == test ]] && want+=("${TEST_PACKAGES[@]}")
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=(); [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv"
  "$python" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
extra=""; [[ $mode == test ]] && extra="[test]"
# A stamp newer than pyproject.toml: that install is current. A test install holds everything
# the app needs, so its stamp counts for app too; nothing to do prints nothing.
stamps=(.venv/.ecp-installed-test); [[ $mode == app ]] && stamps+=(.venv/.ecp-installed-app)
current=""
for stamp in "${stamps[@]}"; do
  [[ -f $stamp && ! pyproject.toml -nt $stamp ]] && current=$stamp
done
if [[ -z $current ]]; then
  echo "setup: installing ecp-desktop$extra into .venv"
  # setuptools' "Editable installation." note (on every editable install of a package with a
  # mapped folder: resources/ is ecp_desktop/resources) is information, not a fault.
  PYTHONWARNINGS="ignore:Editable installation" .venv/bin/python -m pip install -q -e ".$extra"
  touch ".venv/.ecp-installed-$mode"
fi
