"""What a machine's snapshots are, read from libvirt (blocking: run in a host's worker).

The XML is untrusted (another client wrote the names and descriptions): values are kept as
plain strings, and only the few fields shown are read (not the saved domain definition).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import libvirt

from ..libvirt_xml.snapshot import DomainSnapshot

# Host drivers that make external (disk-only, overlay file) snapshots; others refuse the flag
# (the test driver: "unsupported flags"). Internal snapshots: every driver with snapshots.
EXTERNAL_DRIVERS = frozenset({"QEMU"})


def external_supported(driver_type: str) -> bool:
    return driver_type in EXTERNAL_DRIVERS


@dataclass
class SnapshotInfo:
    name: str
    parent: str = ""           # "" for a root
    description: str = ""
    state: str = ""            # the machine's state when taken: running, shutoff, paused, disk-snapshot, ...
    created: int = 0           # seconds since the epoch, as libvirt says
    memory: str = ""           # internal, external, no ("" when libvirt says nothing)
    disks: str = ""            # internal, external, mixed, none
    current: bool = False
    children: list[str] = field(default_factory=list)  # names, in the order libvirt lists them

    @property
    def with_memory(self) -> bool:
        return self.memory in ("internal", "external")

    @property
    def kind(self) -> str:
        """In words: what the snapshot holds."""
        disks = {"external": "external", "mixed": "mixed"}.get(self.disks, "internal")
        if self.with_memory:
            return f"memory and disks ({disks})"
        return f"disks only ({disks})"

    @property
    def created_text(self) -> str:
        if not self.created:
            return "-"
        return dt.datetime.fromtimestamp(self.created).strftime("%Y-%m-%d %H:%M:%S")

    def as_json(self) -> dict:
        return {"name": self.name, "parent": self.parent or None, "current": self.current,
                "created": dt.datetime.fromtimestamp(self.created, dt.timezone.utc).isoformat(timespec="seconds")
                if self.created else None,
                "description": self.description, "state": self.state, "memory": self.memory or "no",
                "disk_only": not self.with_memory, "disks": self.disks, "children": list(self.children)}


def parse_snapshot(xml: str, *, current: bool = False) -> SnapshotInfo:
    snapshot = DomainSnapshot.from_xml(xml)
    kinds = {d.snapshot for d in snapshot.disks} - {"", "no"}
    disks = "none" if not kinds else kinds.pop() if len(kinds) == 1 else "mixed"
    return SnapshotInfo(name=snapshot.name, parent=snapshot.parent, description=snapshot.description,
                        state=snapshot.state, created=max(snapshot.created, 0), memory=snapshot.memory, disks=disks,
                        current=current)


def read_snapshots(conn: libvirt.virConnect, uuid: str) -> list[SnapshotInfo]:
    """Every snapshot of the machine, parents before their children (then by time)."""
    dom = conn.lookupByUUIDString(uuid)
    found = []
    for snap in dom.listAllSnapshots(0):
        try:
            found.append(parse_snapshot(snap.getXMLDesc(0), current=bool(snap.isCurrent(0))))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT:
                raise  # (one deleted meanwhile is simply not listed)
    return in_tree_order(found)


def in_tree_order(snapshots: list[SnapshotInfo]) -> list[SnapshotInfo]:
    """Parents before children, siblings by creation time; children lists filled in. A snapshot
    whose parent is not listed is a root."""
    by_name = {s.name: s for s in snapshots}
    for snap in snapshots:
        snap.children = []
        if snap.parent not in by_name or snap.parent == snap.name:
            snap.parent = ""
    ordered = sorted(snapshots, key=lambda s: (s.created, s.name))
    for snap in ordered:
        if snap.parent:
            by_name[snap.parent].children.append(snap.name)
    result: list[SnapshotInfo] = []

    def add(snap: SnapshotInfo) -> None:
        result.append(snap)
        for child in snap.children:
            add(by_name[child])
    for snap in ordered:
        if not snap.parent:
            add(snap)
    return result


def descendants(snapshots: list[SnapshotInfo], name: str) -> list[str]:
    """The names under ``name`` (children, their children, ...)."""
    by_name = {s.name: s for s in snapshots}
    found, todo = [], list(by_name[name].children) if name in by_name else []
    while todo:
        child = todo.pop(0)
        found.append(child)
        todo.extend(by_name[child].children)
    return found


def current_of(snapshots: list[SnapshotInfo]) -> SnapshotInfo | None:
    return next((s for s in snapshots if s.current), None)
