"""What a destination must offer a dead host's machine, read from the destination through libvirt.

The dead host cannot be asked anything: what is known of a machine is the inventory's last
definition, which is data. The definition defined on the destination is rebuilt from it
(rebuild.py): each disk must be a volume of an active pool there (a pool on a shared
directory, NFS...), so the machine started there opens the same disk the dead host did; a
disk on storage only the dead host had is the reason the machine cannot be recovered there.
Blocking: run on the destination's worker.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import libvirt

from ..libvirt_xml.domain import Domain
from ..libvirt_xml.xmlmodel import XmlError
from ..hosts.lookups import find_domain
from ..core.names import name_problem
from .rebuild import Rebuilt, rebuild


@dataclass
class Destination:
    """What one destination offers, read once for every machine checked against it."""
    uri: str
    free_memory: int | None = None            # bytes
    networks: dict[str, bool] = field(default_factory=dict)  # name -> active
    names: set[str] = field(default_factory=set)   # machines defined there now
    uuids: set[str] = field(default_factory=set)


def read_destination(conn: libvirt.virConnect, uri: str) -> Destination:
    found = Destination(uri)
    try:
        found.free_memory = conn.getFreeMemory()
    except libvirt.libvirtError:
        found.free_memory = None
    for network in conn.listAllNetworks(0):
        found.networks[network.name()] = bool(network.isActive())
    for dom in conn.listAllDomains(0):
        found.names.add(dom.name())
        found.uuids.add(dom.UUIDString())
    return found


def stored_definition(uuid: str, name: str, xml: str | None) -> tuple[Domain | None, str]:
    """The stored definition parsed (data: what is built from it is rebuild.py's), or why it
    cannot be used."""
    if not xml:
        return None, "the inventory has no definition of it (import it while its host answers: ecp-desktop import)"
    try:
        definition = Domain.from_xml(xml)
    except XmlError as exc:
        return None, f"its stored definition cannot be used: {exc}"
    if definition.uuid != uuid:  # (libvirt writes UUIDs in lower case, the rows too)
        return None, f"its stored definition names another UUID ({definition.uuid or 'none'})"
    problem = name_problem(definition.name)
    if problem:
        return None, f"its stored definition's name cannot be used: {problem}"
    if definition.name != name:
        return None, f"its stored definition names another machine ({definition.name})"
    return definition, ""


def why_not_there(conn: libvirt.virConnect, found: Destination, stored: Domain,
                  used_elsewhere: dict[str, list[str]]) -> Rebuilt:
    """The machine's definition rebuilt for this destination (rebuild.py), with every reason it
    cannot be defined and started there (each disk and network named)."""
    if stored.uuid in found.uuids or find_domain(conn, stored.uuid) is not None:
        return Rebuilt(problems=[f"{stored.name} is defined there already (same UUID): recovered or moved before?"])
    if stored.name in found.names:
        return Rebuilt(problems=[f"another machine named {stored.name} is defined there"])
    built = rebuild(conn, stored, used_elsewhere)
    for network in dict.fromkeys(built.networks):
        if network not in found.networks:
            built.problems.append(f"network {network} does not exist there")
        elif not found.networks[network]:
            built.problems.append(f"network {network} is not active there")
    if built.problems:
        built.xml = ""
    return built
