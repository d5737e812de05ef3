"""Tiny lab guests on real daemons, and where a machine is: shared by the lab tests that move
machines between hosts (evacuation, maintenance, migration)."""
from __future__ import annotations

import libvirt

from ..helpers import TINY_XML

STATES = {1: "running", 3: "paused", 5: "shutoff"}


def open_admin(uri: str) -> libvirt.virConnect:
    """Another client, as virsh would be (errors not printed)."""
    libvirt.registerErrorHandler(lambda *_: None, None)
    return libvirt.open(uri)


def tiny_guest_xml(name: str, uuid: str, mib: int = 64) -> str:
    return (TINY_XML.replace("tiny1", name).replace("c0ffee00-0000-4000-8000-000000000001", uuid)
            .replace("<memory unit='MiB'>64</memory>", f"<memory unit='MiB'>{mib}</memory>")
            .replace("<currentMemory unit='MiB'>64</currentMemory>",
                     f"<currentMemory unit='MiB'>{mib}</currentMemory>"))


def where_is(uuid: str, *uris: str) -> dict[str, str]:
    """{uri: state} of the hosts that have the machine (running, paused or a shut-off definition)."""
    found = {}
    for uri in uris:
        conn = open_admin(uri)
        try:
            dom = conn.lookupByUUIDString(uuid)
            found[uri] = STATES.get(dom.state()[0], str(dom.state()))
        except libvirt.libvirtError:
            pass
        finally:
            conn.close()
    return found


def clear_host(uri: str) -> None:
    """Every machine of the host destroyed and undefined."""
    conn = open_admin(uri)
    try:
        for dom in conn.listAllDomains():
            if dom.isActive():
                dom.destroy()
            try:
                dom.undefine()
            except libvirt.libvirtError:
                pass
    finally:
        conn.close()
