"""New machines from a template: plan the steps, then run them on the task engine.

Every new machine gets a clone of each of the template's disks in the same pool (or,
linked, a qcow2 overlay reading it), a new UUID and new MAC addresses, and is defined
(and optionally started). The
plan is built up front from the template as it is now, so the tasks pane shows
every step before the first one runs and a crash leaves a complete record.

What makes a machine unusable as a template is decided here, once, for the dialog
(which greys such machines before Create) and for the plan (which refuses them):
:func:`state_problem` from its state, and each disk that cannot be copied (a block
or network disk, a file in no storage pool) in ``Template.uncopyable``. Such disks can be
left out on request: the new machines then have no copy of them (never a share).
"""
from __future__ import annotations

import secrets
import uuid as uuidlib
from dataclasses import dataclass, field

import libvirt

from ..core.errors import HypervisorError
from ..hosts.connection import connected_host
from ..core.names import BadName, NamePattern, name_problem, parse_pattern
from ..libvirt_xml.devices import new_macs, volume_name, volume_suffix
from ..libvirt_xml.domain import Disk, Domain, read_domain
from ..libvirt_xml.marks import with_flow_mark
from ..libvirt_xml.storage import FILE_POOLS, locate
from ..hosts.states import ACTIVE_STATES, STATE_LABELS, state_name
from ..tasks.engine import Group, Step, TaskEngine
from ..tasks.records import TaskRecord

MAX_COUNT = 1000
CONCURRENT_MACHINES = 4


class PlanError(ValueError):
    """The request cannot be planned; the message says why in plain words."""


@dataclass(frozen=True)
class Uncopyable:
    """A disk of the template that cannot be copied, and why (``short`` for a list row)."""

    index: int   # its place among the definition's <disk> elements
    target: str
    short: str
    reason: str


@dataclass
class Template:
    host_uri: str
    uuid: str
    name: str
    state: str
    xml: str
    disks: list[Disk] = field(default_factory=list)  # the disks each new machine gets a copy of
    domain_names: set[str] = field(default_factory=set)  # every machine name on the host now
    uncopyable: list[Uncopyable] = field(default_factory=list)

    def problem(self, *, leave_out_disks: bool = False, linked: bool = False) -> str | None:
        """Why this machine cannot be used as a template now, or None when it can."""
        problem = state_problem(self.name, self.state, linked=linked)
        if not problem and linked:
            problem = "; ".join(filter(None, (linked_problem(d, self.name) for d in self.disks))) or None
        if problem or not self.uncopyable or leave_out_disks:
            return problem
        return "; ".join(u.reason for u in self.uncopyable)


def linked_problem(disk: Disk, machine: str) -> str | None:
    """Why a linked clone cannot read this disk as its base (a qcow2 overlay names its base
    by path: a raw or qcow2 file of a pool of files), or None."""
    if disk.pool_type not in FILE_POOLS or not disk.path:
        return (f"disk {disk.target} of {machine} is in a {disk.pool_type or 'non-file'} pool; a linked clone "
                "needs its base as a file (make a full copy)")
    if base_format(disk) not in ("qcow2", "raw"):
        return (f"disk {disk.target} of {machine} is {disk.volume_format}; a linked clone reads a qcow2 or raw "
                "base (make a full copy)")
    return None


def base_format(disk: Disk) -> str:
    """The format an overlay names for its base: the volume's (raw when the pool names none,
    libvirt's default for a file)."""
    return disk.volume_format or "raw"


def state_problem(name: str, state: str, *, linked: bool = False) -> str | None:
    """Why a machine in ``state`` cannot be copied (only a shut-off or paused one's disks stand
    still while they are read), or None. ``linked``: only a shut-off one (its disks become the
    copies' base, which no running machine may write)."""
    if state == "shutoff" or (state == "paused" and not linked):
        return None
    if state == "paused":
        return f"{name} is paused; shut it down to make linked clones of it (their base must not change)"
    if state == "crashed":
        return f"{name} has crashed; force it off first (a crashed machine's disks may be half-written)"
    if state == "shutdown":
        return f"{name} is shutting down; wait until it is shut off"
    if state in ACTIVE_STATES:
        if linked:
            return (f"{name} is {STATE_LABELS.get(state, state)}; shut it down to make linked clones of it "
                    "(their base must not change)")
        return (f"{name} is {STATE_LABELS.get(state, state)}; pause it or shut it down to copy it "
                "(a running machine's disks change while they are read)")
    return f"{name}'s state is not known; only a shut-off or paused machine can be copied"


def clone_pattern(name: str, count: int, taken: set[str]) -> str:
    """Machine → Clone…'s default: NAME-clone for one copy (NAME-clone-2, -3… when taken);
    NAME-clone-{n} for several."""
    if count != 1:
        return f"{name}-clone-{{n}}"
    candidate, number = f"{name}-clone", 1
    while candidate in taken:
        number += 1
        candidate = f"{name}-clone-{number}"
    return candidate.replace("{", "{{").replace("}", "}}")  # a plain name, escaped as the pattern language wants


