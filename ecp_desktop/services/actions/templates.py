"""New machines from a template: plan the steps, then run them on the task engine.

Every new machine gets a clone of each of the template's disks in the same pool,
a new UUID and new MAC addresses, and is defined (and optionally started). The
plan is built up front from the template as it is now, so the tasks pane shows
every step before the first one runs and a crash leaves a complete record.
"""
from __future__ import annotations

import random
import secrets
import re
import uuid as uuidlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import libvirt

from ..core.errors import HypervisorError
from ..hosts.connection import connected_host
from ..hosts.names import BadName, check_file_name, file_name_part, name_problem, parse_pattern
from ..hosts.domain_xml import Disk, locate_storage, read_domain, with_flow_mark
from ..hosts.states import ACTIVE_STATES, state_name
from ..tasks.engine import Group, Step, TaskEngine
from ..tasks.records import TaskRecord

MAX_COUNT = 1000
CONCURRENT_MACHINES = 4


class PlanError(ValueError):
    """The request cannot be planned; the message says why in plain words."""


@dataclass
class Template:
    host_uri: str
    uuid: str
    name: str
    state: str
    xml: str
    disks: list[Disk] = field(default_factory=list)
    domain_names: set[str] = field(default_factory=set)  # every machine name on the host now


def expand_names(pattern: str, count: int, first: int = 1) -> list[str]:
    """``web-{n}`` → web-1, web-2, ...; ``web-{n:03}`` pads. Raises PlanError in words."""
    if not 1 <= count <= MAX_COUNT:
        raise PlanError(f"the count must be between 1 and {MAX_COUNT}")
    try:
        parsed = parse_pattern(pattern)
    except BadName as exc:
        raise PlanError(f"the name pattern is not valid: {exc}") from None
    names = [parsed.name(first + i) for i in range(count)]
    for name in names:
        problem = name_problem(name)
        if problem:
            raise PlanError(f"the pattern makes a name that cannot be used: {problem}")
    return names


def read_template(conn: libvirt.virConnect, host_uri: str, uuid: str) -> Template:
    """Blocking: the template's definition and disks (run in a host's worker thread)."""
    dom = conn.lookupByUUIDString(uuid)
    definition = read_domain(dom, libvirt.VIR_DOMAIN_XML_INACTIVE)
    template = Template(host_uri, uuid, dom.name(), state_name(dom.state()[0]), definition.xml,
                        domain_names={d.name() for d in conn.listAllDomains()})
    for disk in definition.disks:
        if disk.device != "disk":
            continue  # CD-ROMs and floppies are shared, not cloned
        template.disks.append(_cloneable(conn, disk, template.name))
    return template


def _cloneable(conn: libvirt.virConnect, disk: Disk, template: str) -> Disk:
    """The disk with its pool and volume found; PlanError in words when it cannot be cloned."""
    target = disk.target or "?"
    if not disk.has_source:
        raise PlanError(f"disk {target} of {template} has no source to clone")
    if disk.kind not in ("file", "volume"):
        raise PlanError(f"disk {target} of {template} is a {disk.kind} disk; only file and volume disks can be cloned")
    if not locate_storage(conn, disk):
        if disk.kind == "volume":
            conn.storagePoolLookupByName(disk.pool).storageVolLookupByName(disk.volume)  # libvirt's own words
        raise PlanError(f"disk {target} of {template} ({disk.path}) is not in a storage pool, so it "
                        "cannot be cloned; add its directory as a storage pool first")
    return disk


def volume_name(machine: str, disk: Disk) -> str:
    """The clone's volume name: from the machine's name and the disk's target, made safe as a
    file name (both come from names anyone could choose), with the template volume's suffix."""
    suffix = re.search(r"\.[A-Za-z0-9]{2,6}$", disk.volume)
    return check_file_name(f"{file_name_part(machine)}-{file_name_part(disk.target)}"
                           f"{suffix.group(0) if suffix else ''}")


