"""What a host's virtual networks are now, the machines attached to each (by their inactive
definitions; running ones marked), their DHCP leases with the machine each belongs to, and a
free subnet and bridge name for a new one. Blocking: a host's worker."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import libvirt

from ..core.errors import HypervisorError

from ..libvirt_xml.domain import parse_domain
from ..libvirt_xml.network import Network
from ..libvirt_xml.xmlmodel import XmlError

MODES = {"nat": "NAT", "route": "routed", "": "isolated", "open": "open", "bridge": "bridge to a host bridge",
         "passthrough": "macvtap passthrough", "private": "macvtap private", "vepa": "macvtap VEPA",
         "hostdev": "SR-IOV"}


@dataclass(frozen=True)
class StaticHost:
    mac: str
    ip: str
    hostname: str = ""
    machine: str = ""  # the machine with that MAC on this host, if any

    def as_json(self) -> dict:
        return {"mac": self.mac, "ip": self.ip, "hostname": self.hostname, "machine": self.machine}


@dataclass(frozen=True)
class NetworkRow:
    name: str
    mode: str          # nat, route, open, bridge, ... ("" isolated)
    bridge: str
    active: bool
    autostart: bool
    ranges: tuple[str, ...] = ()   # "192.168.122.0/24"
    dhcp: tuple[str, ...] = ()     # "192.168.122.2 – 192.168.122.254"
    machines: tuple[str, ...] = ()  # attached, by definition
    running: tuple[str, ...] = ()   # of those, running now
    static_hosts: tuple[StaticHost, ...] = ()  # fixed DHCP addresses, by MAC

    @property
    def mode_text(self) -> str:
        if self.mode == "bridge" and not self.bridge:
            return "macvtap bridge"  # <forward mode='bridge'> over a device, not a host bridge
        return MODES.get(self.mode, self.mode)

    def as_json(self) -> dict:
        return {"name": self.name, "mode": self.mode or "isolated", "bridge": self.bridge, "active": self.active,
                "autostart": self.autostart, "ranges": list(self.ranges), "dhcp": list(self.dhcp),
                "machines": list(self.machines), "running": list(self.running),
                "static_hosts": [h.as_json() for h in self.static_hosts]}


@dataclass(frozen=True)
class Lease:
    mac: str
    address: str  # "192.168.122.45/24"
    hostname: str
    expires: int   # epoch seconds (0: never)
    machine: str = ""

    def as_json(self) -> dict:
        return {"mac": self.mac, "address": self.address, "hostname": self.hostname, "expires": self.expires,
                "machine": self.machine}


@dataclass
class Attachments:
    """Which machines' interfaces name which network (inactive definitions; running marked)."""
    by_network: dict[str, set[str]] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)
    by_mac: dict[str, str] = field(default_factory=dict)


def read_attachments(conn: libvirt.virConnect) -> Attachments:
    """Which machines' interfaces name which network: the inactive definitions, and while a
    machine runs its live one too (an interface plugged in for this boot only)."""
    found = Attachments()
    for dom in conn.listAllDomains(0):
        try:
            name, active = dom.name(), bool(dom.isActive())
            xmls = [dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)] + ([dom.XMLDesc(0)] if active else [])
            domains = [parse_domain(xml) for xml in xmls]
        except (libvirt.libvirtError, XmlError):
            continue
        if active:
            found.running.add(name)
        for domain in domains:
            for nic in domain.interfaces:
                if nic.mac:
                    found.by_mac[nic.mac.lower()] = name
                if nic.kind == "network" and nic.source_network:
                    found.by_network.setdefault(nic.source_network, set()).add(name)
    return found


def read_networks(conn: libvirt.virConnect, only: str = "") -> list[NetworkRow]:
    attached = read_attachments(conn)
    networks = [conn.networkLookupByName(only)] if only else conn.listAllNetworks(0)
    rows = []
    for net in networks:
        try:
            described = Network.from_xml(net.XMLDesc(0))
            active, autostart = bool(net.isActive()), bool(net.autostart())
        except (libvirt.libvirtError, XmlError):
            continue
        ranges, dhcp, static = [], [], []
        for ip in described.addresses:
            static.extend(StaticHost(h.mac.lower(), h.ip, h.name, attached.by_mac.get(h.mac.lower(), ""))
                          for h in ip.static_hosts)
            cidr = _cidr(ip.address, ip.netmask, ip.prefix)
            if cidr:
                ranges.append(cidr)
            if ip.dhcp_start and ip.dhcp_end:
                dhcp.append(f"{ip.dhcp_start} – {ip.dhcp_end}")
        machines = sorted(attached.by_network.get(described.name, ()))
        rows.append(NetworkRow(described.name, described.forward_mode, described.bridge, active, autostart,
                               tuple(ranges), tuple(dhcp), tuple(machines),
                               tuple(m for m in machines if m in attached.running), tuple(static)))
    return sorted(rows, key=lambda r: r.name)


