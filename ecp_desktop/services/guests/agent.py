"""A machine's QEMU guest agent: whether it answers now (the live definition's channel is
connected) and what it says about the guest (libvirt's ``guestInfo``: OS name, hostname).

libvirt answers at once for a machine without an agent channel or whose agent is not
connected; what the agent says is the guest's words: one plain line each. Blocking: a host's
worker.
"""
from __future__ import annotations

from dataclasses import dataclass

import libvirt

from ..core.names import printable_line
from ..libvirt_xml.domain import read_domain
from ..libvirt_xml.xmlmodel import XmlError


@dataclass(frozen=True)
class GuestFacts:
    os_name: str = ""    # "Debian GNU/Linux 12 (bookworm)"
    hostname: str = ""

    def as_json(self) -> dict:
        return {"os_name": self.os_name, "hostname": self.hostname}


def agent_connected(dom: libvirt.virDomain) -> bool:
    """The machine runs and its guest agent's channel is connected (the guest's end is open)."""
    try:
        if not dom.isActive():
            return False
        channel = read_domain(dom).guest_agent
    except (libvirt.libvirtError, XmlError):
        return False
    return channel is not None and channel.target_state == "connected"


def read_guest_facts(dom: libvirt.virDomain) -> GuestFacts:
    """The guest's OS name and hostname from its agent; empty when no agent answers."""
    try:
        info = dom.guestInfo(libvirt.VIR_DOMAIN_GUEST_INFO_OS | libvirt.VIR_DOMAIN_GUEST_INFO_HOSTNAME, 0) or {}
    except libvirt.libvirtError:
        return GuestFacts()  # the agent went away, or is too old for guest-get-osinfo
    return GuestFacts(printable_line(info.get("os.pretty-name") or info.get("os.name")),
                      printable_line(info.get("hostname")))