def machine_xml(template: Template, name: str, uuid: str, macs: list[str]) -> str:
    root = ET.fromstring(template.xml)
    root.attrib.pop("id", None)
    root.find("name").text = name
    (root.find("uuid") if root.find("uuid") is not None else ET.SubElement(root, "uuid")).text = uuid
    for tag in ("title", "description"):
        for element in root.findall(tag):
            root.remove(element)
    nvram = root.find("os/nvram")
    if nvram is not None:
        root.find("os").remove(nvram)  # each machine gets its own UEFI variables
    by_target = {d.target: d for d in template.disks}
    for disk in root.findall("devices/disk"):
        target = disk.find("target")
        cloned = by_target.get(target.get("dev")) if target is not None and disk.get("device", "disk") == "disk" \
            else None
        if cloned is None:
            continue
        source, new = disk.find("source"), volume_name(name, cloned)
        if cloned.kind == "volume":
            source.set("volume", new)
        else:
            source.set("file", f"{cloned.pool_path.rstrip('/')}/{new}")
        for serial in disk.findall("serial"):
            disk.remove(serial)
    for nic, mac in zip(root.findall("devices/interface"), macs, strict=False):
        element = nic.find("mac")
        if element is None:
            element = ET.SubElement(nic, "mac")
        element.set("address", mac)
    return ET.tostring(root, encoding="unicode")


def new_macs(count: int, taken: set[str]) -> list[str]:
    macs = []
    while len(macs) < count:
        mac = "52:54:00:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))
        if mac not in taken:
            taken.add(mac)
            macs.append(mac)
    return macs


def plan(template: Template, names: list[str], *, start: bool = False) -> Group:
    if template.state in ACTIVE_STATES:
        raise PlanError(f"{template.name} is {template.state}; shut it down to use it as a template "
                        "(a running machine's disks are not consistent)")
    clashes = sorted(set(names) & template.domain_names)
    if clashes:
        raise PlanError(f"machines named {', '.join(clashes[:5])} already exist on this host; choose another pattern")
    if len(set(names)) != len(names):
        raise PlanError("the pattern gives the same name twice")
    nic_count = len(ET.fromstring(template.xml).findall("devices/interface"))
    taken: set[str] = set()
    uri = template.host_uri
    root = Group("clone_template", f"Create {len(names)} machine{'s' * (len(names) != 1)} from {template.name}",
                 concurrent=True, limit=CONCURRENT_MACHINES, host_uri=uri, target_uuid=template.uuid,
                 target_name=template.name)
    for name in names:
        new_uuid = str(uuidlib.uuid4())
        machine = Group("create_machine", f"Create {name}", host_uri=uri, target_uuid=new_uuid, target_name=name)
        for disk in template.disks:
            new = volume_name(name, disk)
            machine.children.append(Step("clone_volume", f"Clone {disk.volume} to {new}", {
                "pool": disk.pool, "source": disk.volume, "name": new, "capacity": disk.capacity,
                "allocation": disk.allocation, "format": disk.volume_format}, uri, new_uuid, name))
        mark = secrets.token_hex(16)  # what lets an undo know the machine is this flow's own
        xml = with_flow_mark(machine_xml(template, name, new_uuid, new_macs(nic_count, taken)), mark)
        machine.children.append(Step("define_domain", f"Define {name}",
                                     {"uuid": new_uuid, "name": name, "xml": xml, "mark": mark}, uri, new_uuid, name))
        if start:
            machine.children.append(Step("start_domain", f"Start {name}",
                                         {"uuid": new_uuid, "name": name, "mark": mark}, uri, new_uuid, name))
        root.children.append(machine)
    return root


class TemplateService:
    """Plan and run "new machines from template" over the inventory's hosts."""

    def __init__(self, inventory, engine: TaskEngine) -> None:
        self.inventory = inventory
        self.engine = engine

    async def read(self, host_uri: str, uuid: str) -> Template:
        try:
            host = connected_host(self.inventory.hosts.get(host_uri), host_uri, operation="read template")
            return await host.call(lambda conn: read_template(conn, host_uri, uuid), operation="read template")
        except HypervisorError as err:
            raise PlanError(f"cannot read the template: {err.one_line()}") from err

    async def plan(self, host_uri: str, uuid: str, count: int, pattern: str, *, start: bool = False) -> Group:
        names = expand_names(pattern, count)  # check the cheap things before asking the host
        return plan(await self.read(host_uri, uuid), names, start=start)

    async def run(self, flow: Group) -> TaskRecord:
        return await self.engine.run(flow)