def expand_names(pattern: str, count: int, first: int = 1) -> list[str]:
    """``web-{n}`` → web-1, web-2, ...; ``web-{n:03}`` pads; for one machine a plain name
    (``web``) is the name itself. Raises PlanError in words."""
    if not 1 <= count <= MAX_COUNT:
        raise PlanError(f"the count must be between 1 and {MAX_COUNT}")
    try:
        parsed = parse_pattern(pattern)
    except BadName as exc:
        plain = _plain_name(pattern)
        if plain is None:
            raise PlanError(f"the name pattern is not valid: {exc}") from None
        if count != 1:
            raise PlanError(f"the name pattern must contain {{n}} (the machine's number) to make {count} "
                            f"different names, e.g. {plain}-{{n}}; one machine can have a plain name") from None
        parsed = NamePattern((plain,))
    names = [parsed.name(first + i) for i in range(count)]
    for name in names:
        problem = name_problem(name)
        if problem:
            raise PlanError(f"the pattern makes a name that cannot be used: {problem}")
    return names


def _plain_name(pattern: str) -> str | None:
    """The name a pattern without any {n} gives (its ``{{``/``}}`` unescaped); None when the
    pattern is wrong in another way."""
    try:
        parts = parse_pattern(pattern + "{n}").parts
    except BadName:
        return None
    return "".join(parts[:-1]) if all(isinstance(p, str) for p in parts[:-1]) else None


def read_template(conn: libvirt.virConnect, host_uri: str, uuid: str,
                  domain_names: set[str] | None = None) -> Template:
    """Blocking: the template's definition and disks (run in a host's worker thread)."""
    dom = conn.lookupByUUIDString(uuid)
    definition = read_domain(dom, libvirt.VIR_DOMAIN_XML_INACTIVE)
    if domain_names is None:
        domain_names = {d.name() for d in conn.listAllDomains()}
    template = Template(host_uri, uuid, dom.name(), state_name(dom.state()[0]), definition.xml,
                        domain_names=domain_names)
    for index, disk in enumerate(definition.disks):
        if disk.device != "disk":
            continue  # CD-ROMs and floppies are shared, not cloned
        problem = _uncopyable(conn, index, disk, template.name)
        if problem is None:
            template.disks.append(disk)
        else:
            template.uncopyable.append(problem)
    return template


def read_templates(conn: libvirt.virConnect, host_uri: str, uuids: list[str]) -> dict[str, Template | str]:
    """Blocking: each machine read as a template, or why it cannot be read, by UUID."""
    names = {d.name() for d in conn.listAllDomains()}
    read: dict[str, Template | str] = {}
    for uuid in uuids:
        try:
            read[uuid] = read_template(conn, host_uri, uuid, names)
        except libvirt.libvirtError as exc:
            read[uuid] = f"cannot be read: {exc.get_error_message()}"
    return read


def _uncopyable(conn: libvirt.virConnect, index: int, disk: Disk, template: str) -> Uncopyable | None:
    """None when the disk can be copied (its pool and volume then found); else why not, in words."""
    target = disk.target or "?"

    def refused(short: str, reason: str) -> Uncopyable:
        return Uncopyable(index, target, f"disk {target}: {short}", f"disk {target} of {template} {reason}")
    if not disk.has_source:
        return refused("no source", "has no source to clone")
    if disk.kind not in ("file", "volume"):
        what = f"{disk.kind} disk ({disk.source})" if disk.source else f"{disk.kind} disk"
        return refused(f"{disk.kind} disk", f"is a {what}; only file and volume disks can be copied")
    if not locate(conn, disk):
        if disk.kind == "volume":
            try:
                conn.storagePoolLookupByName(disk.pool).storageVolLookupByName(disk.volume)
            except libvirt.libvirtError as exc:  # libvirt's own words
                return refused("volume not found", f"({disk.source}) cannot be found: {exc.get_error_message()}")
        folder = disk.path.rsplit("/", 1)[0] or "/"
        return refused("not in a storage pool", f"({disk.path}) is not in a storage pool, so it cannot be "
                       f"copied; make {folder} a storage pool on the host first")
    if disk.backing_path:  # a copy would read that file too (an image is data: it may name any path)
        return refused("reads another file", f"({disk.source}) has a backing file ({disk.backing_path!r}); make "
                       "a copy that stands alone first (qemu-img convert) and use that as the template's disk")
    return None


def clone_volume_name(machine: str, disk: Disk, *, linked: bool = False) -> str:
    """The clone's volume name: from the machine's name and the disk's target, made safe as a
    file name (both come from names anyone could choose), with the template volume's suffix
    (``.qcow2`` for a linked clone's overlay)."""
    return volume_name(machine, disk.target, ".qcow2" if linked else volume_suffix(disk.volume))


