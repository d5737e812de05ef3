"""A virtual network (``<network>``) and a host's own interface (``<interface>`` of the
interface driver), as libvirt describes them."""
from __future__ import annotations

from .xmlmodel import XmlChildren, XmlNode, integer, text


class DhcpHost(XmlNode):
    """A fixed address the network's DHCP server gives one MAC (``<dhcp><host>``)."""
    TAG = "host"
    SIBLING_ORDER = ("range", "host", "bootp")
    mac = text("./@mac")
    ip = text("./@ip")
    name = text("./@name")


class NetworkAddress(XmlNode):
    """An ``<ip>`` range of a network, with its DHCP range when it hands out addresses."""
    TAG = "ip"
    address = text("./@address")
    netmask = text("./@netmask")
    prefix = integer("./@prefix")
    family = text("./@family", "ipv4")
    dhcp_start = text("./dhcp/range/@start")
    dhcp_end = text("./dhcp/range/@end")
    static_hosts = XmlChildren(DhcpHost, "./dhcp/host")


class Network(XmlNode):
    TAG = "network"
    ORDER = ("name", "uuid", "title", "description", "metadata", "forward", "bridge", "mtu", "mac", "domain",
             "dns", "ip", "route")
    name = text("./name")
    uuid = text("./uuid")
    forward_mode_text = text("./forward/@mode")
    forward_dev = text("./forward/@dev")
    forward_interface = text("./forward/interface/@dev", doc="macvtap: the host's device the guests share")
    bridge = text("./bridge/@name")
    domain_name = text("./domain/@name")
    addresses = XmlChildren(NetworkAddress, "./ip")

    @property
    def forward_mode(self) -> str:
        """nat, route, open, bridge, ...; "" for an isolated network (no <forward>)."""
        if self.element.find("forward") is None:
            return ""
        return self.forward_mode_text or "nat"


class HostInterface(XmlNode):
    """One of the host's own interfaces (``listAllInterfaces``)."""
    TAG = "interface"
    kind = text("./@type", doc="ethernet, bridge, bond, vlan")
    name = text("./@name")
