"""What a machine's QEMU guest agent says about the guest (libvirt's ``guestInfo``: OS name,
hostname); whether it answers now is ``libvirt_xml.domain.agent_connected``.

libvirt answers at once for a machine without an agent channel or whose agent is not
connected; what the agent says is the guest's words: one plain line each. Blocking: a host's
worker.
"""
from __future__ import annotations

from dataclasses import dataclass

import libvirt

from ..core.names import printable_line


@dataclass(frozen=True)
class GuestFacts:
    os_name: str = ""    # "Debian GNU/Linux 12 (bookworm)"
    hostname: str = ""

    def as_json(self) -> dict:
        return {"os_name": self.os_name, "hostname": self.hostname}


def read_guest_facts(dom: libvirt.virDomain) -> GuestFacts:
    """The guest's OS name and hostname from its agent; empty when no agent answers."""
    try:
        info = dom.guestInfo(libvirt.VIR_DOMAIN_GUEST_INFO_OS | libvirt.VIR_DOMAIN_GUEST_INFO_HOSTNAME, 0) or {}
    except libvirt.libvirtError:
        return GuestFacts()  # the agent went away, or is too old for guest-get-osinfo
    return GuestFacts(printable_line(info.get("os.pretty-name") or info.get("os.name")),
                      printable_line(info.get("hostname")))
