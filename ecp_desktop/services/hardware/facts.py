"""What an edit is checked against: the machine's definition and live figures, and the host's
pools, networks and limits, read in one blocking call (a host's worker thread)."""
from __future__ import annotations

from dataclasses import dataclass, field

import libvirt

from ..libvirt_xml.domain import Disk, Domain, read_domain
from ..libvirt_xml.storage import DiskUsers, PoolSummary, disk_users, locate, read_pools
from ..hosts.states import ACTIVE_STATES, state_name

GIB = 1024 ** 3
DEFAULT_MAX_VCPUS = 256  # when the host does not say (getMaxVcpus refused)


@dataclass
class HardwareFacts:
    """The machine as it is now. ``xml`` is the inactive definition every edit starts from."""

    host_uri: str
    uuid: str
    name: str
    state: str
    xml: str
    definition: Domain
    autostart: bool = False
    max_vcpus: int = 0           # <vcpu> in the definition: the most it may have
    live_vcpus: int = 0          # a running machine's figures (0 when shut off)
    live_max_vcpus: int = 0
    live_memory_kib: int = 0
    live_max_memory_kib: int = 0
    host_max_vcpus: int = DEFAULT_MAX_VCPUS
    host_memory_kib: int = 0
    pools: dict[str, PoolSummary] = field(default_factory=dict)
    networks: list[str] = field(default_factory=list)
    inactive_networks: set[str] = field(default_factory=set)  # defined, not started
    disks: list[Disk] = field(default_factory=list)  # the definition's, located in the pools
    used_elsewhere: DiskUsers = field(default_factory=DiskUsers)  # the other machines' storage

    @property
    def running(self) -> bool:
        return self.state in ACTIVE_STATES

    def disk(self, target: str) -> Disk | None:
        return next((d for d in self.disks if d.target == target), None)

    def has_nic(self, mac: str) -> bool:
        return any(n.mac.lower() == mac.lower() for n in self.definition.interfaces)


def read_facts(conn: libvirt.virConnect, host_uri: str, uuid: str) -> HardwareFacts:
    """Blocking: everything an edit of machine ``uuid`` is checked against."""
    dom = conn.lookupByUUIDString(uuid)
    definition = read_domain(dom, libvirt.VIR_DOMAIN_XML_INACTIVE)
    facts = HardwareFacts(host_uri, uuid, dom.name(), state_name(dom.state()[0]), definition.xml, definition,
                          autostart=bool(dom.autostart()), max_vcpus=definition.max_vcpus)
    if facts.running:
        _state, max_kib, memory_kib, vcpus, _time = dom.info()
        facts.live_vcpus, facts.live_max_vcpus = vcpus, dom.maxVcpus()
        facts.live_memory_kib, facts.live_max_memory_kib = memory_kib, max_kib
    try:
        facts.host_max_vcpus = conn.getMaxVcpus(definition.domain_type or None)
    except libvirt.libvirtError:
        pass  # (some drivers do not say: DEFAULT_MAX_VCPUS)
    facts.host_memory_kib = conn.getInfo()[1] * 1024
    facts.pools = read_pools(conn)
    networks = conn.listAllNetworks(0)
    facts.networks = sorted(n.name() for n in networks)
    facts.inactive_networks = {n.name() for n in networks if not n.isActive()}
    for disk in definition.disks:
        locate(conn, disk)
        facts.disks.append(disk)
    facts.used_elsewhere = disk_users(conn, except_uuid=uuid)
    return facts
