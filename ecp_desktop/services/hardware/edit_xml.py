"""A change set applied to the machine's inactive definition through the vocabulary's model
(every value is escaped by it), and the unified diff a user reviews before applying.

The definition was read through ``libvirt_xml`` (``facts.read_facts``); this module changes
its fields in place and keeps everything it does not understand as it was. ``fingerprint``
is what an undo compares: the parts an edit can touch, read the same way from what we
defined and from what the host holds now (libvirt adds addresses and defaults, which do not
count).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..libvirt_xml.devices import device_bus, format_suffix, free_target, new_mac, target_prefix, volume_name
from ..libvirt_xml.domain import Disk, Domain, Interface
from ..libvirt_xml.layout import xml_diff
from ..libvirt_xml.storage import FILE_POOLS
from .changes import ChangeSet, ExistingDisk, NewDisk
from .facts import GIB, HardwareFacts


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


def _disk(disk: NewDisk | ExistingDisk, target: str, facts: HardwareFacts, volume: NewVolume | None,
          path: str) -> Disk:
    device = disk.device if isinstance(disk, ExistingDisk) else "disk"
    element = Disk(device=device)
    if volume is not None and not path:
        element.set_source(pool=volume.pool, volume=volume.name)
    elif isinstance(disk, ExistingDisk) and not disk.is_path:
        pool, _, name = disk.source.partition("/")
        element.set_source(pool=pool, volume=name)
    else:
        element.set_source(path=path)
    if facts.definition.domain_type in ("kvm", "qemu"):
        element.driver_name = "qemu"
    element.format = volume.format if volume is not None else ("raw" if device == "cdrom" else "")
    element.target, element.bus = target, device_bus(disk.bus, device)
    element.readonly = device == "cdrom"
    return element


def _add_disks(domain: Domain, changes: ChangeSet, facts: HardwareFacts, edited: EditedDomain) -> None:
    targets = {d.target for d in domain.disks}
    volumes = {name: set(pool.volumes) for name, pool in facts.pools.items()}
    for disk in changes.new_disks:
        target = free_target(device_bus(disk.bus, disk.device if isinstance(disk, ExistingDisk) else "disk"),
                             targets)
        volume, path = None, disk.source if isinstance(disk, ExistingDisk) and disk.is_path else ""
        if isinstance(disk, NewDisk):
            pool = facts.pools[disk.pool]
            name = volume_name(facts.name, target, format_suffix(disk.format), volumes[disk.pool])
            volumes[disk.pool].add(name)
            volume = NewVolume(disk.pool, name, int(disk.size_gib * GIB), disk.format)
            if pool.kind in FILE_POOLS and pool.path:
                path = pool.path_of(volume.name)
        element = domain.disks.append(_disk(disk, target, facts, volume, path))
        edited.added_disks.append(AddedDevice(target, element.to_xml(), volume))


def _edit_disks(domain: Domain, changes: ChangeSet, edited: EditedDomain) -> None:
    targets = {d.target for d in domain.disks}
    for removal in changes.removed_disks:
        element = domain.disk(removal.target)
        edited.removed[removal.target] = element.to_xml()
        domain.disks.remove(element)
    for change in changes.disk_changes:
        element = domain.disk(change.target)
        if change.bus and change.bus != element.bus:
            element.bus = change.bus
            if target_prefix(change.bus) != element.target[:2]:
                targets.discard(change.target)
                element.target = free_target(change.bus, targets)
            for address in element.element.findall("address"):
                element.element.remove(address)  # the old bus's address: libvirt gives a new one
        if change.cache:
            element.cache = "" if change.cache == "default" else change.cache


def _nics(domain: Domain, changes: ChangeSet, edited: EditedDomain) -> None:
    for removal in changes.removed_nics:
        element = domain.interface(removal.mac)
        edited.removed[removal.mac.lower()] = element.to_xml()
        domain.interfaces.remove(element)
    for change in changes.nic_changes:
        element = domain.interface(change.mac)
        before = element.to_xml()
        if change.source:
            element.connect(change.kind or "network", change.source)
        if change.model:
            element.model = change.model
        if change.link:
            element.link_state = change.link
        edited.updated_nics[change.mac.lower()] = (before, element.to_xml())
    taken = {n.mac.lower() for n in domain.interfaces}
    for new in changes.new_nics:
        element = Interface(mac=new_mac(taken))
        element.connect(new.kind, new.source)
        element.model = new.model
        domain.interfaces.append(element)
        edited.added_nics.append(AddedDevice(element.mac, element.to_xml()))


def _cpu_memory(domain: Domain, changes: ChangeSet, current_kib: int) -> None:
    if changes.max_vcpus is not None or changes.vcpus is not None:
        maximum = changes.max_vcpus if changes.max_vcpus is not None else domain.max_vcpus
        current = changes.vcpus if changes.vcpus is not None else \
            (min(domain.vcpus, maximum) if domain.vcpus else None)
        domain.set_vcpus(maximum, current)
    if changes.max_memory_mib is not None:
        domain.memory_kib = changes.max_memory_mib * 1024
    if changes.memory_mib is not None or changes.max_memory_mib is not None:
        domain.current_memory_kib = changes.memory_mib * 1024 if changes.memory_mib is not None else \
            min(current_kib or changes.max_memory_mib * 1024, changes.max_memory_mib * 1024)


def apply_changes(changes: ChangeSet, facts: HardwareFacts) -> EditedDomain:
    """The new inactive definition (checked first: ``changes.problems``)."""
    domain = Domain.from_xml(facts.xml)
    edited = EditedDomain(facts.xml, "")
    _cpu_memory(domain, changes, facts.definition.current_memory_kib)
    _edit_disks(domain, changes, edited)
    _add_disks(domain, changes, facts, edited)
    _nics(domain, changes, edited)
    if changes.boot_order is not None:
        domain.set_boot_order(changes.boot_order)
    if changes.title is not None:
        domain.title = changes.title
    if changes.description is not None:
        domain.description = changes.description
    edited.xml = domain.to_xml()
    return edited


def fingerprint(xml: str) -> tuple:
    """What an edit may change, read from a definition; equal for what we defined and what
    the host keeps of it (libvirt adds addresses, aliases and defaults, not counted here)."""
    domain = Domain.from_xml(xml)
    disks = tuple((d.kind, d.device, d.target, d.bus, d.source_file, d.source_dev, d.source_pool, d.source_volume,
                   d.format, d.cache, d.boot_order) for d in domain.disks)
    nics = tuple((n.kind, n.mac, n.source_network, n.source_bridge, n.model,
                  "" if n.link_state == "up" else n.link_state, n.boot_order) for n in domain.interfaces)
    return ((domain.max_vcpus, domain.current_vcpus), domain.memory_kib, domain.current_memory_kib,
            tuple(b.dev for b in domain.boot_devices), disks, nics, domain.title, domain.description)
