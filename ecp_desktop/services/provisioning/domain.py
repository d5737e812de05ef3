"""The definition of a new machine, built as a tree with xml.etree (every name and path the
user or the host gave is an attribute or text the serializer escapes, never pasted text).

Firmware is asked for by kind (``<os firmware='efi'>``: libvirt picks the host's UEFI build
and makes the machine's variables), only where the host's domain capabilities offer it.
Every machine gets a serial console (``<serial type='pty'>`` and its ``<console>``), which
the Console tab and a lab test read, and graphics that listen on the host's loopback only.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from .host_offer import HostOffer
from .osinfo import OsEntry
from .spec import MachineSpec

LIBOSINFO_NS = "http://libosinfo.org/xmlns/libvirt/domain/1.0"


@dataclass(frozen=True)
class DiskPlan:
    """A disk or CD-ROM of the new machine: a file (``path``) or a pool's volume."""
    device: str               # disk or cdrom
    path: str = ""
    pool: str = ""
    volume: str = ""
    format: str = "raw"
    bus: str = "virtio"

    @property
    def source(self) -> str:
        return self.path or f"{self.pool}/{self.volume}"


def _targets(disks: list[DiskPlan]) -> list[str]:
    """vda, vdb... for virtio disks; sda, sdb... for SATA disks and CD-ROMs, in order."""
    used = {"vd": 0, "sd": 0}
    names = []
    for disk in disks:
        prefix = "vd" if disk.bus == "virtio" else "sd"
        names.append(prefix + "abcdefghijklmnopqrstuvwxyz"[used[prefix]])
        used[prefix] += 1
    return names


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def boot_order(spec: MachineSpec) -> list[str]:
    return {"iso": ["cdrom", "hd"], "pxe": ["network", "hd"]}.get(spec.source, ["hd"])


def domain_xml(spec: MachineSpec, entry: OsEntry, offer: HostOffer, uuid: str, disks: list[DiskPlan]) -> str:
    """The ``<domain>`` to define. ``entry`` carries the spec's choices already (memory, vCPUs,
    firmware, disk bus, network model)."""
    root = ET.Element("domain", {"type": spec.virt_type or offer.domain_type})
    _sub(root, "name", spec.name)
    _sub(root, "uuid", uuid)
    if entry.id != "generic":
        ET.register_namespace("libosinfo", LIBOSINFO_NS)
        metadata = _sub(root, "metadata")
        info = ET.SubElement(metadata, f"{{{LIBOSINFO_NS}}}libosinfo")
        ET.SubElement(info, f"{{{LIBOSINFO_NS}}}os", {"id": entry.id})  # what virt-manager records too
    _sub(root, "memory", str(entry.memory_mib), unit="MiB")
    _sub(root, "currentMemory", str(entry.memory_mib), unit="MiB")
    _sub(root, "vcpu", str(entry.vcpus), placement="static")
    efi = entry.firmware == "efi" and offer.efi
    os_element = _sub(root, "os", **({"firmware": "efi"} if efi else {}))
    type_attrs = {"arch": offer.arch}
    if offer.machine:
        type_attrs["machine"] = offer.machine
    _sub(os_element, "type", "hvm", **type_attrs)
    if efi and offer.secure_boot:
        firmware = _sub(os_element, "firmware")
        _sub(firmware, "feature", enabled="yes" if spec.secure_boot else "no", name="secure-boot")
        _sub(firmware, "feature", enabled="yes" if spec.secure_boot else "no", name="enrolled-keys")
    for device in boot_order(spec):
        _sub(os_element, "boot", dev=device)
    if not offer.is_test:
        features = _sub(root, "features")
        _sub(features, "acpi")
        _sub(features, "apic")
        if efi and spec.secure_boot:
            _sub(features, "smm", state="on")  # secure boot's variables are guarded by SMM
        _sub(root, "cpu", mode="host-model")  # migratable between like hosts, unlike passthrough
        clock = _sub(root, "clock", offset="localtime" if entry.family == "winnt" else "utc")
        _sub(clock, "timer", name="rtc", tickpolicy="catchup")
    for event, action in (("on_poweroff", "destroy"), ("on_reboot", "restart"), ("on_crash", "destroy")):
        _sub(root, event, action)
    devices = _sub(root, "devices")
    for disk, target in zip(disks, _targets(disks), strict=True):
        kind = "file" if disk.path else "volume"
        element = _sub(devices, "disk", type=kind, device=disk.device)
        _sub(element, "driver", name="qemu", type=disk.format)
        if disk.path:
            _sub(element, "source", file=disk.path)
        else:
            _sub(element, "source", pool=disk.pool, volume=disk.volume)
        _sub(element, "target", dev=target, bus=disk.bus)
        if disk.device == "cdrom":
            _sub(element, "readonly")
    if spec.bridge or spec.network:
        nic = _sub(devices, "interface", type="bridge" if spec.bridge else "network")
        _sub(nic, "source", **({"bridge": spec.bridge} if spec.bridge else {"network": spec.network}))
        _sub(nic, "model", type=entry.nic_model)
    serial = _sub(devices, "serial", type="pty")
    _sub(serial, "target", port="0")
    console = _sub(devices, "console", type="pty")
    _sub(console, "target", type="serial", port="0")
    if spec.graphics != "none":
        graphics = _sub(devices, "graphics", type=spec.graphics, autoport="yes")
        _sub(graphics, "listen", type="address", address="127.0.0.1")
        if not offer.is_test:
            video = _sub(devices, "video")
            _sub(video, "model", type="virtio" if entry.family == "linux" else "vga")
    if not offer.is_test:
        _sub(devices, "rng", model="virtio").append(_backend())
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def _backend() -> ET.Element:
    backend = ET.Element("backend", {"model": "random"})
    backend.text = "/dev/urandom"
    return backend
