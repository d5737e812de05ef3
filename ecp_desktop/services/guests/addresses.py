"""A running machine's IP addresses per network interface, and where each came from: the guest
agent first (what the guest says), then the network's DHCP leases (what libvirt's dnsmasq
gave), then the host's ARP table (what the host saw on the wire) — libvirt's
``interfaceAddresses`` with its three sources. Blocking: a host's worker.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import libvirt

SOURCES = (
    (libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT, "guest agent"),
    (libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE, "DHCP lease"),
    (libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP, "ARP table"),
)


@dataclass
class InterfaceAddresses:
    mac: str
    addresses: list[str] = field(default_factory=list)  # "192.168.122.3/24", "fe80::1/64"
    source: str = ""  # where they came from, in words

    def text(self) -> str:
        return f"{', '.join(self.addresses)} ({self.source})" if self.addresses else ""


def read_addresses(dom: libvirt.virDomain) -> dict[str, InterfaceAddresses]:
    """MAC (lower case) -> its addresses, from the first source that knows that interface; {}
    for a machine that does not run. A source the host or guest cannot answer is skipped."""
    if not dom.isActive():
        return {}
    found: dict[str, InterfaceAddresses] = {}
    for source, words in SOURCES:
        try:
            answer = dom.interfaceAddresses(source, 0) or {}
        except libvirt.libvirtError:
            continue  # no agent, no lease for it, or the driver has no such source
        for _name, interface in answer.items():
            mac = str(interface.get("hwaddr") or "").lower()
            addresses = [checked_address(a) for a in interface.get("addrs") or []]
            addresses = [a for a in addresses if a]
            if mac and addresses and mac not in found:
                found[mac] = InterfaceAddresses(mac, addresses, words)
    return found


def checked_address(entry: dict) -> str:
    """One address as "ADDR/PREFIX", checked (a guest agent's answer is the guest's words)."""
    try:
        parsed = ipaddress.ip_address(str(entry.get("addr", "")))
        prefix = int(entry.get("prefix", 0))
    except (ValueError, TypeError):
        return ""
    if parsed.is_loopback or not 0 <= prefix <= parsed.max_prefixlen:
        return ""
    return f"{parsed}/{prefix}"
