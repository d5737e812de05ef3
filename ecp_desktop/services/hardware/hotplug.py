"""Which edits reach the machine now and which wait for its next boot, and why.

A shut-off machine starts from its definition, so every edit counts from its next start.
A running one gets, besides its new definition, what the host can change while it runs:
more vCPUs (up to the maximum it was started with), its memory (the balloon, up to its
maximum), disks on a bus that takes hot-plugging (virtio, scsi, usb; not sata or ide) and
network interfaces plugged in or out, an interface's link state and network; its autostart
flag, title and description. The rest (maxima, buses, cache, models, boot order, fewer
vCPUs: a guest gives them back only where it was started with hot-pluggable ones) waits.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..libvirt_xml.devices import HOTPLUG_BUSES
from ..libvirt_xml.domain import Disk
from .changes import ChangeSet, ExistingDisk
from .edit_xml import EditedDomain
from .facts import HardwareFacts

NOW, NEXT_BOOT = "now", "next boot"


@dataclass
class Effect:
    change: str  # the change in words
    when: str    # NOW or NEXT_BOOT
    why: str


@dataclass
class LiveStep:
    op: str
    title: str
    params: dict = field(default_factory=dict)


@dataclass
class Schedule:
    effects: list[Effect] = field(default_factory=list)
    live: list[LiveStep] = field(default_factory=list)  # steps on the running machine, in order

    @property
    def waiting(self) -> list[Effect]:
        return [e for e in self.effects if e.when == NEXT_BOOT]


def _bus(xml: str) -> str:
    return Disk.from_xml(xml).bus


def schedule(changes: ChangeSet, facts: HardwareFacts, edited: EditedDomain) -> Schedule:
    out = Schedule()
    if not facts.running:
        why = f"{facts.name} is shut off: it starts with its new definition"
        out.effects = [Effect(words, NOW, why) for words in change_words(changes)]
        return out
    base = {"uuid": facts.uuid, "name": facts.name}

    def now(words: str, why: str, step: LiveStep | None = None) -> None:
        out.effects.append(Effect(words, NOW, why))
        if step is not None:
            out.live.append(step)

    def later(words: str, why: str) -> None:
        out.effects.append(Effect(words, NEXT_BOOT, why))

    _cpu_memory(changes, facts, base, now, later)
    for removal in changes.removed_disks:
        xml = edited.removed[removal.target]
        if _bus(xml) in HOTPLUG_BUSES:
            now(removal.words(), "unplugged from the running machine",
                LiveStep("detach_device", f"Unplug disk {removal.target} from {facts.name}",
                         {**base, "xml": xml, "key": removal.target}))
        else:
            later(removal.words(), f"a {_bus(xml) or 'disk'} disk cannot be unplugged while the machine runs")
    for removal in changes.removed_nics:
        now(removal.words(), "unplugged from the running machine",
            LiveStep("detach_device", f"Unplug interface {removal.mac} from {facts.name}",
                     {**base, "xml": edited.removed[removal.mac.lower()], "key": removal.mac.lower()}))
    for disk, added in zip(changes.new_disks, edited.added_disks, strict=True):
        bus = _bus(added.xml)
        if bus in HOTPLUG_BUSES and not (isinstance(disk, ExistingDisk) and disk.device == "cdrom"):
            now(disk.words() + f" as {added.key}", "plugged into the running machine",
                LiveStep("attach_device", f"Plug disk {added.key} into {facts.name}",
                         {**base, "xml": added.xml, "key": added.key}))
        else:
            later(disk.words() + f" as {added.key}", f"a {bus} device cannot be plugged in while the machine runs")
    for nic, added in zip(changes.new_nics, edited.added_nics, strict=True):
        now(nic.words() + f" ({added.key})", "plugged into the running machine",
            LiveStep("attach_device", f"Plug interface {added.key} into {facts.name}",
                     {**base, "xml": added.xml, "key": added.key}))
    for change in changes.nic_changes:
        if change.model:
            later(change.words(), "a running machine's interface model cannot change")
            continue
        before, after = edited.updated_nics[change.mac.lower()]
        now(change.words(), "changed on the running interface",
            LiveStep("update_device", f"Change interface {change.mac} of {facts.name}",
                     {**base, "xml": after, "previous": before, "key": change.mac.lower()}))
    for change in changes.disk_changes:
        later(change.words(), "a disk's bus and cache are set when the machine starts")
    for resize in changes.resizes:
        now(resize.words(), "grown on the running machine (the guest then grows its partition)")
    if changes.boot_order is not None:
        later(f"boot order {', '.join(changes.boot_order) or '(none)'}", "the boot order counts when it starts")
    if changes.autostart is not None:
        now(f"autostart {'on' if changes.autostart else 'off'}", "a setting of the host")
    for tag in ("title", "description"):
        value = getattr(changes, tag)
        if value is not None:
            now(f"{tag}: {value.splitlines()[0] if value else '(none)'}", "set on the running machine too",
                LiveStep("set_metadata_live", f"Set the {tag} of running {facts.name}",
                         {**base, "field": tag, "value": value}))
    return out


def _cpu_memory(changes: ChangeSet, facts: HardwareFacts, base: dict, now, later) -> None:
    if changes.vcpus is not None:
        words = f"{changes.vcpus} vCPUs"
        if changes.vcpus < facts.live_vcpus:
            later(words, "a running guest gives vCPUs back only if started with hot-pluggable ones")
        elif changes.vcpus > facts.live_max_vcpus:
            later(words, f"more than the {facts.live_max_vcpus} the running machine was started with")
        elif changes.vcpus > facts.live_vcpus:
            now(words, "plugged into the running machine",
                LiveStep("set_vcpus_live", f"Give running {facts.name} {changes.vcpus} vCPUs",
                         {**base, "value": changes.vcpus}))
        else:
            now(words, "the running machine has as many")
    if changes.max_vcpus is not None:
        later(f"at most {changes.max_vcpus} vCPUs", "the maximum is fixed while the machine runs")
    if changes.memory_mib is not None:
        words = f"{changes.memory_mib} MiB of memory"
        kib = changes.memory_mib * 1024
        if kib > facts.live_max_memory_kib:
            later(words, f"more than the {facts.live_max_memory_kib // 1024} MiB the running machine was started "
                         "with")
        else:
            now(words, "the running machine's balloon gives or takes it",
                LiveStep("set_memory_live", f"Give running {facts.name} {changes.memory_mib} MiB",
                         {**base, "kib": kib}))
    if changes.max_memory_mib is not None:
        later(f"at most {changes.max_memory_mib} MiB of memory", "the maximum is fixed while the machine runs")


def change_words(changes: ChangeSet) -> list[str]:
    """Each change in words, as a list a review shows."""
    words = []
    if changes.vcpus is not None:
        words.append(f"{changes.vcpus} vCPUs")
    if changes.max_vcpus is not None:
        words.append(f"at most {changes.max_vcpus} vCPUs")
    if changes.memory_mib is not None:
        words.append(f"{changes.memory_mib} MiB of memory")
    if changes.max_memory_mib is not None:
        words.append(f"at most {changes.max_memory_mib} MiB of memory")
    for group in (changes.new_disks, changes.disk_changes, changes.resizes, changes.removed_disks,
                  changes.new_nics, changes.nic_changes, changes.removed_nics):
        words += [item.words() for item in group]
    if changes.boot_order is not None:
        words.append(f"boot order {', '.join(changes.boot_order) or '(none)'}")
    if changes.autostart is not None:
        words.append(f"autostart {'on' if changes.autostart else 'off'}")
    for tag in ("title", "description"):
        value = getattr(changes, tag)
        if value is not None:
            words.append(f"{tag}: {value.splitlines()[0] if value else '(none)'}")
    return words

