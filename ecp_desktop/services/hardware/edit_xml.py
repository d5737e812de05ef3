"""A change set applied to the machine's inactive definition, as a tree (xml.etree: every
value is escaped), and the unified diff a user reviews before applying.

The definition was read through ``hosts.domain_xml`` (``facts.read_facts``); this module
edits the elements in place and keeps everything it does not understand as it was.
``fingerprint`` is what an undo compares: the parts an edit can touch, read the same way
from what we defined and from what the host holds now (libvirt adds addresses and
defaults, which do not count).
"""
from __future__ import annotations

import difflib
import random
import string
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ..hosts.domain_xml import parse_domain
from ..hosts.names import check_file_name, file_name_part
from .changes import ChangeSet, ExistingDisk, NewDisk
from .facts import GIB, HardwareFacts

PREFIX = {"virtio": "vd", "sata": "sd", "scsi": "sd", "usb": "sd", "ide": "hd"}
FILE_POOLS = {"dir", "fs", "netfs"}  # pools whose volumes are files under the pool's path


@dataclass
class NewVolume:
    pool: str
    name: str
    capacity: int  # bytes
    format: str


@dataclass
class AddedDevice:
    key: str        # a disk's target or an interface's MAC
    xml: str        # the device element, as attached live
    volume: NewVolume | None = None


@dataclass
class EditedDomain:
    old_xml: str
    xml: str                                   # the new inactive definition
    added_disks: list[AddedDevice] = field(default_factory=list)
    added_nics: list[AddedDevice] = field(default_factory=list)
    removed: dict[str, str] = field(default_factory=dict)        # target or MAC -> the device as it was
    updated_nics: dict[str, tuple[str, str]] = field(default_factory=dict)  # MAC -> (before, after)

    @property
    def diff(self) -> str:
        return xml_diff(self.old_xml, self.xml)


def pretty(xml: str) -> str:
    root = ET.fromstring(xml)
    for element in root.iter():
        if element.text is not None and not element.text.strip() and len(element):
            element.text = None
        element.tail = None
    ET.indent(root, "  ")
    return ET.tostring(root, encoding="unicode")


def xml_diff(old: str, new: str) -> str:
    """The unified diff of two definitions, both laid out the same way ("" when equal)."""
    return "".join(difflib.unified_diff(pretty(old).splitlines(True), pretty(new).splitlines(True),
                                        "current definition", "after the edit", n=2))


def _child(parent: ET.Element, tag: str) -> ET.Element:
    found = parent.find(tag)
    return found if found is not None else ET.SubElement(parent, tag)


def _text(xml: str) -> str:
    return ET.tostring(ET.fromstring(xml), encoding="unicode")


def new_mac(taken: set[str]) -> str:
    while True:
        mac = "52:54:00:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))
        if mac not in taken:
            taken.add(mac)
            return mac


def free_target(bus: str, taken: set[str]) -> str:
    prefix = PREFIX.get(bus, "vd")
    for letters in [*string.ascii_lowercase, *(a + b for a in string.ascii_lowercase for b in string.ascii_lowercase)]:
        if prefix + letters not in taken:
            taken.add(prefix + letters)
            return prefix + letters
    raise ValueError(f"no free target name for bus {bus}")


def _volume_name(machine: str, target: str, fmt: str, taken: set[str]) -> str:
    base = f"{file_name_part(machine)}-{target}"
    suffix = ".qcow2" if fmt == "qcow2" else ".img"
    name, n = base + suffix, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}{suffix}"
    taken.add(name)
    return check_file_name(name)


def _disk_element(disk: NewDisk | ExistingDisk, target: str, facts: HardwareFacts, volume: NewVolume | None,
                  path: str) -> ET.Element:
    qemu = facts.definition.domain_type in ("kvm", "qemu")
    device = disk.device if isinstance(disk, ExistingDisk) else "disk"
    if volume is not None and not path:
        kind, source = "volume", {"pool": volume.pool, "volume": volume.name}
    elif isinstance(disk, ExistingDisk) and not disk.is_path:
        pool, _, name = disk.source.partition("/")
        kind, source = "volume", {"pool": pool, "volume": name}
    else:
        kind = "block" if path.startswith("/dev/") else "file"
        source = {"dev" if kind == "block" else "file": path}
    element = ET.Element("disk", {"type": kind, "device": device})
    driver = {"name": "qemu"} if qemu else {}
    fmt = volume.format if volume is not None else ("raw" if device == "cdrom" else "")
    if fmt:
        driver["type"] = fmt
    if driver:
        ET.SubElement(element, "driver", driver)
    ET.SubElement(element, "source", source)
    ET.SubElement(element, "target", {"dev": target, "bus": "sata" if device == "cdrom" and disk.bus == "virtio"
                                      else disk.bus})
    if device == "cdrom":
        ET.SubElement(element, "readonly")
    return element


