"""Commands with their opposite: what a flow step does, and how it is undone.

Each operation is blocking (run in a host's worker thread) and works from its
parameters alone, so a later process can undo a step it did not run. ``prepare``
reads what the step needs to know beforehand (did the volume exist already, was
autostart on); its answer is stored with the step before ``execute`` runs.
Compensations are idempotent: they check that the thing still exists, and never
remove something that existed before the step.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

import libvirt

from ..core.errors import Refusal
from ..libvirt_xml.marks import clear_flow_mark, flow_mark, set_flow_mark
from ..libvirt_xml.snapshot import DomainSnapshot
from ..libvirt_xml.storage import machine_using, volume_xml
from ..hosts.lookups import find_domain, find_volume
from ..core.names import BIDI_AND_SEPARATORS, name_problem

Params = dict


@dataclass(frozen=True)
class Operation:
    name: str

    def prepare(self, conn: libvirt.virConnect, params: Params) -> Params:
        return params

    def execute(self, conn: libvirt.virConnect, params: Params) -> str:
        raise NotImplementedError

    def compensate(self, conn: libvirt.virConnect, params: Params) -> str:
        raise NotImplementedError

    def undo_title(self, params: Params) -> str:
        raise NotImplementedError

    def leftover(self, params: Params) -> str:
        """What stays behind when the undo fails, in words."""
        raise NotImplementedError

    def after_flow(self, conn: libvirt.virConnect, params: Params) -> None:
        """The whole flow succeeded: end what only mattered while it could be undone."""

    def machines_changed(self, params: Params, host_uri: str) -> list[tuple[str, str]]:
        """(host URI, machine UUID) whose definition this step made or removed, done or undone:
        the inventory reads them again and forgets those that are gone."""
        return []


class AsyncOperation(Operation):
    """An operation that drives itself on the event loop (progress, abort), e.g. a migration.

    ``run(context)`` gets a ``task_engine.StepContext``; ``compensate`` stays blocking.
    """

    async def run(self, context) -> str:
        raise NotImplementedError


class CloneVolume(Operation):
    """params: pool, source (volume name), name (new volume), capacity, allocation, format."""

    def prepare(self, conn, params):
        return {**params, "existed_before": find_volume(conn, params["pool"], params["name"]) is not None}

    def execute(self, conn, params):
        pool = conn.storagePoolLookupByName(params["pool"])
        source = pool.storageVolLookupByName(params["source"])
        xml = volume_xml(params["name"], int(params["capacity"]), params.get("format") or "",
                         allocation=int(params["allocation"]))
        volume = pool.createXMLFrom(xml, source, 0)
        return f"cloned {params['source']} to {volume.path()}"

    def compensate(self, conn, params):
        if params.get("existed_before"):
            return f"left volume {params['name']} alone: it existed before"
        volume = find_volume(conn, params["pool"], params["name"])
        if volume is None:
            return f"volume {params['name']} already gone"
        path = volume.path()
        # A volume some machine uses (its own flow undefined the new machine first) is never
        # deleted: e.g. one a migration moved onto it, or another's named in a forged task row.
        user = machine_using(conn, {path, f"{params['pool']}/{params['name']}"})
        if user:
            return f"kept volume {params['name']}: {user} uses it"
        volume.delete(0)
        return f"deleted volume {params['pool']}/{params['name']}{self.where}"

    where = ""  # appended to what the undo says (e.g. " on the destination")

    def undo_title(self, params):
        return f"Delete volume {params['name']}{self.where}"

    def leftover(self, params):
        return f"volume {params['pool']}/{params['name']}{self.where}"


def require_flow_mark(dom: libvirt.virDomain, params: Params, doing: str) -> None:
    """Refuse an undo on a machine that does not carry this step's flow mark."""
    mark = params.get("mark")
    if not mark or flow_mark(dom) != mark:
        raise Refusal(f"not {doing} {params.get('name', dom.name())}: it does not carry this flow's mark, so this "
                      "flow did not make it (the task record may come from elsewhere); left alone")


