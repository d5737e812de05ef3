"""What an edit is checked against: the machine's definition and live figures, and the host's
pools, networks and limits, read in one blocking call (a host's worker thread)."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import libvirt

from ..hosts.domain_xml import Disk, DomainXml, locate_storage, read_domain
from ..hosts.states import ACTIVE_STATES, state_name

GIB = 1024 ** 3
DEFAULT_MAX_VCPUS = 256  # when the host does not say (getMaxVcpus refused)


@dataclass
class PoolFacts:
    name: str
    kind: str          # dir, fs, netfs, logical, ...
    path: str          # its target path ("" when it has none)
    available: int     # bytes
    active: bool
    volumes: set[str] = field(default_factory=set)


@dataclass
class HardwareFacts:
    """The machine as it is now. ``xml`` is the inactive definition every edit starts from."""

    host_uri: str
    uuid: str
    name: str
    state: str
    xml: str
    definition: DomainXml
    autostart: bool = False
    max_vcpus: int = 0           # <vcpu> in the definition: the most it may have
    live_vcpus: int = 0          # a running machine's figures (0 when shut off)
    live_max_vcpus: int = 0
    live_memory_kib: int = 0
    live_max_memory_kib: int = 0
    host_max_vcpus: int = DEFAULT_MAX_VCPUS
    host_memory_kib: int = 0
    pools: dict[str, PoolFacts] = field(default_factory=dict)
    networks: list[str] = field(default_factory=list)
    disks: list[Disk] = field(default_factory=list)  # the definition's, located in the pools
    used_elsewhere: dict[str, list[str]] = field(default_factory=dict)  # path or pool/volume -> other machines

    @property
    def running(self) -> bool:
        return self.state in ACTIVE_STATES

    def disk(self, target: str) -> Disk | None:
        return next((d for d in self.disks if d.target == target), None)

    def has_nic(self, mac: str) -> bool:
        return any(n.mac.lower() == mac.lower() for n in self.definition.interfaces)


def disk_keys(disk: Disk) -> list[str]:
    """The names another machine's disk may use for the same storage: its path, its pool/volume."""
    keys = [disk.path] if disk.path else []
    if disk.pool and disk.volume:
        keys.append(f"{disk.pool}/{disk.volume}")
    return keys


def read_facts(conn: libvirt.virConnect, host_uri: str, uuid: str) -> HardwareFacts:
    """Blocking: everything an edit of machine ``uuid`` is checked against."""
    dom = conn.lookupByUUIDString(uuid)
    definition = read_domain(dom, libvirt.VIR_DOMAIN_XML_INACTIVE)
    vcpu = ET.fromstring(definition.xml).find("vcpu")
    facts = HardwareFacts(host_uri, uuid, dom.name(), state_name(dom.state()[0]), definition.xml, definition,
                          autostart=bool(dom.autostart()),
                          max_vcpus=int((vcpu.text or "0").strip() or 0) if vcpu is not None else 0)
    if facts.running:
        _state, max_kib, memory_kib, vcpus, _time = dom.info()
        facts.live_vcpus, facts.live_max_vcpus = vcpus, dom.maxVcpus()
        facts.live_memory_kib, facts.live_max_memory_kib = memory_kib, max_kib
    try:
        facts.host_max_vcpus = conn.getMaxVcpus(definition.domain_type or None)
    except libvirt.libvirtError:
        pass  # (some drivers do not say: DEFAULT_MAX_VCPUS)
    facts.host_memory_kib = conn.getInfo()[1] * 1024
    for pool in conn.listAllStoragePools(0):
        root = ET.fromstring(pool.XMLDesc(0))
        active = bool(pool.isActive())
        facts.pools[pool.name()] = PoolFacts(pool.name(), root.get("type", ""), root.findtext("target/path", ""),
                                             pool.info()[3] if active else 0, active,
                                             set(pool.listVolumes()) if active else set())
    facts.networks = sorted(n.name() for n in conn.listAllNetworks(0))
    for disk in definition.disks:
        locate_storage(conn, disk)
        facts.disks.append(disk)
    for other in conn.listAllDomains(0):
        if other.UUIDString() == uuid:
            continue
        try:
            disks = read_domain(other, libvirt.VIR_DOMAIN_XML_INACTIVE).disks
        except libvirt.libvirtError:
            continue  # undefined meanwhile
        for disk in disks:
            for key in disk_keys(disk):
                facts.used_elsewhere.setdefault(key, []).append(other.name())
    return facts
