"""Revert a machine to one of its recorded definition versions, as an Edit Hardware flow.

A stored version is data: it is parsed by the vocabulary and turned into the changes Edit
Hardware makes (vCPUs, memory, disks, interfaces, boot order, title, description), which
Edit Hardware applies to the CURRENT definition and runs as its flow (hot-plug where the
host allows, the previous definition back if a step fails, every undo sealed). The stored
text itself is never defined. A version that differs from the machine in anything Edit
Hardware does not write (its name or UUID, a device kind, a tuning element, a disk setting
it does not edit) is refused with every such difference named; so is one whose changes Edit
Hardware refuses (a disk another machine uses), with Edit Hardware's reasons.
"""
from __future__ import annotations

from ..history import versions as history
from ..history.changes import summary
from ..inventory.machines import MachineInfo
from ..libvirt_xml.domain import Disk, Domain, Interface
from ..libvirt_xml.layout import differing_parts, normalised
from ..libvirt_xml.marks import without_app_marks
from .changes import ChangeSet, DiskChange, DiskRemoval, ExistingDisk, NicChange, NicRemoval
from .edit_xml import fingerprint
from .facts import HardwareFacts
from .service import HardwarePlan, HardwareService, PlanError, plan

KIND = "revert_definition"  # the flow's task kind

# Not compared as the rest: what the changes rewrite; the controllers libvirt adds for the
# disks; <metadata> (the applications' notes about the machine, not its hardware: a revert
# keeps the current one). <os> is compared without its <boot> elements (the boot order's).
NOT_COMPARED = frozenset({"memory", "currentMemory", "vcpu", "title", "description", "devices/disk",
                          "devices/interface", "devices/controller", "metadata"})


def _part_words(part: str) -> str:
    """A differing part as a person names it: "device <watchdog>", "the machine's name"."""
    if part.startswith("devices/"):
        return f"device <{part.removeprefix('devices/')}>"
    return {"name": "the machine's name (Rename… changes it)", "uuid": "the machine's UUID"}.get(part, part)


def _rest(xml: str) -> str:
    """The definition without the boot order's <os><boot> elements (compared on their own)."""
    domain = Domain.from_xml(without_app_marks(xml))
    for boot in list(domain.boot_devices):
        domain.boot_devices.remove(boot)
    return domain.to_xml()


def _disk_source(disk: Disk) -> str:
    """The disk's source as ``ExistingDisk`` takes it ("" when it has none Edit Hardware names)."""
    if disk.source_pool and disk.source_volume:
        return f"{disk.source_pool}/{disk.source_volume}"
    path = disk.source_file or disk.source_dev
    return path if path.startswith("/") else ""


def _unedited(device: Disk | Interface) -> str:
    """The device without what Edit Hardware edits on it (a disk's bus and cache, an
    interface's connection, model and link; the boot order; the address libvirt gives)."""
    copy = type(device).from_xml(device.to_xml())
    if isinstance(copy, Disk):
        copy.bus, copy.cache = "", ""
    else:
        copy.connect("", "")
        copy.kind, copy.model, copy.link_state = "", "", ""
    copy.boot_order = None
    for address in copy.element.findall("address"):
        copy.element.remove(address)
    return normalised(copy.to_xml())


def _disks(current: Domain, wanted: Domain, changes: ChangeSet, refused: list[str]) -> None:
    now = {d.target: d for d in current.disks}
    then = {d.target: d for d in wanted.disks}
    changes.removed_disks = [DiskRemoval(target) for target in now if target not in then]
    for target, disk in then.items():
        if target not in now:
            source = _disk_source(disk)
            if not source:
                refused.append(f"disk {target} has no file or volume Edit Hardware can attach")
            else:
                changes.new_disks.append(ExistingDisk(source, disk.bus, disk.device))
            continue
        old = now[target]
        if _disk_source(old) != _disk_source(disk):
            refused.append(f"disk {target} had another source ({_disk_source(disk) or 'none'}); "
                           "Edit Hardware does not change a disk's source")
        elif _unedited(old) != _unedited(disk):
            refused.append(f"disk {target} differs in settings Edit Hardware does not write")
        bus = disk.bus if disk.bus != old.bus else ""
        cache = (disk.cache or "default") if disk.cache != old.cache else ""
        if bus or cache:
            changes.disk_changes.append(DiskChange(target, bus, cache))


