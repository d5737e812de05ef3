"""The rules for a machine's devices, in one place: disk buses and their target names, network
card models, MAC addresses and the names of the volumes made for a machine's disks."""
from __future__ import annotations

import random
import re
import string

from ..core.names import check_file_name, file_name_part

DISK_BUSES = ("virtio", "sata", "scsi", "ide", "usb")
NEW_MACHINE_DISK_BUSES = ("virtio", "sata")  # what New Machine offers: fast, or what every guest knows
HOTPLUG_BUSES = frozenset({"virtio", "scsi", "usb"})  # a disk on these can be plugged into a running machine
CDROM_BUS = "sata"  # a CD-ROM is never virtio (no such device)
DISK_CACHES = ("default", "none", "writethrough", "writeback", "directsync", "unsafe")
DISK_FORMATS = ("qcow2", "raw")
NIC_MODELS = ("virtio", "e1000e", "e1000", "rtl8139")
NIC_KINDS = ("network", "bridge")
TARGET_PREFIX = {"virtio": "vd", "sata": "sd", "scsi": "sd", "usb": "sd", "ide": "hd"}
MAC_PREFIX = "52:54:00"  # QEMU's locally administered range, what libvirt itself gives
MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}\Z")  # (\Z: "$" would take a trailing newline)
_LETTERS = [*string.ascii_lowercase, *(a + b for a in string.ascii_lowercase for b in string.ascii_lowercase)]


def device_bus(bus: str, device: str) -> str:
    """The bus a disk goes on: a CD-ROM asked for on virtio goes on SATA."""
    return CDROM_BUS if device == "cdrom" and bus == "virtio" else bus


def target_prefix(bus: str) -> str:
    return TARGET_PREFIX.get(bus, "vd")


def free_target(bus: str, taken: set[str]) -> str:
    """The first free target name for ``bus`` (vda ... vdz, vdaa ...), added to ``taken``."""
    prefix = target_prefix(bus)
    for letters in _LETTERS:
        if prefix + letters not in taken:
            taken.add(prefix + letters)
            return prefix + letters
    raise ValueError(f"no free target name for bus {bus}")


def targets(buses: list[str]) -> list[str]:
    """The target names of a new machine's disks on these buses, in order."""
    taken: set[str] = set()
    return [free_target(bus, taken) for bus in buses]


def new_mac(taken: set[str]) -> str:
    """A random MAC address in QEMU's range that is not in ``taken`` (lower case), added to it."""
    while True:
        mac = MAC_PREFIX + ":" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))
        if mac not in taken:
            taken.add(mac)
            return mac


def new_macs(count: int, taken: set[str]) -> list[str]:
    return [new_mac(taken) for _ in range(count)]


def volume_suffix(volume: str) -> str:
    """``.qcow2`` of ``web-vda.qcow2``: the extension a copy of a volume keeps ("" when none)."""
    found = re.search(r"\.[A-Za-z0-9]{2,6}$", volume)
    return found.group(0) if found else ""


def format_suffix(fmt: str) -> str:
    return ".qcow2" if fmt == "qcow2" else ".img"


def volume_name(machine: str, part: str, suffix: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A machine's volume: ``MACHINE-PART.SUFFIX`` (``web-vda.qcow2``, ``web-seed.iso``), made a
    safe file name from names anyone could choose, numbered (``web-vda-2.qcow2``) past ``taken``.
    Raises BadName when no safe name comes out."""
    base = f"{file_name_part(machine)}-{file_name_part(part)}"
    name, number = base + suffix, 1
    while name in taken:
        number += 1
        name = f"{base}-{number}{suffix}"
    return check_file_name(name)
