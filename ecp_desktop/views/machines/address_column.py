"""The machines table's Addresses column: each running machine's addresses as the address
watch last read them (rows in view only), IPv4 first; the tooltip says each interface's
addresses and where they came from (guest agent, DHCP lease, ARP table)."""
from __future__ import annotations

import ipaddress

from PySide6.QtCore import Qt

from ...services.guests.address_watch import Addresses, AddressWatch
from ...services.inventory.machines import MachineInfo
from ..common.plain import tooltip


def plain_addresses(found: Addresses) -> list[str]:
    """Every address without its prefix, IPv4 before IPv6, link-local ones last."""
    addresses = [ipaddress.ip_interface(a).ip for entry in found.values() for a in entry.addresses]
    addresses.sort(key=lambda ip: (ip.is_link_local, ip.version))
    return [str(ip) for ip in dict.fromkeys(addresses)]


def address_text(found: Addresses) -> str:
    return ", ".join(plain_addresses(found))


class AddressColumn:
    """What the machine model answers for its Addresses column."""

    def __init__(self, watch: AddressWatch) -> None:
        self.watch = watch

    def data(self, m: MachineInfo, role: int):
        found = self.watch.addresses(m.key)
        if role == Qt.ItemDataRole.DisplayRole:
            return address_text(found)
        if role == Qt.ItemDataRole.ToolTipRole:
            if not found:
                return tooltip(f"{m.name}: no address known (read for running machines in view: from the "
                               "guest agent, the network's DHCP leases or the host's ARP table)")
            return tooltip("\n".join([m.name, *(f"{entry.mac}: {entry.text()}" for entry in found.values())]))
        return None

    def sort_key(self):
        return lambda m: (not self.watch.addresses(m.key), address_text(self.watch.addresses(m.key)),
                          m.name.casefold())
