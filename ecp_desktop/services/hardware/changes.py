"""The edits a user asks of a machine's hardware, Qt-free, and why one cannot be made.

A ``ChangeSet`` holds only what changes (None or empty: left as it is). ``problems`` checks
it against the machine and its host as read (``facts.HardwareFacts``) and says, in words,
every reason it cannot be applied; the plan refuses a change set with any.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..core.names import name_problem, text_problem
from ..libvirt_xml.devices import DISK_BUSES, DISK_CACHES, DISK_FORMATS, MAC, NIC_KINDS, NIC_MODELS
from .facts import GIB, HardwareFacts

MIN_MEMORY_MIB = 16
MAX_TITLE = 200
MAX_DESCRIPTION = 4000


@dataclass(frozen=True)
class NewDisk:
    """A new volume made in ``pool`` for the machine (named after it and the disk's target)."""
    size_gib: float
    pool: str
    format: str = "qcow2"
    bus: str = "virtio"

    def words(self) -> str:
        return f"add a new {self.size_gib:g} GiB {self.format} disk in pool {self.pool} ({self.bus})"


@dataclass(frozen=True)
class ExistingDisk:
    """A volume or file that exists: ``/path/to/file`` or ``POOL/VOLUME``; ``device`` disk or cdrom."""
    source: str
    bus: str = "virtio"
    device: str = "disk"

    @property
    def is_path(self) -> bool:
        return self.source.startswith("/")

    def words(self) -> str:
        return f"add {'CD-ROM ' if self.device == 'cdrom' else 'disk '}{self.source} ({self.bus})"


@dataclass(frozen=True)
class DiskChange:
    target: str
    bus: str = ""    # "" keeps it
    cache: str = ""  # "" keeps it; "default" removes the setting

    def words(self) -> str:
        parts = ([f"bus {self.bus}"] if self.bus else []) + ([f"cache {self.cache}"] if self.cache else [])
        return f"disk {self.target}: {', '.join(parts)}"


@dataclass(frozen=True)
class DiskResize:
    target: str
    size_gib: float

    def words(self) -> str:
        return f"grow disk {self.target} to {self.size_gib:g} GiB"


@dataclass(frozen=True)
class DiskRemoval:
    target: str
    delete_volume: bool = False

    def words(self) -> str:
        return f"remove disk {self.target}" + (" and delete its volume" if self.delete_volume else " (volume kept)")


@dataclass(frozen=True)
class NewNic:
    source: str
    kind: str = "network"  # or bridge
    model: str = "virtio"

    def words(self) -> str:
        return f"add a network interface on {self.kind} {self.source} ({self.model})"


@dataclass(frozen=True)
class NicChange:
    mac: str
    source: str = ""  # "" keeps it
    kind: str = ""    # with source: network or bridge ("" = network)
    model: str = ""
    link: str = ""    # up, down, or "" keeps it

    def words(self) -> str:
        parts = ([f"{self.kind or 'network'} {self.source}"] if self.source else []) \
            + ([f"model {self.model}"] if self.model else []) + ([f"link {self.link}"] if self.link else [])
        return f"interface {self.mac}: {', '.join(parts)}"


@dataclass(frozen=True)
class NicRemoval:
    mac: str

    def words(self) -> str:
        return f"remove interface {self.mac}"


@dataclass
class ChangeSet:
    vcpus: int | None = None
    max_vcpus: int | None = None
    memory_mib: int | None = None
    max_memory_mib: int | None = None
    new_disks: list[NewDisk | ExistingDisk] = field(default_factory=list)
    disk_changes: list[DiskChange] = field(default_factory=list)
    resizes: list[DiskResize] = field(default_factory=list)
    removed_disks: list[DiskRemoval] = field(default_factory=list)
    new_nics: list[NewNic] = field(default_factory=list)
    nic_changes: list[NicChange] = field(default_factory=list)
    removed_nics: list[NicRemoval] = field(default_factory=list)
    boot_order: list[str] | None = None  # disk targets and interface MACs, first tried first
    autostart: bool | None = None
    title: str | None = None
    description: str | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, name) in (None, []) for name in self.__dataclass_fields__)