class CreateVolume(CloneVolume):
    """params: pool, name, capacity (bytes), format, optional backing_path and backing_format
    (an overlay on a cloud image). Undone as a clone is: deleted if this step made it and no
    machine uses it. New Machine and Edit Hardware both make their new disks with it."""

    def execute(self, conn, params):
        pool = conn.storagePoolLookupByName(params["pool"])
        volume = pool.createXML(volume_xml(params["name"], params["capacity"], params.get("format", ""),
                                           backing_path=params.get("backing_path", ""),
                                           backing_format=params.get("backing_format", "")), 0)
        on = f" over {params['backing_path']}" if params.get("backing_path") else ""
        return f"made {volume.path() or params['name']}{on}"

    def undo_title(self, params):
        return f"Delete new volume {params['pool']}/{params['name']}"


class DefineDomain(Operation):
    """params: uuid, name, xml (the full definition, with the UUID and the flow's mark), mark."""

    def prepare(self, conn, params):
        return {**params, "existed_before": find_domain(conn, params["uuid"]) is not None}

    def execute(self, conn, params):
        conn.defineXML(params["xml"])
        return f"defined {params['name']}"

    def compensate(self, conn, params):
        if params.get("existed_before"):
            return f"left {params['name']} alone: it existed before"
        dom = find_domain(conn, params["uuid"])
        if dom is None:
            return f"{params['name']} already undefined"
        require_flow_mark(dom, params, "undefining")
        if dom.isActive():
            dom.destroy()
        try:
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
                              | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() not in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_INVALID_ARG):
                raise
            dom.undefine()
        return f"undefined {params['name']}"

    def undo_title(self, params):
        return f"Undefine {params['name']}"

    def after_flow(self, conn, params):
        dom = find_domain(conn, params["uuid"])
        if dom is not None:
            clear_flow_mark(dom)

    def machines_changed(self, params, host_uri):
        return [(host_uri, params["uuid"])]

    def leftover(self, params):
        return f"machine {params['name']} ({params['uuid']})"


class StartDomain(Operation):
    """params: uuid, name, mark (the flow's mark on the machine; a machine the flow did not
    define gets one here, so that only this flow's undo can force it off)."""

    def prepare(self, conn, params):
        dom = find_domain(conn, params["uuid"])
        mark = params.get("mark") or secrets.token_hex(16)
        marked_here = dom is not None and flow_mark(dom) != mark
        if marked_here:
            set_flow_mark(dom, mark)
        return {**params, "was_active": bool(dom is not None and dom.isActive()), "mark": mark,
                "marked_here": marked_here}

    def after_flow(self, conn, params):
        dom = find_domain(conn, params["uuid"])
        if dom is not None:
            clear_flow_mark(dom)

    def execute(self, conn, params):
        conn.lookupByUUIDString(params["uuid"]).create()
        return f"started {params['name']}"

    def compensate(self, conn, params):
        dom = find_domain(conn, params["uuid"])
        if params.get("was_active") or dom is None or not dom.isActive():
            return f"{params['name']} is not running"
        require_flow_mark(dom, params, "stopping")
        dom.destroy()
        if params.get("marked_here"):  # a machine the flow did not define: its mark goes with the undo
            clear_flow_mark(dom)
        return f"stopped {params['name']}"

    def undo_title(self, params):
        return f"Force off {params['name']}"

    def leftover(self, params):
        return f"{params['name']} still running"


MAX_DESCRIPTION = 4000


def snapshot_problem(name: str, description: str = "") -> str | None:
    """Why a snapshot cannot have this name or description, or None when it can (a name is
    checked as a machine name is; a description may hold lines but no other control character)."""
    problem = name_problem(name)
    if problem:
        return problem.replace("a name", "a snapshot name", 1) if problem.startswith("a name") else problem
    if len(description) > MAX_DESCRIPTION:
        return f"a description has at most {MAX_DESCRIPTION} characters (this one has {len(description)})"
    for ch in description:
        if ch not in "\n\t" and (not ch.isprintable() or ch in BIDI_AND_SEPARATORS):
            return f"the description contains the control character U+{ord(ch):04X}"
    return None


