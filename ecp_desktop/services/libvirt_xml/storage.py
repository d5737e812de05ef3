"""Storage pools and volumes as libvirt describes them, and the storage rules in one place:
what a host's pools hold (:func:`read_pools`), where a disk's storage is (:func:`locate`), and
which machines use a volume or file (:func:`disk_users`). Blocking calls: a host's worker.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import libvirt

from .domain import Disk, parse_domain
from .xmlmodel import SizeProperty, XmlChildren, XmlError, XmlNode, text

# Pool types whose volumes are files under the pool's folder (a disk names the file);
# other pools' volumes are named as <source pool= volume=>.
FILE_POOLS = frozenset({"dir", "fs", "netfs"})
BYTES = 1 / 1024  # SizeProperty's scale for sizes in bytes


class Pool(XmlNode):
    TAG = "pool"
    ORDER = ("name", "uuid", "capacity", "allocation", "available", "source", "target")
    kind = text("./@type", doc="dir, fs, netfs, logical, iscsi, rbd, ...")
    name = text("./name")
    uuid = text("./uuid")
    capacity = SizeProperty("./capacity", BYTES, "bytes")
    allocation = SizeProperty("./allocation", BYTES, "bytes")
    available = SizeProperty("./available", BYTES, "bytes")
    path = text("./target/path", doc="where its volumes are on the host ('' when it has no such place)")
    source_host = text("./source/host/@name", doc="an NFS server, an iSCSI target's host")
    source_dir = text("./source/dir/@path", doc="an NFS export")
    source_device = text("./source/device/@path", doc="a file system's or an iSCSI pool's device")
    source_name = text("./source/name", doc="an LVM volume group")
    source_format = text("./source/format/@type", doc="nfs, ext4, lvm2, ...")


class PoolSource(XmlNode):
    """One place a pool could be made from, as ``findStoragePoolSources`` lists them: an NFS
    export (host, dir), an LVM volume group (name, devices), an iSCSI target (host, device)."""
    TAG = "source"
    host = text("./host/@name")
    dir = text("./dir/@path")
    name = text("./name")
    device = text("./device/@path")
    format = text("./format/@type")


class PoolSources(XmlNode):
    TAG = "sources"
    sources = XmlChildren(PoolSource, "./source")


class Volume(XmlNode):
    TAG = "volume"
    ORDER = ("name", "key", "source", "capacity", "allocation", "physical", "target", "backingStore")
    name = text("./name")
    key = text("./key")
    capacity = SizeProperty("./capacity", BYTES, "bytes")
    allocation = SizeProperty("./allocation", BYTES, "bytes")
    path = text("./target/path")
    format = text("./target/format/@type")
    backing_path = text("./backingStore/path")
    backing_format = text("./backingStore/format/@type")


def volume_xml(name: str, capacity: int, fmt: str = "", *, allocation: int | None = 0, backing_path: str = "",
               backing_format: str = "") -> str:
    """A new volume's XML (sparse unless ``allocation``; None: libvirt's choice), optionally a
    copy-on-write overlay on ``backing_path``."""
    volume = Volume(name=name, capacity=capacity, allocation=allocation, format=fmt)
    if backing_path:
        volume.backing_path, volume.backing_format = backing_path, backing_format
    return volume.to_xml()


@dataclass(frozen=True)
class PoolSummary:
    """One pool of a host as the dialogs and plans use it."""
    name: str
    kind: str          # dir, fs, netfs, logical, ...
    path: str          # its target path ("" when it has none)
    available: int     # bytes (0 when inactive)
    active: bool
    volumes: frozenset[str] = frozenset()  # volume names (empty when inactive)

    @property
    def holds_files(self) -> bool:
        """Its volumes are files under ``path`` (a disk names the file)."""
        return self.kind in FILE_POOLS and bool(self.path)

    def path_of(self, volume: str) -> str:
        return f"{self.path.rstrip('/')}/{volume}"


def read_pools(conn: libvirt.virConnect, *, active_only: bool = False,
               with_volumes: bool = True) -> dict[str, PoolSummary]:
    """The host's pools by name (blocking)."""
    flags = libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE if active_only else 0
    found = {}
    for pool in conn.listAllStoragePools(flags):
        described = Pool.from_xml(pool.XMLDesc(0))
        active = bool(pool.isActive())
        found[pool.name()] = PoolSummary(pool.name(), described.kind, described.path,
                                         pool.info()[3] if active else 0, active,
                                         frozenset(pool.listVolumes()) if active and with_volumes else frozenset())
    return found