def _cpu_memory(changes: ChangeSet, facts: HardwareFacts) -> list[str]:
    found = []
    most = changes.max_vcpus if changes.max_vcpus is not None else max(facts.max_vcpus, 1)
    vcpus = changes.vcpus if changes.vcpus is not None else facts.definition.vcpus
    if changes.max_vcpus is not None and not 1 <= changes.max_vcpus <= facts.host_max_vcpus:
        found.append(f"the maximum vCPUs must be between 1 and {facts.host_max_vcpus} (what this host allows)")
    if changes.vcpus is not None and changes.vcpus < 1:
        found.append("a machine needs at least 1 vCPU")
    elif vcpus > most:
        found.append(f"{vcpus} vCPUs is more than the maximum of {most}; raise the maximum too")
    top_mib = changes.max_memory_mib if changes.max_memory_mib is not None else facts.definition.memory_kib // 1024
    host_mib = facts.host_memory_kib // 1024
    if changes.max_memory_mib is not None and changes.max_memory_mib < MIN_MEMORY_MIB:
        found.append(f"the maximum memory must be at least {MIN_MEMORY_MIB} MiB")
    if changes.max_memory_mib is not None and host_mib and changes.max_memory_mib > host_mib:
        found.append(f"the maximum memory ({changes.max_memory_mib} MiB) is more than the host has ({host_mib} MiB)")
    if changes.memory_mib is not None:
        if changes.memory_mib < MIN_MEMORY_MIB:
            found.append(f"the memory must be at least {MIN_MEMORY_MIB} MiB")
        elif changes.memory_mib > top_mib:
            found.append(f"the memory ({changes.memory_mib} MiB) is more than the maximum of {top_mib} MiB; "
                         "raise the maximum too")
    return found


def _new_disks(changes: ChangeSet, facts: HardwareFacts) -> list[str]:
    found = []
    wanted: dict[str, float] = {}
    for disk in changes.new_disks:
        if disk.bus not in DISK_BUSES:
            found.append(f"unknown disk bus {disk.bus!r} (one of {', '.join(DISK_BUSES)})")
        if isinstance(disk, NewDisk):
            pool = facts.pools.get(disk.pool)
            if disk.format not in DISK_FORMATS:
                found.append(f"unknown disk format {disk.format!r} (one of {', '.join(DISK_FORMATS)})")
            if not disk.size_gib > 0:
                found.append("a new disk needs a size above 0 GiB")
            if pool is None:
                found.append(f"there is no storage pool named {disk.pool!r} on this host")
            elif not pool.active:
                found.append(f"storage pool {disk.pool} is not active; start it first")
            else:
                wanted[disk.pool] = wanted.get(disk.pool, 0) + max(disk.size_gib, 0)
            continue
        if disk.device not in ("disk", "cdrom"):
            found.append(f"unknown device {disk.device!r} (disk or cdrom)")
        problem = text_problem("source", disk.source, 4096, lines=False)
        if problem:
            found.append(problem)
        elif disk.is_path:
            if "/../" in disk.source + "/" or disk.source.endswith("/"):
                found.append(f"{disk.source} is not a plain file path")
        else:
            pool_name, _, volume = disk.source.partition("/")
            if pool_name not in facts.pools or volume not in facts.pools[pool_name].volumes:
                found.append(f"there is no volume {disk.source} (give POOL/VOLUME, or a file path starting with /)")
        users = facts.used_elsewhere.get(disk.source, [])
        if users and disk.device == "disk":
            found.append(f"{disk.source} is a disk of {', '.join(users)}; two machines writing one disk corrupt it")
    for pool_name, gib in wanted.items():
        if gib * GIB > facts.pools[pool_name].available:
            found.append(f"pool {pool_name} has {facts.pools[pool_name].available / GIB:.1f} GiB free, "
                         f"not the {gib:g} GiB asked")
    return found


