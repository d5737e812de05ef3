"""Host → Networks… and ``ecp-desktop network``: each change to a host's virtual networks,
checked first (``Refusal`` in words, before any task), then run as a task on the host's
worker. Creating a network defines and starts it; if starting fails, the definition this
task made is removed again and the outcome says so. A deletion is final, and refused while a
running machine uses the network (shut-off ones are named and keep their definition)."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import libvirt

from ..core.events import Event
from ..core.last_known import LastKnown
from ..core.errors import HypervisorError, Refusal
from ..core.names import name_problem
from ..hosts.connection import HostConnection, connected_host
from ..inventory.live import Inventory
from ..libvirt_xml.devices import MAC
from ..libvirt_xml.network import DhcpHost, Network, NetworkAddress
from ..tasks.records import TaskRecord
from ..tasks.service import TaskService
from .networks import Lease, NetworkRow, free_bridge, free_subnet, read_leases, read_networks, taken_subnets

CREATABLE_MODES = ("nat", "route", "", "open", "bridge", "macvtap")  # "" isolated
ADDRESSED_MODES = ("nat", "route", "", "open")  # the network has its own subnet (and DHCP); the others
# put guests on the host's own LAN: "bridge" through an existing host bridge, "macvtap" on a device
BRIDGE_NAME_MAX = 15  # Linux's interface name limit
HOSTNAME = re.compile(r"[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")  # a host name DHCP gives (fullmatch)
DNS_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")  # one label of a domain (fullmatch)


@dataclass(frozen=True)
class NetworkSpec:
    """A new network: NAT, routed, isolated or open with its own bridge, one IPv4 subnet, DHCP
    over the subnet but its first address (the host's) and an optional DNS domain; or guests
    on the host's LAN, through an existing host bridge ("bridge": ``bridge`` names it) or
    macvtap on a device ("macvtap": ``forward_dev``)."""
    name: str
    mode: str = "nat"
    subnet: str = ""   # "192.168.100.0/24"; "" proposes a free one
    bridge: str = ""   # "" proposes virbrN
    forward_dev: str = ""
    dhcp: bool = True
    dns_domain: str = ""

    def problem(self, taken_names: set[str], taken: list[ipaddress.IPv4Network]) -> str | None:
        problem = name_problem(self.name)
        if problem:
            return problem.replace("a name", "a network name", 1)
        if self.name in taken_names:
            return f"a network named {self.name!r} exists on this host already"
        if self.mode not in CREATABLE_MODES:
            return f"a network's mode is one of nat, route, isolated, open, bridge, macvtap (not {self.mode!r})"
        if self.mode == "bridge" and not self.bridge:
            return "a bridged network names the host's bridge (br0, ...)"
        if self.mode == "macvtap" and not self.forward_dev:
            return "a macvtap network names the host's device (eth0, ...)"
        if self.dns_domain and not all(DNS_LABEL.fullmatch(label) for label in self.dns_domain.split(".")):
            return f"{self.dns_domain!r} is not a DNS domain (labels of letters, digits and '-')"
        if self.bridge and (len(self.bridge) > BRIDGE_NAME_MAX or not self.bridge.replace("-", "").replace(
                "_", "").isalnum() or not self.bridge.isascii()):
            return f"a bridge name has at most {BRIDGE_NAME_MAX} letters, digits, '-' or '_' ({self.bridge!r})"
        try:
            subnet = ipaddress.IPv4Network(self.subnet) if self.subnet else None
        except ValueError as exc:
            return f"the subnet is not an IPv4 network such as 192.168.100.0/24: {exc}"
        if subnet is not None:
            if subnet.prefixlen > 29:
                return "the subnet is too small (at most /29)"
            clash = next((t for t in taken if t.overlaps(subnet)), None)
            if clash is not None:
                return f"the subnet {subnet} overlaps {clash}, used by another network of this host"
        if self.forward_dev and not self.forward_dev.replace("-", "").replace(".", "").isalnum():
            return f"the forward device {self.forward_dev!r} is not an interface name"
        return None

    def to_xml(self, subnet: ipaddress.IPv4Network | None, bridge: str) -> str:
        network = Network(name=self.name)
        if self.mode in ("bridge", "macvtap"):
            network.forward_mode_text = "bridge"
            if self.mode == "bridge":
                network.bridge = self.bridge
            else:
                network.forward_interface = self.forward_dev
            return network.to_xml()
        assert subnet is not None
        if self.dns_domain:
            network.domain_name = self.dns_domain
        if self.mode:
            network.forward_mode_text = self.mode
            if self.forward_dev:
                network.forward_dev = self.forward_dev
        network.bridge = bridge
        # (never a list of the subnet's hosts: a /8 has 16 million)
        first, last = subnet.network_address + 1, subnet.broadcast_address - 1
        ip = NetworkAddress(address=str(first), netmask=str(subnet.netmask))
        if self.dhcp:
            ip.dhcp_start, ip.dhcp_end = str(first + 1), str(last)
        network.addresses.append(ip)
        return network.to_xml()


def static_host_problem(network: Network, mac: str, ip: str, hostname: str) -> tuple[str | None, int]:
    """Why ``mac`` cannot get the fixed address ``ip`` on ``network`` (None when it can), and
    the index of the ``<ip>`` range it belongs to."""
    if not MAC.fullmatch(mac):
        return f"{mac!r} is not a MAC address such as 52:54:00:12:34:56", -1
    try:
        address = ipaddress.IPv4Address(ip)
    except ValueError:
        return f"{ip!r} is not an IPv4 address such as 192.168.122.50", -1
    if hostname and not HOSTNAME.fullmatch(hostname):
        return f"{hostname!r} is not a host name (a letter, then letters, digits and '-', at most 63)", -1
    subnets = []
    for index, block in enumerate(network.addresses):  # (libvirt counts every <ip>, IPv6 ones too)
        if block.family != "ipv4":
            continue
        try:
            interface = ipaddress.IPv4Interface(f"{block.address}/{block.prefix or block.netmask or 24}")
        except ValueError:
            continue
        subnets.append(str(interface.network))
        if address not in interface.network:
            continue
        if not block.dhcp_start:
            return f"network {network.name} hands out no addresses on {interface.network} (no DHCP)", -1
        if address in (interface.ip, interface.network.network_address, interface.network.broadcast_address):
            return f"{ip} is the network's own or its broadcast address", -1
        for fixed in block.static_hosts:
            if fixed.mac.lower() == mac:
                return f"{mac} has the fixed address {fixed.ip} already; remove it first", -1
            if fixed.ip == ip:
                return f"{ip} is fixed for {fixed.mac} already", -1
        return None, index
    return f"{ip} is in none of network {network.name}'s subnets ({', '.join(subnets) or 'none'})", -1


class NetworkService:
    def __init__(self, inventory: Inventory, tasks: TaskService) -> None:
        self.inventory = inventory
        self.tasks = tasks
        self.last_known: LastKnown[NetworkRow] = LastKnown()  # each host's last whole reading

    def changes(self, uri: str) -> Event | None:
        """The host's event when its networks change in libvirt, by this app or anyone (None: not listed)."""
        host = self.inventory.hosts.get(uri)
        return host.network_event if host is not None else None

    def host_state(self, uri: str) -> Event | None:
        """The host's event when it connects or goes away (None: not listed)."""
        host = self.inventory.hosts.get(uri)
        return host.state_changed if host is not None else None

    def _host(self, uri: str, operation: str) -> HostConnection:
        return connected_host(self.inventory.hosts.get(uri), uri, operation=operation)

    async def read(self, uri: str, network: str = "") -> list[NetworkRow]:
        """The host's networks (``network``: that one); a whole reading is kept as last known."""
        rows = await self._host(uri, "list networks").call(lambda conn: read_networks(conn, network),
                                                           operation="list networks")
        return rows if network else self.last_known.keep(uri, rows)

    async def network(self, uri: str, name: str) -> NetworkRow:
        try:
            [row] = await self.read(uri, name)
        except HypervisorError as err:
            if err.code == libvirt.VIR_ERR_NO_NETWORK:
                raise Refusal(f"the host has no network named {name!r}") from None
            raise
        return row

    async def leases(self, uri: str, name: str) -> list[Lease]:
        await self.network(uri, name)
        return await self._host(uri, "list leases").call(lambda conn: read_leases(conn, name),
                                                         operation="list DHCP leases")

    async def proposal(self, uri: str) -> tuple[str, str]:
        """A free subnet and bridge name for a new network: what the form and the command fill in."""
        def propose(conn: libvirt.virConnect) -> tuple[str, str]:
            return str(free_subnet(taken_subnets(conn))), free_bridge(conn)
        return await self._host(uri, "propose a network").call(propose, operation="propose a network")

    async def _run(self, uri: str, kind: str, title: str, fn) -> TaskRecord:
        host = self._host(uri, title)

        async def work() -> str:
            return await host.call(fn, operation=title)
        return await self.tasks.run(kind, title, work, host_uri=uri)

    async def create(self, uri: str, spec: NetworkSpec, *, autostart: bool = True) -> TaskRecord:
        host = self._host(uri, "create network")
        names, taken = await host.call(lambda conn: ({r.name for r in read_networks(conn)}, taken_subnets(conn)),
                                       operation="create network")
        problem = spec.problem(names, taken)
        if problem:
            raise Refusal(problem)
        if spec.mode in ADDRESSED_MODES:
            subnet_text, bridge = await self.proposal(uri)
            subnet = ipaddress.IPv4Network(spec.subnet) if spec.subnet else ipaddress.IPv4Network(subnet_text)
            made = f"{subnet}, bridge {spec.bridge or bridge}"
        else:
            subnet, bridge = None, spec.bridge
            made = f"guests on the host's LAN through {spec.bridge or spec.forward_dev}"
        xml = spec.to_xml(subnet, spec.bridge or bridge)

        def create(conn: libvirt.virConnect) -> str:
            network = conn.networkDefineXML(xml)
            try:
                network.create()
                if autostart:
                    network.setAutostart(1)
            except libvirt.libvirtError as exc:
                network.undefine()
                raise Refusal(f"network {spec.name} could not be started: {exc.get_error_message()}; "
                              "its definition removed") from None
            return f"created and started network {spec.name} ({made})"
        return await self._run(uri, "create_network", f"Create network {spec.name}", create)

    async def add_static_host(self, uri: str, name: str, mac: str, ip: str, hostname: str = "") -> TaskRecord:
        """A fixed DHCP address for ``mac`` (now, when the network runs, and from its next start)."""
        mac = mac.strip().lower()
        host = self._host(uri, "fix an address")

        def check(conn: libvirt.virConnect) -> str | None:
            return static_host_problem(Network.from_xml(conn.networkLookupByName(name).XMLDesc(0)), mac, ip,
                                       hostname)[0]
        await self.network(uri, name)
        problem = await host.call(check, operation="fix an address")
        if problem:
            raise Refusal(problem)

        def add(conn: libvirt.virConnect) -> str:
            network = conn.networkLookupByName(name)
            problem, index = static_host_problem(Network.from_xml(network.XMLDesc(0)), mac, ip, hostname)
            if problem:  # (changed meanwhile)
                raise Refusal(problem)
            fixed = DhcpHost(mac=mac, ip=ip, name=hostname).to_xml()
            network.update(libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST,
                           index, fixed, _update_flags(network))
            return f"{mac} gets {ip} on network {name}" + (f" as {hostname}" if hostname else "")
        return await self._run(uri, "fix_address", f"Fix address {ip} on network {name}", add)

    async def remove_static_host(self, uri: str, name: str, mac: str) -> TaskRecord:
        mac = mac.strip().lower()
        row = await self.network(uri, name)
        fixed = next((h for h in row.static_hosts if h.mac == mac), None)
        if fixed is None:
            raise Refusal(f"network {name} has no fixed address for {mac}")

        def remove(conn: libvirt.virConnect) -> str:
            network = conn.networkLookupByName(name)
            described = Network.from_xml(network.XMLDesc(0))
            for index, block in enumerate(described.addresses):
                for entry in block.static_hosts:
                    if entry.mac.lower() == mac:
                        network.update(libvirt.VIR_NETWORK_UPDATE_COMMAND_DELETE,
                                       libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST, index, entry.to_xml(),
                                       _update_flags(network))
                        return f"{mac} no longer has a fixed address ({entry.ip}) on network {name}"
            return f"{mac} had no fixed address on network {name} any more"
        return await self._run(uri, "unfix_address", f"Remove fixed address {fixed.ip} of network {name}", remove)

    async def start(self, uri: str, name: str) -> TaskRecord:
        return await self._run(uri, "start_network", f"Start network {name}",
                               lambda conn: (conn.networkLookupByName(name).create(), f"started network {name}")[1])

    async def stop(self, uri: str, name: str) -> TaskRecord:
        row = await self.network(uri, name)
        if row.running:
            raise Refusal(f"network {name} is used by running machines ({', '.join(row.running)}); "
                          "stopping it would cut them off")
        return await self._run(uri, "stop_network", f"Stop network {name}",
                               lambda conn: (conn.networkLookupByName(name).destroy(), f"stopped network {name}")[1])

    async def set_autostart(self, uri: str, name: str, on: bool) -> TaskRecord:
        words = "starts with the host" if on else "no longer starts with the host"
        return await self._run(uri, "network_autostart", f"Network {name} {words}", lambda conn: (
            conn.networkLookupByName(name).setAutostart(int(on)), f"network {name} {words}")[1])

    async def delete(self, uri: str, name: str) -> TaskRecord:
        row = await self.network(uri, name)
        if row.running:
            raise Refusal(f"network {name} is used by running machines ({', '.join(row.running)}); not deleted")
        kept = f"; {', '.join(row.machines)} still name it (start them only once it exists again)" \
            if row.machines else ""

        def delete(conn: libvirt.virConnect) -> str:
            network = conn.networkLookupByName(name)
            again = read_networks(conn, name)[0]
            if again.running:
                raise Refusal(f"network {name} is used by {', '.join(again.running)} now; not deleted")
            if network.isActive():
                network.destroy()
            network.undefine()
            return f"deleted network {name}{kept}"
        return await self._run(uri, "delete_network", f"Delete network {name}", delete)


def _update_flags(network: libvirt.virNetwork) -> int:
    """A running network's change applies now, a defined one's at its next start too (a
    transient network has no definition to change)."""
    live = libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE if network.isActive() else 0
    config = libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG if network.isPersistent() else 0
    return live | config
