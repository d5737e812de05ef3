"""What a host's storage is now: each pool with its state, autostart and sizes, each volume
with its format, sizes and the machines of the host whose definitions use it (or read it
as a linked clone's base). Blocking: a host's worker."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import libvirt

from ..libvirt_xml.storage import DiskUsers, Pool, Volume, disk_users
from ..libvirt_xml.xmlmodel import XmlError

POOL_KINDS = {"dir": "directory", "fs": "file system", "netfs": "network file system (NFS)",
              "logical": "LVM volume group", "iscsi": "iSCSI target", "disk": "disk", "rbd": "Ceph RBD",
              "gluster": "Gluster", "zfs": "ZFS", "mpath": "multipath", "scsi": "SCSI host"}


@dataclass(frozen=True, slots=True)  # (thousands per pool: no dict each)
class VolumeRow:
    pool: str
    name: str
    path: str
    format: str
    capacity: int    # bytes
    allocation: int  # bytes
    backing_path: str = ""
    users: tuple[str, ...] = ()      # machines whose definitions name it
    overlays: tuple[str, ...] = ()   # volumes of the pool reading it as their base

    @property
    def why_kept(self) -> str:
        """Why it cannot be deleted now ("" when it can)."""
        if self.users:
            return f"used by {', '.join(self.users)}"
        if self.overlays:
            return f"the base of linked clone volume {', '.join(self.overlays)}"
        return ""

    def as_json(self) -> dict:
        return {"pool": self.pool, "name": self.name, "path": self.path, "format": self.format,
                "capacity": self.capacity, "allocation": self.allocation, "backing_path": self.backing_path,
                "users": list(self.users), "overlays": list(self.overlays)}


@dataclass(frozen=True)
class PoolRow:
    name: str
    kind: str
    active: bool
    autostart: bool
    capacity: int = 0
    allocation: int = 0
    available: int = 0
    path: str = ""
    source: str = ""  # what it is made of: an NFS export, a volume group, a device
    volumes: tuple[VolumeRow, ...] = field(default=())
    # a stopped pool lists no volumes: the machines whose disks are in its folder or name it
    users_while_stopped: tuple[str, ...] = ()

    @property
    def kind_text(self) -> str:
        return POOL_KINDS.get(self.kind, self.kind)

    @property
    def users(self) -> list[str]:
        """Every machine that uses one of its volumes (stopped: its folder or its name), sorted."""
        return sorted({u for v in self.volumes for u in v.users} | set(self.users_while_stopped))

    def as_json(self) -> dict:
        return {"name": self.name, "type": self.kind, "active": self.active, "autostart": self.autostart,
                "capacity": self.capacity, "allocation": self.allocation, "available": self.available,
                "path": self.path, "source": self.source, "volumes": [v.as_json() for v in self.volumes]}


def read_storage(conn: libvirt.virConnect, only: str = "") -> list[PoolRow]:
    """Every pool of the host (``only``: that one), sorted by name, with its volumes."""
    users = disk_users(conn)
    pools = [conn.storagePoolLookupByName(only)] if only else conn.listAllStoragePools(0)
    rows = [_pool_row(pool, users) for pool in pools]
    return sorted((r for r in rows if r is not None), key=lambda r: r.name)


def _pool_row(pool: libvirt.virStoragePool, users: DiskUsers) -> PoolRow | None:
    try:
        described = Pool.from_xml(pool.XMLDesc(0))
        active, autostart = bool(pool.isActive()), bool(pool.autostart())
        volumes = _volumes(pool, users) if active else ()
    except (libvirt.libvirtError, XmlError):
        return None  # undefined meanwhile, or a description that cannot be read
    source = described.source_dir or described.source_name or described.source_device
    if described.source_host:
        source = f"{described.source_host}:{source}"
    stopped_users = () if active else _users_of_stopped(pool.name(), described.path, users)
    return PoolRow(pool.name(), described.kind, active, autostart, described.capacity or 0,
                   described.allocation or 0, described.available or 0, described.path, source, volumes,
                   stopped_users)


def _users_of_stopped(name: str, folder: str, users: DiskUsers) -> tuple[str, ...]:
    """The machines whose disks name ``name/…`` or a path in ``folder`` (a stopped pool lists
    no volumes to look up)."""
    inside = folder.rstrip("/") + "/" if folder else None
    return tuple(sorted({m for key, names in users.by_key.items()
                         if key.startswith(f"{name}/") or (inside and key.startswith(inside)) for m in names}))


def _volumes(pool: libvirt.virStoragePool, users: DiskUsers) -> tuple[VolumeRow, ...]:
    name = pool.name()
    # Each description's fields are kept, never its parsed tree: 5,000 trees alive at once
    # make each run of the cycle collector long, and it holds the interpreter lock (a GUI
    # gap: bench/storage_dialog.py).
    read: list[tuple[str, str, str, int, int, str]] = []
    for volume in pool.listAllVolumes(0):
        try:
            v = Volume.from_xml(volume.XMLDesc(0))
        except (libvirt.libvirtError, XmlError):
            continue  # deleted meanwhile
        read.append((v.name, v.path, v.format, v.capacity or 0, v.allocation or 0, v.backing_path))
    bases: dict[str, list[str]] = {}
    for vol_name, _path, _format, _capacity, _allocation, backing in read:
        if backing:
            bases.setdefault(backing, []).append(vol_name)
    rows = []
    for vol_name, path, fmt, capacity, allocation, backing in sorted(read):
        using = sorted({m for key in (path, f"{name}/{vol_name}") for m in users.get(key)})
        rows.append(VolumeRow(name, vol_name, path, fmt, capacity, allocation, backing, tuple(using),
                              tuple(sorted(bases.get(path, ())))))
    return tuple(rows)


def with_users_elsewhere(pool: PoolRow, elsewhere: DiskUsers) -> PoolRow:
    """``pool`` with each volume's users on other hosts added (a shared pool)."""
    volumes = []
    for v in pool.volumes:
        more = {m for key in (v.path, f"{pool.name}/{v.name}") for m in elsewhere.get(key)}
        volumes.append(replace(v, users=tuple(sorted(set(v.users) | more))) if more else v)
    return replace(pool, volumes=tuple(volumes))