def _cidr(address: str, netmask: str, prefix: int | None) -> str:
    try:
        return str(ipaddress.ip_interface(f"{address}/{prefix or netmask or 24}").network)
    except ValueError:
        return ""


def read_leases(conn: libvirt.virConnect, network: str) -> list[Lease]:
    """The network's DHCP leases, each with the machine whose interface has that MAC."""
    by_mac = read_attachments(conn).by_mac
    leases = []
    for entry in conn.networkLookupByName(network).DHCPLeases() or []:
        mac = str(entry.get("mac") or "").lower()
        try:
            address = str(ipaddress.ip_interface(f"{entry.get('ipaddr')}/{int(entry.get('prefix') or 0)}"))
        except (ValueError, TypeError):
            continue  # dnsmasq's file is the host's data: an entry that is not an address is left out
        leases.append(Lease(mac, address, str(entry.get("hostname") or "")[:253], int(entry.get("expirytime") or 0),
                            by_mac.get(mac, "")))
    return sorted(leases, key=lambda lease: ipaddress.ip_interface(lease.address).ip)


def taken_subnets(conn: libvirt.virConnect) -> list[ipaddress.IPv4Network]:
    """The IPv4 subnets the host's networks use, and, when the host is this computer, the
    ones its routing table reaches (a LAN, a VPN: a new network there would hide them)."""
    taken = []
    for row in read_networks(conn):
        for cidr in row.ranges:
            network = ipaddress.ip_network(cidr)
            if isinstance(network, ipaddress.IPv4Network):
                taken.append(network)
    return taken + _local_routes(conn)


ROUTES = "/proc/net/route"


def routed_subnets(table: str) -> list[ipaddress.IPv4Network]:
    """The destinations of a Linux IPv4 routing table (the text of /proc/net/route: hex,
    little-endian), the default route left out; a line that is not a route is skipped."""
    found = []
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            destination = ipaddress.IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
            mask = ipaddress.IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
            network = ipaddress.IPv4Network(f"{destination}/{mask}", strict=False)
        except (ValueError, OverflowError):
            continue
        if network.prefixlen:
            found.append(network)
    return found


def _local_routes(conn: libvirt.virConnect) -> list[ipaddress.IPv4Network]:
    """This computer's routes when the host is this computer (a local URI of a real driver);
    none otherwise (libvirt does not tell a remote host's routes)."""
    try:
        local = not urlsplit(conn.getURI()).hostname and conn.getType() != "Test"
    except libvirt.libvirtError:
        return []
    if not local:
        return []
    try:
        with open(ROUTES, encoding="ascii", errors="replace") as table:
            return routed_subnets(table.read(1 << 20))
    except OSError:
        return []


def free_subnet(taken: list[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    """The first 192.168.N.0/24 (N from 100) that overlaps none of ``taken``; then 10.N.0.0/24."""
    candidates = [ipaddress.ip_network(f"192.168.{n}.0/24") for n in range(100, 255)] + \
        [ipaddress.ip_network(f"10.{n}.0.0/24") for n in range(100, 255)]
    for candidate in candidates:
        if not any(candidate.overlaps(t) for t in taken):
            return candidate
    raise ValueError("no free private /24 subnet is left on this host")


def free_bridge(conn: libvirt.virConnect) -> str:
    """The first virbrN no network of the host names."""
    used = {row.bridge for row in read_networks(conn)}
    return next(f"virbr{n}" for n in range(1, 1000) if f"virbr{n}" not in used)


_NOT_ACTIVE = re.compile(r"network '([^']{1,200})' is not active")


def inactive_network_in(error: object) -> str:
    """The network a failure says is not active (a machine started on a stopped network), or
    "": what the error dialog offers to start."""
    if not isinstance(error, HypervisorError) or error.code != libvirt.VIR_ERR_OPERATION_INVALID:
        return ""
    found = _NOT_ACTIVE.search(error.str2 or "") or _NOT_ACTIVE.search(error.message)
    return found.group(1) if found else ""
