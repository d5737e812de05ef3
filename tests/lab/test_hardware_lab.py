"""Edit Hardware on real QEMU (TCG): a disk plugged into the running guest appears in the
guest itself (its PCI bus, read by the guest every second on its serial console), and a
change that QEMU can only take at the next boot is said so."""
from __future__ import annotations

import gzip
import re
import uuid as uuidlib
from pathlib import Path

import libvirt
import pytest

from ecp_desktop.services.hardware.changes import ChangeSet, NewDisk
from ecp_desktop.services.hardware.hotplug import NEXT_BOOT, NOW
from ecp_desktop.services.hardware.service import HardwareService

from .test_console_lab import newc_archive

pytestmark = pytest.mark.lab
# The guest reports what it sees: the PCI device IDs (0x1001: a virtio block device) and its disks.
REPORT_INIT = b"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
echo "GUEST-UP"
while true; do
  echo "pci: $(cat /sys/bus/pci/devices/*/device | sort | tr '\\n' ' ')| block: $(ls /sys/block | tr '\\n' ' ')|"
  sleep 1
done
"""


def guest_xml(guest_dir: str, initrd: Path, console: Path) -> str:
    return f"""<domain type='qemu'>
  <name>hotplug1</name>
  <uuid>{uuidlib.uuid5(uuidlib.NAMESPACE_DNS, "hotplug1.lab")}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{guest_dir}/vmlinuz</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 loglevel=4</cmdline>
  </os>
  <features><acpi/><tcg><tb-cache unit='MiB'>16</tb-cache></tcg></features>
  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='{console}' append='on'/><target port='0'/></serial>
    <console type='file'><source path='{console}' append='on'/><target type='serial' port='0'/></console>
    <memballoon model='none'/>
  </devices>
</domain>"""


def last_report(console: Path) -> tuple[list[str], list[str]]:
    lines = re.findall(r"pci: (.*?)\| block: (.*?)\|", console.read_text(errors="replace"))
    if not lines:
        return [], []
    pci, block = lines[-1]
    return pci.split(), block.split()


def test_a_disk_plugged_into_a_running_guest_is_seen_by_it(qtbot, run, services, lab_daemon, guest_dir, tmp_path):
    initrd, console = tmp_path / "initrd-report.gz", tmp_path / "console.log"
    initrd.write_bytes((Path(guest_dir) / "initrd.gz").read_bytes()
                       + gzip.compress(newc_archive({"init": REPORT_INIT})))
    pool_dir = tmp_path / "pool"
    pool_dir.mkdir()
    uri = lab_daemon.uri("qemu")
    admin = libvirt.open(uri)
    try:
        pool = admin.storagePoolDefineXML(f"<pool type='dir'><name>hot</name><target><path>{pool_dir}</path>"
                                          "</target></pool>")
        pool.create()
        admin.defineXML(guest_xml(guest_dir, initrd, console)).create()
        qtbot.waitUntil(lambda: bool(last_report(console)[0]), timeout=90_000)
        before = last_report(console)[0]
        host = services.inventory.add_host(uri)
        assert run(services.inventory.connect_host(host)), host.reason
        qtbot.waitUntil(lambda: [m.state for m in services.inventory.machines_of(uri)] == ["running"], timeout=10_000)
        (machine,) = services.inventory.machines_of(uri)
        hardware = HardwareService(services.inventory, services.engine)
        planned = run(hardware.plan(machine, ChangeSet(new_disks=[NewDisk(0.0625, "hot", format="raw")],
                                                       max_memory_mib=192)), timeout=30)
        when = {e.change: e.when for e in planned.effects}
        assert NOW in when.values() and NEXT_BOOT in when.values(), when
        outcome = run(hardware.run(planned), timeout=60)
        assert outcome.applied, outcome.record.outcome
        assert [e.when for e in outcome.waiting] == [NEXT_BOOT] and "next boot" in outcome.words()
        # the guest's own view: one more virtio block device on its PCI bus
        qtbot.waitUntil(lambda: last_report(console)[0].count("0x1001") == before.count("0x1001") + 1,
                        timeout=30_000)
        assert admin.lookupByName("hotplug1").XMLDesc(0).count("<disk ") == 1  # live
        assert "<memory unit='KiB'>196608</memory>" in admin.lookupByName("hotplug1").XMLDesc(
            libvirt.VIR_DOMAIN_XML_INACTIVE)
    finally:
        for dom in admin.listAllDomains():
            if dom.isActive():
                dom.destroy()
            dom.undefine()
        for pool in admin.listAllStoragePools():
            for volume in pool.listAllVolumes() if pool.isActive() else []:
                volume.delete()
            if pool.isActive():
                pool.destroy()
            pool.undefine()
        admin.close()
