"""What a host offers a new machine, read in one blocking call (a host's worker thread): the
machine names taken, its pools and networks, the guest type, machine type and firmware its
hypervisor has, its memory and CPUs, where a source file is (a pool volume or not), and which
other machines' disks use which files (an imported disk must be no other machine's)."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import libvirt

from ..hosts.capabilities import read_capabilities
from ..hosts.domain_xml import parse_domain

# Pool types whose volumes are files under the pool's folder (a disk names the file);
# other pools' volumes are named as <source pool= volume=>.
FILE_POOLS = {"dir", "fs", "netfs"}


@dataclass(frozen=True)
class PoolOffer:
    name: str
    kind: str
    path: str
    available: int   # bytes
    active: bool
    volumes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SourceVolume:
    """A source file the host has in a pool (what an overlay or a copy is made from)."""
    pool: str
    name: str
    path: str
    capacity: int
    format: str


@dataclass
class HostOffer:
    uri: str
    names: set[str] = field(default_factory=set)
    pools: dict[str, PoolOffer] = field(default_factory=dict)
    networks: list[str] = field(default_factory=list)
    bridges: list[str] = field(default_factory=list)
    domain_type: str = "kvm"     # the best the host offers: KVM where it has it, else QEMU's emulation
    domain_types: tuple[str, ...] = ()  # every type it offers for hvm guests of its architecture
    arch: str = "x86_64"
    machine: str = ""            # "" : the hypervisor's default
    efi: bool = False
    secure_boot: bool = False
    firmware_words: str = ""     # why UEFI is not offered, when it is not
    memory_mib: int = 0
    cpus: int = 0
    source: SourceVolume | None = None
    # the machines' disks: path (and pool/volume) -> the machines whose definition names it
    disk_users: dict[str, list[str]] = field(default_factory=dict)

    @property
    def default_pool(self) -> str:
        active = [p for p in self.pools.values() if p.active]
        for name in ("default", "default-pool"):
            if name in self.pools and self.pools[name].active:
                return name
        return active[0].name if active else ""

    @property
    def is_test(self) -> bool:
        return self.domain_type == "test"


def read_offer(conn: libvirt.virConnect, uri: str, source_path: str = "") -> HostOffer:
    """Blocking: what the host offers now; ``source_path``: also where that file is."""
    offer = HostOffer(uri)
    _machines(conn, offer)
    for pool in conn.listAllStoragePools(0):
        root = ET.fromstring(pool.XMLDesc(0))
        active = bool(pool.isActive())
        volumes = frozenset(pool.listVolumes()) if active else frozenset()
        offer.pools[pool.name()] = PoolOffer(pool.name(), root.get("type", ""), root.findtext("target/path", ""),
                                             pool.info()[3] if active else 0, active, volumes)
    offer.networks = sorted(n.name() for n in conn.listAllNetworks(0))
    try:
        offer.bridges = sorted(i.name() for i in conn.listAllInterfaces(0)
                               if ET.fromstring(i.XMLDesc(0)).get("type") == "bridge")
    except libvirt.libvirtError:
        offer.bridges = []  # no interface driver (netcf) on this host: a bridge is taken as named
    info = conn.getInfo()
    offer.memory_mib, offer.cpus = int(info[1]), int(info[2])
    _guest(conn, offer)
    if source_path:
        offer.source = _source_volume(conn, source_path)
    return offer


def _machines(conn: libvirt.virConnect, offer: HostOffer) -> None:
    """The names taken and the disks in use: one pass over the definitions (inactive XML, read by
    the one reader, ``parse_domain``)."""
    for dom in conn.listAllDomains(0):
        try:
            name, xml = dom.name(), dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        except libvirt.libvirtError:
            continue  # undefined meanwhile
        offer.names.add(name)
        for disk in parse_domain(xml).disks:
            keys = ([disk.path] if disk.path else []) + ([f"{disk.pool}/{disk.volume}"] if disk.pool and disk.volume
                                                           else [])
            for key in keys:
                offer.disk_users.setdefault(key, []).append(name)


def _guest(conn: libvirt.virConnect, offer: HostOffer) -> None:
    caps = read_capabilities(conn)
    arch = caps.cpu_arch or "x86_64"
    types = set().union(*(g.domain_types for g in caps.guests if g.arch == arch and g.os_type == "hvm")) \
        if caps.guests else set()
    offer.arch = arch
    offer.domain_type = next((t for t in ("kvm", "qemu", "test") if t in types), next(iter(types), "kvm"))
    offer.domain_types = tuple(sorted(types))
    machines = caps.machines_for(arch, offer.domain_type) or set()
    offer.machine = "q35" if "q35" in machines else ""
    try:
        domcaps = ET.fromstring(conn.getDomainCapabilities(None, arch, offer.machine or None,
                                                           offer.domain_type, 0))
    except libvirt.libvirtError as exc:
        offer.firmware_words = f"the host does not say which firmware it has ({exc.get_error_message()}): BIOS"
        return
    firmware = {v.text for v in domcaps.findall("os/enum[@name='firmware']/value")}
    loaders = domcaps.find("os/loader")
    offer.efi = "efi" in firmware or (loaders is not None and loaders.get("supported") == "yes"
                                      and bool(loaders.findall("value")))
    offer.secure_boot = offer.efi and "yes" in {v.text for v in domcaps.findall("os/loader/enum[@name='secure']/value")}
    if not offer.efi:
        offer.firmware_words = "the host has no UEFI firmware (e.g. Debian's ovmf package): BIOS"


def _source_volume(conn: libvirt.virConnect, path: str) -> SourceVolume | None:
    try:
        volume = conn.storageVolLookupByPath(path)
        pool = volume.storagePoolLookupByVolume()
        fmt = ET.fromstring(volume.XMLDesc(0)).find("target/format")
        return SourceVolume(pool.name(), volume.name(), volume.path(), volume.info()[1],
                            fmt.get("type", "") if fmt is not None else "")
    except libvirt.libvirtError:
        return None  # not in a pool the host knows