def _add_disks(root, devices, changes: ChangeSet, facts: HardwareFacts, edited: EditedDomain) -> None:
    targets = {t.get("dev") for t in root.findall("devices/disk/target")}
    volumes = {name: set(pool.volumes) for name, pool in facts.pools.items()}
    for disk in changes.new_disks:
        bus = "sata" if isinstance(disk, ExistingDisk) and disk.device == "cdrom" and disk.bus == "virtio" \
            else disk.bus
        target = free_target(bus, targets)
        volume, path = None, disk.source if isinstance(disk, ExistingDisk) and disk.is_path else ""
        if isinstance(disk, NewDisk):
            pool = facts.pools[disk.pool]
            volume = NewVolume(disk.pool, _volume_name(facts.name, target, disk.format, volumes[disk.pool]),
                               int(disk.size_gib * GIB), disk.format)
            if pool.kind in FILE_POOLS and pool.path:
                path = f"{pool.path.rstrip('/')}/{volume.name}"
        element = _disk_element(disk, target, facts, volume, path)
        devices.append(element)
        edited.added_disks.append(AddedDevice(target, ET.tostring(element, encoding="unicode"), volume))


def _edit_disks(root, devices, changes: ChangeSet, edited: EditedDomain) -> None:
    by_target = {d.find("target").get("dev"): d for d in root.findall("devices/disk") if d.find("target") is not None}
    targets = set(by_target)
    for removal in changes.removed_disks:
        element = by_target[removal.target]
        edited.removed[removal.target] = ET.tostring(element, encoding="unicode")
        devices.remove(element)
    for change in changes.disk_changes:
        element = by_target[change.target]
        if change.bus and change.bus != element.find("target").get("bus"):
            target = element.find("target")
            target.set("bus", change.bus)
            if PREFIX.get(change.bus) != target.get("dev", "")[:2]:
                targets.discard(change.target)
                target.set("dev", free_target(change.bus, targets))
            for address in element.findall("address"):
                element.remove(address)  # the old bus's address: libvirt gives a new one
        if change.cache:
            driver = _child(element, "driver")
            if change.cache == "default":
                driver.attrib.pop("cache", None)
            else:
                driver.set("cache", change.cache)


def _nics(root, devices, changes: ChangeSet, edited: EditedDomain) -> None:
    by_mac = {n.find("mac").get("address", "").lower(): n for n in root.findall("devices/interface")
              if n.find("mac") is not None}
    for removal in changes.removed_nics:
        element = by_mac[removal.mac.lower()]
        edited.removed[removal.mac.lower()] = ET.tostring(element, encoding="unicode")
        devices.remove(element)
    for change in changes.nic_changes:
        element = by_mac[change.mac.lower()]
        before = ET.tostring(element, encoding="unicode")
        if change.source:
            kind = change.kind or "network"
            element.set("type", kind)
            for source in element.findall("source"):
                element.remove(source)
            element.insert(1, ET.Element("source", {kind: change.source}))
        if change.model:
            _child(element, "model").set("type", change.model)
        if change.link:
            _child(element, "link").set("state", change.link)
        edited.updated_nics[change.mac.lower()] = (before, ET.tostring(element, encoding="unicode"))
    taken = set(by_mac)
    for new in changes.new_nics:
        mac = new_mac(taken)
        element = ET.SubElement(devices, "interface", {"type": new.kind})
        ET.SubElement(element, "mac", {"address": mac})
        ET.SubElement(element, "source", {new.kind: new.source})
        ET.SubElement(element, "model", {"type": new.model})
        edited.added_nics.append(AddedDevice(mac, ET.tostring(element, encoding="unicode")))


def _boot_order(root, order: list[str]) -> None:
    """Per-device <boot order>, and no <os><boot> (libvirt refuses both at once)."""
    os_element = root.find("os")
    for boot in (os_element.findall("boot") if os_element is not None else []):
        os_element.remove(boot)
    devices = [*root.findall("devices/disk"), *root.findall("devices/interface")]
    for device in devices:
        for boot in device.findall("boot"):
            device.remove(boot)
    for index, key in enumerate(order, 1):
        for device in devices:
            target, mac = device.find("target"), device.find("mac")
            if (target is not None and device.tag == "disk" and target.get("dev") == key) or \
                    (mac is not None and mac.get("address", "").lower() == key.lower()):
                ET.SubElement(device, "boot", {"order": str(index)})


