"""Host → Networks… and ``ecp-desktop network``: each change to a host's virtual networks,
checked first (``Refusal`` in words, before any task), then run as a task on the host's
worker. Creating a network defines and starts it; if starting fails, the definition this
task made is removed again and the outcome says so. A deletion is final, and refused while a
running machine uses the network (shut-off ones are named and keep their definition)."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import libvirt

from ..core.events import Event
from ..core.errors import HypervisorError, Refusal
from ..core.names import name_problem
from ..hosts.connection import HostConnection, connected_host
from ..inventory.live import Inventory
from ..libvirt_xml.network import Network, NetworkAddress
from ..tasks.records import TaskRecord
from ..tasks.service import TaskService
from .networks import Lease, NetworkRow, free_bridge, free_subnet, read_leases, read_networks, taken_subnets

CREATABLE_MODES = ("nat", "route", "", "open")  # "" isolated
BRIDGE_NAME_MAX = 15  # Linux's interface name limit


@dataclass(frozen=True)
class NetworkSpec:
    """A new network with its own bridge: NAT, routed, isolated or open, one IPv4 subnet,
    DHCP over the subnet but its first address (the host's)."""
    name: str
    mode: str = "nat"
    subnet: str = ""   # "192.168.100.0/24"; "" proposes a free one
    bridge: str = ""   # "" proposes virbrN
    forward_dev: str = ""
    dhcp: bool = True

    def problem(self, taken_names: set[str], taken: list[ipaddress.IPv4Network]) -> str | None:
        problem = name_problem(self.name)
        if problem:
            return problem.replace("a name", "a network name", 1)
        if self.name in taken_names:
            return f"a network named {self.name!r} exists on this host already"
        if self.mode not in CREATABLE_MODES:
            return f"a network's mode is one of nat, route, isolated, open (not {self.mode!r})"
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

    def to_xml(self, subnet: ipaddress.IPv4Network, bridge: str) -> str:
        network = Network(name=self.name)
        if self.mode:
            network.forward_mode_text = self.mode
            if self.forward_dev:
                network.forward_dev = self.forward_dev
        network.bridge = bridge
        hosts = list(subnet.hosts())
        ip = NetworkAddress(address=str(hosts[0]), netmask=str(subnet.netmask))
        if self.dhcp:
            ip.dhcp_start, ip.dhcp_end = str(hosts[1]), str(hosts[-1])
        network.addresses.append(ip)
        return network.to_xml()


class NetworkService:
    def __init__(self, inventory: Inventory, tasks: TaskService) -> None:
        self.inventory = inventory
        self.tasks = tasks

    def changes(self, uri: str) -> Event | None:
        """The host's event when its networks change in libvirt, by this app or anyone (None: not listed)."""
        host = self.inventory.hosts.get(uri)
        return host.network_event if host is not None else None

    def _host(self, uri: str, operation: str) -> HostConnection:
        return connected_host(self.inventory.hosts.get(uri), uri, operation=operation)

    async def read(self, uri: str, network: str = "") -> list[NetworkRow]:
        return await self._host(uri, "list networks").call(lambda conn: read_networks(conn, network),
                                                           operation="list networks")

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
        subnet_text, bridge = await self.proposal(uri)
        subnet = ipaddress.IPv4Network(spec.subnet) if spec.subnet else ipaddress.IPv4Network(subnet_text)
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
            return f"created and started network {spec.name} ({subnet}, bridge {spec.bridge or bridge})"
        return await self._run(uri, "create_network", f"Create network {spec.name}", create)

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