def pool_paths(conn: libvirt.virConnect) -> dict[str, str]:
    """Active pools' folders (normalised) -> pool name."""
    return {os.path.normpath(p.path): p.name for p in read_pools(conn, active_only=True, with_volumes=False).values()
            if p.path}


def read_volume(volume: libvirt.virStorageVol) -> Volume:
    return Volume.from_xml(volume.XMLDesc(0))


def locate(conn: libvirt.virConnect, disk: Disk) -> bool:
    """Fill in the disk's pool, volume, pool type and path, capacity and allocation from the
    host's storage (blocking). False when the disk is in no pool the host knows."""
    try:
        if disk.kind == "volume":
            pool = conn.storagePoolLookupByName(disk.source_pool)
            volume = pool.storageVolLookupByName(disk.source_volume)
            disk.located_path = volume.path()
        elif disk.path:
            volume = conn.storageVolLookupByPath(disk.path)
            pool = volume.storagePoolLookupByVolume()
        else:
            return False
        described = Pool.from_xml(pool.XMLDesc(0))
        disk.located_pool, disk.located_volume = pool.name(), volume.name()
        disk.pool_type, disk.pool_path = described.kind, described.path
        _kind, disk.capacity, disk.allocation = volume.info()
        described = read_volume(volume)
        disk.volume_format, disk.backing_path = described.format, described.backing_path
    except (libvirt.libvirtError, XmlError):
        return False
    return True


@dataclass
class DiskUsers:
    """Which machines' definitions name which storage: a path or ``pool/volume`` -> names."""
    by_key: dict[str, list[str]] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)  # every machine read

    def add(self, machine: str, disk: Disk) -> None:
        for key in disk.keys():
            named = self.by_key.setdefault(key, [])
            if machine not in named:  # (its live and its inactive definition may both name it)
                named.append(machine)

    def of(self, disk: Disk) -> list[str]:
        """The machines whose disks name the same storage as ``disk``, sorted."""
        return sorted({name for key in disk.keys() for name in self.by_key.get(key, [])})

    def get(self, key: str, default: list[str] | None = None) -> list[str]:
        return self.by_key.get(key, [] if default is None else default)


def disk_users(conn: libvirt.virConnect, *, except_uuid: str = "") -> DiskUsers:
    """Every machine of the host but ``except_uuid``, and the storage its definition names:
    the inactive one, and while it runs the live one too (a disk plugged in for this boot
    only is in use as much as a defined one). Blocking. A machine undefined meanwhile names
    nothing."""
    users = DiskUsers()
    for dom in conn.listAllDomains(0):
        try:
            if dom.UUIDString() == except_uuid:
                continue
            name = dom.name()
            xmls = [dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)] + ([dom.XMLDesc(0)] if dom.isActive() else [])
        except libvirt.libvirtError:
            continue
        users.names.add(name)
        for xml in xmls:
            try:
                disks = list(parse_domain(xml).disks)
            except XmlError:
                continue
            for disk in disks:
                users.add(name, disk)
    return users


def overlays_of(conn: libvirt.virConnect, pool: str, path: str) -> list[str]:
    """The volumes of ``pool`` whose backing file is ``path`` (linked clones reading it), sorted
    (blocking). Deleting ``path`` would leave them unreadable."""
    try:
        volumes = conn.storagePoolLookupByName(pool).listAllVolumes(0)
    except libvirt.libvirtError:
        return []
    found = []
    for volume in volumes:
        try:
            if read_volume(volume).backing_path == path:
                found.append(volume.name())
        except (libvirt.libvirtError, XmlError):
            continue  # deleted meanwhile, or a description that cannot be read: it names nothing
    return sorted(found)


def machine_using(conn: libvirt.virConnect, keys: set[str], *, owner_uuid: str = "") -> str:
    """The name of a machine of the host whose definition (inactive, and live while it runs)
    has a disk naming any of ``keys`` (paths, ``pool/volume``); "" when none. ``owner_uuid``:
    the machine the volume was made for, whose definition names it; only its running one
    counts. Blocking."""
    for dom in conn.listAllDomains(0):
        try:
            active, owner = dom.isActive(), bool(owner_uuid) and dom.UUIDString() == owner_uuid
            flags = ((0,) if active else ()) if owner else \
                (libvirt.VIR_DOMAIN_XML_INACTIVE, 0) if active else (libvirt.VIR_DOMAIN_XML_INACTIVE,)
            for flag in flags:
                if any(keys & set(disk.keys()) for disk in parse_domain(dom.XMLDesc(flag)).disks):
                    return dom.name()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                continue  # undefined meanwhile: it uses nothing
            raise
    return ""