def machine_xml(template: Template, name: str, uuid: str, macs: list[str], *, linked: bool = False) -> str:
    domain = Domain.from_xml(template.xml)
    domain.element.attrib.pop("id", None)
    domain.name, domain.uuid, domain.title, domain.description = name, uuid, "", ""
    domain.nvram = ""  # each machine gets its own UEFI variables
    by_target = {d.target: d for d in template.disks}
    left_out = {u.index for u in template.uncopyable}
    for index, disk in enumerate(list(domain.disks)):
        if index in left_out:
            domain.disks.remove(disk)  # no copy of it, and never the template's own
            continue
        cloned = by_target.get(disk.target) if disk.target and disk.device == "disk" else None
        if cloned is None:
            continue
        new = clone_volume_name(name, cloned, linked=linked)
        if cloned.kind == "volume":
            disk.source_volume = new
        else:
            disk.source_file = f"{cloned.pool_path.rstrip('/')}/{new}"
        if linked:
            disk.format = "qcow2"  # the overlay; libvirt reads its base's format from its header
        disk.serial = ""
    for nic, mac in zip(domain.interfaces, macs, strict=False):
        nic.mac = mac
    return domain.to_xml()


def plan(template: Template, names: list[str], *, start: bool = False, leave_out_disks: bool = False,
         linked: bool = False) -> Group:
    """The flow; ``leave_out_disks``: the new machines get no disk for those that cannot be
    copied; ``linked``: each new disk is a qcow2 overlay reading the template's disk as its
    base (made in an instant, taking only what the new machine writes)."""
    problem = template.problem(leave_out_disks=leave_out_disks, linked=linked)
    if problem:
        raise PlanError(problem)
    clashes = sorted(set(names) & template.domain_names)
    if clashes:
        raise PlanError(f"machines named {', '.join(clashes[:5])} already exist on this host; choose another pattern")
    if len(set(names)) != len(names):
        raise PlanError("the pattern gives the same name twice")
    nic_count = len(Domain.from_xml(template.xml).interfaces)
    taken: set[str] = set()
    uri = template.host_uri
    root = Group("clone_template", f"Create {len(names)} machine{'s' * (len(names) != 1)} from {template.name}",
                 concurrent=True, limit=CONCURRENT_MACHINES, host_uri=uri, target_uuid=template.uuid,
                 target_name=template.name)
    for name in names:
        new_uuid = str(uuidlib.uuid4())
        machine = Group("create_machine", f"Create {name}", host_uri=uri, target_uuid=new_uuid, target_name=name)
        # Defined first, carrying the flow's mark: each clone then seals its undo on it.
        mark = secrets.token_hex(16)
        xml = with_flow_mark(machine_xml(template, name, new_uuid, new_macs(nic_count, taken), linked=linked), mark)
        without = f" without disk {', '.join(u.target for u in template.uncopyable)}" if template.uncopyable else ""
        machine.children.append(Step("define_domain", f"Define {name}{without}",
                                     {"uuid": new_uuid, "name": name, "xml": xml, "mark": mark}, uri, new_uuid, name))
        for disk in template.disks:
            new = clone_volume_name(name, disk, linked=linked)
            if linked:
                machine.children.append(Step("create_volume", f"Make {new} over {disk.volume}", {
                    "pool": disk.pool, "name": new, "capacity": disk.capacity, "format": "qcow2",
                    "backing_path": disk.path, "backing_format": base_format(disk),
                    "uuid": new_uuid, "mark": mark}, uri, new_uuid, name))
                continue
            machine.children.append(Step("clone_volume", f"Clone {disk.volume} to {new}", {
                "pool": disk.pool, "source": disk.volume, "name": new, "capacity": disk.capacity,
                "allocation": disk.allocation, "format": disk.volume_format, "uuid": new_uuid, "mark": mark},
                uri, new_uuid, name))
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

    async def check(self, host_uri: str, uuids: list[str]) -> dict[str, Template | str]:
        """Each machine read as a template (its ``problem()`` says whether it can be one), or
        why it cannot be read: what the dialog shows before Create. Reads only."""
        try:
            host = connected_host(self.inventory.hosts.get(host_uri), host_uri, operation="read template")
            return await host.call(lambda conn: read_templates(conn, host_uri, uuids), operation="read template")
        except HypervisorError as err:
            return {uuid: f"cannot be read: {err.one_line()}" for uuid in uuids}

    async def plan(self, host_uri: str, uuid: str, count: int, pattern: str, *, start: bool = False,
                   leave_out_disks: bool = False, linked: bool = False) -> Group:
        names = expand_names(pattern, count)  # check the cheap things before asking the host
        return plan(await self.read(host_uri, uuid), names, start=start, leave_out_disks=leave_out_disks,
                    linked=linked)

    async def run(self, flow: Group) -> TaskRecord:
        return await self.engine.run(flow)