def _cpu_memory(root, changes: ChangeSet, current_kib: int) -> None:
    vcpu = _child(root, "vcpu")
    if changes.max_vcpus is not None:
        current = vcpu.get("current") or (vcpu.text or "").strip()
        vcpu.text = str(changes.max_vcpus)
        if changes.vcpus is None and current:
            vcpu.set("current", str(min(int(current), changes.max_vcpus)))
    if changes.vcpus is not None:
        vcpu.set("current", str(changes.vcpus))
    if vcpu.get("current") == (vcpu.text or "").strip():
        vcpu.attrib.pop("current")
    if changes.max_memory_mib is not None:
        memory = _child(root, "memory")
        memory.text, memory.attrib = str(changes.max_memory_mib * 1024), {"unit": "KiB"}
    if changes.memory_mib is not None or changes.max_memory_mib is not None:
        kib = changes.memory_mib * 1024 if changes.memory_mib is not None else \
            min(current_kib or changes.max_memory_mib * 1024, changes.max_memory_mib * 1024)
        current = _child(root, "currentMemory")
        current.text, current.attrib = str(kib), {"unit": "KiB"}


def _texts(root, changes: ChangeSet) -> None:
    for tag in ("title", "description"):
        value = getattr(changes, tag)
        if value is None:
            continue
        for element in root.findall(tag):
            root.remove(element)
        if value:
            element = ET.Element(tag)
            element.text = value
            after = [i for i, child in enumerate(root) if child.tag in ("name", "uuid", "genid", "title")]
            root.insert(after[-1] + 1 if after else 0, element)  # where libvirt keeps it


def apply_changes(changes: ChangeSet, facts: HardwareFacts) -> EditedDomain:
    """The new inactive definition (checked first: ``changes.problems``)."""
    root = ET.fromstring(facts.xml)
    devices = _child(root, "devices")
    edited = EditedDomain(facts.xml, "")
    _cpu_memory(root, changes, facts.definition.current_memory_kib)
    _edit_disks(root, devices, changes, edited)
    _add_disks(root, devices, changes, facts, edited)
    _nics(root, devices, changes, edited)
    if changes.boot_order is not None:
        _boot_order(root, changes.boot_order)
    _texts(root, changes)
    edited.xml = ET.tostring(root, encoding="unicode")
    return edited


def fingerprint(xml: str) -> tuple:
    """What an edit may change, read from a definition; equal for what we defined and what
    the host keeps of it (libvirt adds addresses, aliases and defaults, not counted here)."""
    root, parsed = ET.fromstring(xml), parse_domain(xml)

    def attrs(element, *names):
        return tuple(element.get(n, "") if element is not None else "" for n in names)
    vcpu = root.find("vcpu")
    disks = tuple((attrs(d, "type", "device"), attrs(d.find("target"), "dev", "bus"),
                   attrs(d.find("source"), "file", "dev", "pool", "volume"), attrs(d.find("driver"), "type", "cache"),
                   attrs(d.find("boot"), "order")) for d in root.findall("devices/disk"))
    nics = tuple((n.get("type", ""), attrs(n.find("mac"), "address"),
                  attrs(n.find("source"), "network", "bridge"), attrs(n.find("model"), "type"),
                  attrs(n.find("link"), "state") if attrs(n.find("link"), "state") != ("up",) else ("",),
                  attrs(n.find("boot"), "order")) for n in root.findall("devices/interface"))
    return (((vcpu.text or "").strip(), vcpu.get("current", "")) if vcpu is not None else (),
            parsed.memory_kib, parsed.current_memory_kib,
            tuple(b.get("dev", "") for b in root.findall("os/boot")), disks, nics,
            root.findtext("title", ""), root.findtext("description", ""))



@dataclass
class DeviceSettings:
    """What the dialog shows beside ``DomainXml``: each disk's cache, each interface's link
    state, and the boot order (per-device, or the <os><boot> device types)."""
    caches: dict[str, str] = field(default_factory=dict)  # target -> cache ("" = the default)
    links: dict[str, str] = field(default_factory=dict)   # MAC (lower case) -> up or down
    boot_order: list[str] = field(default_factory=list)   # targets and MACs, first first
    boot_types: list[str] = field(default_factory=list)   # <os><boot dev=...> (hd, cdrom, network)


def device_settings(xml: str) -> DeviceSettings:
    root = ET.fromstring(xml)
    found = DeviceSettings(boot_types=[b.get("dev", "") for b in root.findall("os/boot")])
    ordered = []
    for disk in root.findall("devices/disk"):
        target = disk.find("target")
        if target is None:
            continue
        found.caches[target.get("dev", "")] = disk.find("driver").get("cache", "") \
            if disk.find("driver") is not None else ""
        if disk.find("boot") is not None:
            ordered.append((disk.find("boot").get("order", ""), target.get("dev", "")))
    for nic in root.findall("devices/interface"):
        mac = nic.find("mac").get("address", "").lower() if nic.find("mac") is not None else ""
        found.links[mac] = nic.find("link").get("state", "up") if nic.find("link") is not None else "up"
        if nic.find("boot") is not None:
            ordered.append((nic.find("boot").get("order", ""), mac))
    found.boot_order = [key for order, key in sorted(ordered, key=lambda p: int(p[0]) if p[0].isdigit() else 999)]
    return found
