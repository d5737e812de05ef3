"""What a host offers a new machine, read in one blocking call (a host's worker thread): the
machine names taken, its pools and networks, the guest type, machine type and firmware its
hypervisor has, its memory and CPUs, where a source file is (a pool volume or not), and which
other machines' disks use which files (an imported disk must be no other machine's)."""
from __future__ import annotations

from dataclasses import dataclass, field

import libvirt

from ..hosts.capabilities import read_capabilities, read_firmware
from ..libvirt_xml.network import HostInterface
from ..libvirt_xml.storage import DiskUsers, PoolSummary, disk_users, read_pools, read_volume


@dataclass(frozen=True)
class SourceVolume:
    """A source file the host has in a pool (what an overlay or a copy is made from)."""
    pool: str
    name: str
    path: str
    capacity: int
    format: str
    backing_path: str = ""  # the file a qcow2 volume reads below its own data, as libvirt says


def iso_like(volume: str) -> bool:
    """Whether a pool's volume is offered as an installer ISO: by its name's ``.iso``, the one
    mark every host agrees on (libvirt reports an ISO in a directory pool as ``iso`` or
    ``raw`` depending on the pool, and another machine's qcow2 disk is never one)."""
    return volume.lower().endswith(".iso")


@dataclass
class HostOffer:
    uri: str
    names: set[str] = field(default_factory=set)
    pools: dict[str, PoolSummary] = field(default_factory=dict)
    networks: list[str] = field(default_factory=list)
    inactive_networks: set[str] = field(default_factory=set)  # defined, not started: a machine on one cannot start
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
    disk_users: DiskUsers = field(default_factory=DiskUsers)  # which machines' disks name which storage

    @property
    def default_pool(self) -> str:
        active = [p for p in self.pools.values() if p.active]
        for name in ("default", "default-pool"):
            if name in self.pools and self.pools[name].active:
                return name
        return active[0].name if active else ""

    def volume_paths(self) -> list[str]:
        """Every volume of the active pools that hold files, by its path on the host (sorted)."""
        return sorted(p.path_of(v) for p in self.pools.values() if p.active and p.path for v in p.volumes)

    @property
    def is_test(self) -> bool:
        return self.domain_type == "test"


def read_offer(conn: libvirt.virConnect, uri: str, source_path: str = "") -> HostOffer:
    """Blocking: what the host offers now; ``source_path``: also where that file is."""
    offer = HostOffer(uri)
    offer.disk_users = disk_users(conn)
    offer.names = offer.disk_users.names
    offer.pools = read_pools(conn)
    networks = conn.listAllNetworks(0)
    offer.networks = sorted(n.name() for n in networks)
    offer.inactive_networks = {n.name() for n in networks if not n.isActive()}
    try:
        offer.bridges = sorted(i.name() for i in conn.listAllInterfaces(0)
                               if HostInterface.from_xml(i.XMLDesc(0)).kind == "bridge")
    except libvirt.libvirtError:
        offer.bridges = []  # no interface driver (netcf) on this host: a bridge is taken as named
    info = conn.getInfo()
    offer.memory_mib, offer.cpus = int(info[1]), int(info[2])
    _guest(conn, offer)
    if source_path:
        offer.source = _source_volume(conn, source_path)
    return offer


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
        firmware = read_firmware(conn, arch, offer.machine, offer.domain_type)
    except libvirt.libvirtError as exc:
        offer.firmware_words = f"the host does not say which firmware it has ({exc.get_error_message()}): BIOS"
        return
    offer.efi, offer.secure_boot = firmware.efi, firmware.secure_boot
    if not offer.efi:
        offer.firmware_words = "the host has no UEFI firmware (e.g. Debian's ovmf package): BIOS"


def _source_volume(conn: libvirt.virConnect, path: str) -> SourceVolume | None:
    try:
        volume = conn.storageVolLookupByPath(path)
        pool = volume.storagePoolLookupByVolume()
        described = read_volume(volume)
        return SourceVolume(pool.name(), volume.name(), volume.path(), volume.info()[1], described.format,
                            described.backing_path)
    except (libvirt.libvirtError, ValueError):
        return None  # not in a pool the host knows
