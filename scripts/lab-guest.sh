#!/usr/bin/env bash
# A small Linux guest for the lab's slow-migration cases (abort, stall, faults): a Debian
# cloud kernel and busybox-static, fetched as .debs (not installed) and packed into a
# ~1 MB initramfs whose /init prints "GUEST-UP", then "tick N" every second on ttyS0, can
# fill RAM with random data (kernel command line FILL=<MiB>) and keep rewriting it
# (DIRTY=1), and powers off on the ACPI button. Output: $ECP_LAB_GUEST/{vmlinuz,initrd.gz}
# (default .ci-state/guest); kept between runs.
set -euo pipefail
G=${ECP_LAB_GUEST:-$(cd "$(dirname "$0")/.." && pwd)/.ci-state/guest}
mkdir -p "$G" && cd "$G"
[[ -f vmlinuz && -f initrd.gz ]] && { echo "$G"; exit 0; }
command -v cpio >/dev/null || { echo "lab-guest.sh: cpio is missing (scripts/setup.sh installs it)" >&2; exit 1; }
kernel=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
chmod 777 "$G"  # apt's sandbox user writes the downloads here
apt-get download "$kernel" busybox-static >/dev/null
rm -rf x bb && mkdir -p x
dpkg-deb --fsys-tarfile "$kernel"_*.deb | tar -x -C x --wildcards './boot/vmlinuz-*' \
  './lib/modules/*/kernel/drivers/acpi/button.ko' './lib/modules/*/kernel/drivers/input/evdev.ko'
dpkg-deb -x busybox-static_*.deb bb
rm -f ./*.deb
R=$(mktemp -d)
mkdir -p "$R"/{bin,proc,sys,dev,mnt,lib/modules}
cp bb/bin/busybox "$R/bin/busybox"
cp x/lib/modules/*/kernel/drivers/acpi/button.ko x/lib/modules/*/kernel/drivers/input/evdev.ko "$R/lib/modules/"
cat > "$R/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
insmod /lib/modules/evdev.ko; insmod /lib/modules/button.ko
echo "GUEST-UP FILL=${FILL:-0} DIRTY=${DIRTY:-0}"
for ev in /sys/class/input/event*; do
  if grep -q "Power Button" $ev/device/name 2>/dev/null; then
    ( dd if=/dev/${ev#/sys/class/} bs=24 count=1 of=/dev/null 2>/dev/null && poweroff -f ) &
  fi
done
if [ "${FILL:-0}" -gt 0 ]; then
  mount -t tmpfs -o size=${FILL}m tmpfs /mnt
  dd if=/dev/urandom of=/mnt/fill bs=1M count=$((FILL - 1)) 2>/dev/null
  echo "GUEST-FILLED ${FILL}MiB"
  if [ "${DIRTY:-0}" = 1 ]; then
    ( while true; do dd if=/dev/urandom of=/mnt/fill bs=1M count=16 conv=notrunc 2>/dev/null; done ) &
  fi
fi
i=0
while true; do echo "tick $i"; i=$((i+1)); sleep 1; done
INIT
chmod +x "$R/init"
(cd "$R" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > initrd.gz
cp x/boot/vmlinuz-* vmlinuz
rm -rf "$R" x bb
echo "$G"