def _interfaces(current: Domain, wanted: Domain, changes: ChangeSet, refused: list[str]) -> None:
    now = {n.mac.lower(): n for n in current.interfaces}
    then = {n.mac.lower(): n for n in wanted.interfaces}
    changes.removed_nics = [NicRemoval(now[mac].mac) for mac in now if mac not in then]
    for mac, nic in then.items():
        old = now.get(mac)
        if old is None:
            refused.append(f"interface {nic.mac} was removed since; Edit Hardware adds an interface with a "
                           "new MAC address (add it there)")
            continue
        if _unedited(old) != _unedited(nic):
            refused.append(f"interface {nic.mac} differs in settings Edit Hardware does not write")
        if (nic.kind, nic.source) != (old.kind, old.source) or nic.model != old.model \
                or _link(nic) != _link(old):
            changes.nic_changes.append(NicChange(
                old.mac, source=nic.source if (nic.kind, nic.source) != (old.kind, old.source) else "",
                kind=nic.kind if (nic.kind, nic.source) != (old.kind, old.source) else "",
                model=nic.model if nic.model != old.model else "",
                link=_link(nic) if _link(nic) != _link(old) else ""))


def _link(nic: Interface) -> str:
    return nic.link_state or "up"


def revert_changes(facts: HardwareFacts, version_xml: str, number: int) -> ChangeSet:
    """The Edit Hardware changes that give the machine version ``number``'s definition
    (``PlanError`` naming everything that cannot be reverted that way)."""
    current, wanted = facts.definition, Domain.from_xml(version_xml)
    refused = [f"version {number} differs in {_part_words(part)}, which Edit Hardware does not write"
               for part in differing_parts(_rest(facts.xml), _rest(version_xml), NOT_COMPARED)]
    if [b.dev for b in wanted.boot_devices] != [b.dev for b in current.boot_devices] and wanted.boot_devices:
        refused.append(f"version {number} orders booting by device kind (<os><boot>), which Edit Hardware "
                       "does not write (it orders disks and interfaces)")
    changes = ChangeSet()
    # A maximum is asked only when it changes (the review lists each asked); what the machine
    # has is asked when it changes or its maximum does (a new maximum alone would cap it).
    if wanted.max_vcpus != current.max_vcpus:
        changes.max_vcpus = wanted.max_vcpus
    if wanted.vcpus != current.vcpus or changes.max_vcpus is not None:
        changes.vcpus = wanted.vcpus
    wanted_kib = wanted.current_memory_kib or wanted.memory_kib
    if wanted.memory_kib != current.memory_kib:
        changes.max_memory_mib = wanted.memory_kib // 1024
    if wanted_kib != (current.current_memory_kib or current.memory_kib) or changes.max_memory_mib is not None:
        changes.memory_mib = wanted_kib // 1024
        if wanted.memory_kib % 1024 or wanted_kib % 1024:
            refused.append(f"version {number}'s memory is not a whole number of MiB (Edit Hardware writes MiB)")
    _disks(current, wanted, changes, refused)
    _interfaces(current, wanted, changes, refused)
    if wanted.boot_order != current.boot_order:
        changes.boot_order = wanted.boot_order
    if wanted.title != current.title:
        changes.title = wanted.title
    if wanted.description != current.description:
        changes.description = wanted.description
    if refused:
        raise PlanError(refused)
    return changes


def plan_revert(facts: HardwareFacts, version_xml: str, number: int) -> HardwarePlan:
    """Edit Hardware's plan that gives the machine version ``number``'s definition (its
    flow titled as a revert); ``PlanError`` with every reason it cannot."""
    changes = revert_changes(facts, version_xml, number)
    if changes.is_empty():
        raise PlanError([f"nothing to revert: {facts.name} already has version {number}'s settings"])
    planned = plan(facts, changes)
    if fingerprint(planned.edited.xml) != fingerprint(version_xml):
        left = summary(planned.edited.xml, version_xml)
        raise PlanError([f"Edit Hardware cannot give back version {number} exactly ({left})"])
    planned.flow.kind, planned.flow.title = KIND, f"Revert {facts.name} to version {number}"
    return planned


async def plan_machine_revert(hardware: HardwareService, machine: MachineInfo,
                              version: history.Version) -> HardwarePlan:
    """Read the machine and the stored version, and plan the revert (``PlanError``,
    ``history.UnknownVersion`` when the version was trimmed, ``HypervisorError``)."""
    version_xml = await hardware.inventory.executors.on_database(history.text, version.id)
    return plan_revert(await hardware.read(machine), version_xml, version.number)