def _disk_edits(changes: ChangeSet, facts: HardwareFacts) -> list[str]:
    found = []
    removed = {r.target for r in changes.removed_disks}
    for edit in [*changes.disk_changes, *changes.resizes, *changes.removed_disks]:
        if facts.disk(edit.target) is None:
            found.append(f"{facts.name} has no disk {edit.target!r}")
        elif edit.target in removed and not isinstance(edit, DiskRemoval):
            found.append(f"disk {edit.target} is removed; it cannot also be changed")
    for edit in changes.disk_changes:
        if edit.bus and edit.bus not in DISK_BUSES:
            found.append(f"unknown disk bus {edit.bus!r} (one of {', '.join(DISK_BUSES)})")
        if edit.cache and edit.cache not in DISK_CACHES:
            found.append(f"unknown cache mode {edit.cache!r} (one of {', '.join(DISK_CACHES)})")
    for resize in changes.resizes:
        disk = facts.disk(resize.target)
        if disk is None:
            continue
        if disk.device != "disk":
            found.append(f"{resize.target} is a {disk.device}; only disks can grow")
        elif not disk.capacity:
            found.append(f"disk {resize.target} ({disk.source}) is in no storage pool of this host; its size "
                         "is unknown, so it cannot be grown here")
        elif resize.size_gib * GIB <= disk.capacity:
            found.append(f"disk {resize.target} has {disk.capacity / GIB:g} GiB; it can only grow (shrinking "
                         "loses what the guest wrote at the end)")
    for removal in changes.removed_disks:
        disk = facts.disk(removal.target)
        if disk is None or not removal.delete_volume:
            continue
        if not (disk.pool and disk.volume and disk.capacity):
            found.append(f"disk {removal.target} ({disk.source or 'no source'}) is in no storage pool, so its "
                         "volume cannot be deleted here; remove the disk and keep the file")
        users = facts.used_elsewhere.of(disk)
        if users:
            found.append(f"the volume of disk {removal.target} is also a disk of {', '.join(users)}; "
                         "it is not deleted")
    return found


def _nics(changes: ChangeSet, facts: HardwareFacts) -> list[str]:
    found = []
    removed = {r.mac.lower() for r in changes.removed_nics}
    sources = [(n.kind, n.source, n.model) for n in changes.new_nics] + \
        [(c.kind or "network", c.source, c.model) for c in changes.nic_changes]
    for kind, source, model in sources:
        if kind not in NIC_KINDS:
            found.append(f"unknown interface kind {kind!r} (network or bridge)")
        elif source and kind == "network" and source not in facts.networks:
            known = ", ".join(facts.networks) or "none"
            found.append(f"there is no network named {source!r} on this host (there are: {known})")
        elif source and kind == "bridge" and name_problem(source):
            found.append(f"bridge name: {name_problem(source)}")
        if model and model not in NIC_MODELS:
            found.append(f"unknown interface model {model!r} (one of {', '.join(NIC_MODELS)})")
    for new in changes.new_nics:
        if not new.source:
            found.append("a new interface needs a network or bridge")
    for edit in [*changes.nic_changes, *changes.removed_nics]:
        if not MAC.match(edit.mac) or not facts.has_nic(edit.mac):
            found.append(f"{facts.name} has no interface with MAC address {edit.mac!r}")
        elif isinstance(edit, NicChange) and edit.mac.lower() in removed:
            found.append(f"interface {edit.mac} is removed; it cannot also be changed")
    for edit in changes.nic_changes:
        if edit.link and edit.link not in ("up", "down"):
            found.append(f"link state {edit.link!r}: up or down")
    return found


def _options(changes: ChangeSet, facts: HardwareFacts) -> list[str]:
    found = []
    if changes.boot_order is not None:
        known = {d.target for d in facts.disks} | {n.mac.lower() for n in facts.definition.interfaces}
        gone = {r.target for r in changes.removed_disks} | {r.mac.lower() for r in changes.removed_nics}
        for device in changes.boot_order:
            if device.lower() not in known or device.lower() in gone or device in gone:
                found.append(f"boot order: {facts.name} has no disk or interface {device!r}")
        if len(set(changes.boot_order)) != len(changes.boot_order):
            found.append("boot order: a device is named twice")
    if changes.title is not None:
        found += filter(None, [text_problem("title", changes.title, MAX_TITLE, lines=False)])
    if changes.description is not None:
        found += filter(None, [text_problem("description", changes.description, MAX_DESCRIPTION, lines=True)])
    return found


def problems(changes: ChangeSet, facts: HardwareFacts) -> list[str]:
    """Every reason the change set cannot be applied to the machine as read, in words."""
    if changes.is_empty():
        return ["nothing to change"]
    return (_cpu_memory(changes, facts) + _new_disks(changes, facts) + _disk_edits(changes, facts)
            + _nics(changes, facts) + _options(changes, facts))