def snapshot_xml(name: str, description: str = "", *, memory: bool = True) -> str:
    """The ``<domainsnapshot>`` to create, built as a tree (never text formatting), its name and
    description checked first (``Refusal`` with the reason). ``memory`` False: disks only
    (``<memory snapshot='no'/>``); True: libvirt's default (a running machine's memory too)."""
    problem = snapshot_problem(name, description)
    if problem:
        raise Refusal(problem)
    return DomainSnapshot(name=name, description=description, memory=None if memory else "no").to_xml()


def snapshot_flags(external: bool) -> int:
    """External: disks only, into new overlay files libvirt names, all or nothing."""
    return (libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC) if external else 0


class CreateSnapshot(Operation):
    """params: uuid, name (machine), snapshot; optional description, memory (default True),
    external (default False: internal). The window's and the command line's Take Snapshot run
    this same ``execute`` (services/snapshots), under the machine's lock, as a task."""

    def prepare(self, conn, params):
        dom = conn.lookupByUUIDString(params["uuid"])
        return {**params, "existed_before": params["snapshot"] in dom.snapshotListNames()}

    def execute(self, conn, params):
        external = bool(params.get("external"))
        xml = snapshot_xml(params["snapshot"], params.get("description", ""),
                           memory=bool(params.get("memory", True)) and not external)
        dom = conn.lookupByUUIDString(params["uuid"])
        dom.snapshotCreateXML(xml, snapshot_flags(external))
        return f"snapshot {params['snapshot']} of {params['name']}"

    def compensate(self, conn, params):
        dom = find_domain(conn, params["uuid"])
        if params.get("existed_before") or dom is None or params["snapshot"] not in dom.snapshotListNames():
            return f"snapshot {params['snapshot']} already gone"
        dom.snapshotLookupByName(params["snapshot"]).delete(0)
        return f"deleted snapshot {params['snapshot']}"

    def undo_title(self, params):
        return f"Delete snapshot {params['snapshot']} of {params['name']}"

    def leftover(self, params):
        return f"snapshot {params['snapshot']} of {params['name']}"


class SetAutostart(Operation):
    """params: uuid, name, value; prepare records the previous value."""

    def prepare(self, conn, params):
        return {**params, "previous": bool(conn.lookupByUUIDString(params["uuid"]).autostart())}

    def execute(self, conn, params):
        conn.lookupByUUIDString(params["uuid"]).setAutostart(int(params["value"]))
        return f"autostart {'on' if params['value'] else 'off'} for {params['name']}"

    def compensate(self, conn, params):
        dom = find_domain(conn, params["uuid"])
        if dom is None:
            return f"{params['name']} is gone"
        dom.setAutostart(int(params["previous"]))
        return f"autostart back {'on' if params['previous'] else 'off'} for {params['name']}"

    def undo_title(self, params):
        return f"Restore autostart of {params['name']}"

    def leftover(self, params):
        return f"autostart of {params['name']} left {'on' if params['value'] else 'off'}"


STEPS = (CloneVolume("clone_volume"), CreateVolume("create_volume"), DefineDomain("define_domain"),
         StartDomain("start_domain"), CreateSnapshot("create_snapshot"), SetAutostart("set_autostart"))

# Every operation a task row may name, by name: this module's, and the features' (each
# feature's STEPS, registered by the composition root's ``register_operations``). Crash
# recovery and Retry Rollback look a row's operation up here.
OPERATIONS: dict[str, Operation] = {op.name: op for op in STEPS}


def register(steps: tuple[Operation, ...]) -> None:
    """Make these operations known by name (idempotent)."""
    OPERATIONS.update({op.name: op for op in steps})


class UnknownOperation(Operation):
    """A step whose operation this version does not know (a newer app's, or a forged row):
    it is never run or undone, only reported."""

    def prepare(self, conn, params):
        raise Refusal(f"cannot run: unknown operation {self.name!r}")

    def execute(self, conn, params):
        raise Refusal(f"cannot run: unknown operation {self.name!r}")

    def compensate(self, conn, params):
        raise Refusal(f"cannot undo: unknown operation {self.name!r}; left alone")

    def undo_title(self, params):
        return f"Undo {self.name}"

    def leftover(self, params):
        return f"whatever {self.name!r} did (unknown operation)"


def operation(name: str) -> Operation:
    """The operation named in a task row; an unknown name gives one that only reports."""
    return OPERATIONS.get(name) or UnknownOperation(name)
