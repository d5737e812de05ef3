"""The lab's small Linux guest (scripts/lab-guest.sh): its domain XML, and waiting for it."""
from __future__ import annotations

import time
import uuid as uuidlib
from pathlib import Path


def linux_guest_xml(name: str, guest_dir: str, console: str, *, mem_mib: int = 128, fill_mib: int = 64,
                    dirty: bool = False) -> str:
    uuid = uuidlib.uuid5(uuidlib.NAMESPACE_DNS, f"{name}.lab")
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>{mem_mib}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{guest_dir}/vmlinuz</kernel>
    <initrd>{guest_dir}/initrd.gz</initrd>
    <cmdline>console=ttyS0 quiet FILL={fill_mib} DIRTY={int(dirty)}</cmdline>
  </os>
  <features><acpi/><tcg><tb-cache unit='MiB'>16</tb-cache></tcg></features>
  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='{console}' append='on'/><target port='0'/></serial>
    <console type='file'><source path='{console}' append='on'/><target type='serial' port='0'/></console>
    <memballoon model='none'/>
  </devices>
</domain>"""


def wait_for_console(console: str, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    path = Path(console)
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise AssertionError(f"the guest did not print {text!r} within {timeout:.0f} s")
