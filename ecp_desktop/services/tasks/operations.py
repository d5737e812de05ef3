"""Commands with their opposite: what a flow step does, and how it is undone.

Each operation is blocking (run in a host's worker thread) and works from its
parameters alone, so a later process can undo a step it did not run. ``prepare``
reads what the step needs to know beforehand (did the volume exist already, was
autostart on); its answer is stored with the step before ``execute`` runs.
Compensations are idempotent: they check that the thing still exists, and never
remove something that existed before the step.

libvirt is the trust anchor: a task row is data anyone who can write the inventory can
forge, so no undo acts on a row alone. Each undo first finds, in libvirt, the mark of the
flow that made the change: a machine the flow defined carries its mark; a step that changes
a machine or makes a volume for one seals its undo on that machine (``seal_step``: the mark,
the operation and a digest of ``undo_data``), and the undo runs only when the row's data
give that seal (``require_seal``). What the undo puts back is thereby what the step saw,
not what a row says. A registry test runs every operation's undo from forged rows.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

import libvirt

from ..core.errors import Refusal
from ..libvirt_xml.marks import end_flow_marks, has_seal, legacy_mark, seal_undo, undo_digest, unseal_undo, \
    with_flow_mark
from ..libvirt_xml.domain import agent_connected
from ..libvirt_xml.snapshot import DomainSnapshot
from ..libvirt_xml.storage import machine_using, volume_xml
from ..hosts.lookups import find_domain, find_volume
from ..core.names import BIDI_AND_SEPARATORS, name_problem

Params = dict

# Set by the engine on the parameters an undo gets (whatever a row says): True when the undo
# is a recovery nobody asked for (after a crash); an undo that would move a machine then
# leaves it where it is and says so, for Retry Rollback to ask.
UNATTENDED = "unattended"


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
        """The flow ended (succeeded, or rolled back with nothing left): end what only mattered
        while it could be undone (its marks and seals)."""

    def marked_hosts(self, params: Params, host_uri: str) -> list[str]:
        """The hosts where the step may leave a mark (``after_flow`` runs on each)."""
        return [host_uri]

    def machines_changed(self, params: Params, host_uri: str) -> list[tuple[str, str]]:
        """(host URI, machine UUID) whose definition this step made or removed, done or undone:
        the inventory reads them again and forgets those that are gone."""
        return []

    def undo_data(self, params: Params) -> dict:
        """What the undo acts on and with: sealed in libvirt before the step runs."""
        return {"uuid": params.get("uuid", "")}

    def undo_seal(self, params: Params) -> str:
        return undo_digest(self.name, self.undo_data(params))


def seal_step(dom: libvirt.virDomain, op: Operation, params: Params) -> Params:
    """Seal the step's undo on the machine before the step changes it (``prepare``); the params
    with the step's mark (the flow's, or a new one)."""
    params = {**params, "mark": params.get("mark") or secrets.token_hex(16)}
    seal_undo(dom, params["mark"], op.name, op.undo_seal(params))
    return params


def require_seal(dom: libvirt.virDomain, op: Operation, params: Params, doing: str) -> None:
    """Refuse an undo whose seal the machine does not carry: the row names another machine, or
    other data than the step sealed, or its flow ended."""
    if not has_seal(dom, params.get("mark") or "", op.name, op.undo_seal(params)):
        raise Refusal(f"not {doing}: {dom.name()} does not carry this step's seal, so the "
                      "task record does not match what the step did (it may come from elsewhere); left alone")


def break_seal(dom: libvirt.virDomain, op: Operation, params: Params) -> None:
    """The undo ran: its seal goes."""
    unseal_undo(dom, params.get("mark") or "", op.name, op.undo_seal(params))


def end_marks(conn: libvirt.virConnect, params: Params) -> None:
    """The flow ended: no mark or seal of it stays on the machine (``after_flow``); another
    flow's, waiting for its Retry Rollback, stay."""
    dom = find_domain(conn, params["uuid"]) if params.get("uuid") and params.get("mark") else None
    if dom is not None:
        end_flow_marks(dom, params["mark"])


VOLUME_UNDO_KEYS = ("uuid", "pool", "name")


class AsyncOperation(Operation):
    """An operation that drives itself on the event loop (progress, abort), e.g. a migration.

    ``run(context)`` gets a ``task_engine.StepContext``; ``compensate`` stays blocking.
    """

    async def run(self, context) -> str:
        raise NotImplementedError


class CloneVolume(Operation):
    """params: pool, source (volume name), name (new volume), capacity, allocation, format;
    uuid and mark: the machine it is made for, whose definition (written first, by the same
    flow) carries this step's seal. The undo deletes the volume only while that machine
    carries the seal, and no machine uses the volume."""

    def undo_data(self, params):
        return {k: params.get(k, "") for k in VOLUME_UNDO_KEYS}

    def require_owner(self, conn, params) -> libvirt.virDomain:
        """The machine the volume was made for, carrying this step's seal (else ``Refusal``)."""
        if not params.get("uuid"):
            raise Refusal(f"not deleting volume {params['pool']}/{params['name']}: the task record names no machine "
                          "it was made for (an older version's, or not this app's), so nothing in libvirt says this "
                          "flow made it; left alone (delete it yourself if it is yours)")
        dom = find_domain(conn, params["uuid"])
        if dom is None:
            raise Refusal(f"not deleting volume {params['pool']}/{params['name']}: the machine it was made for is "
                          "not on this host, so nothing in libvirt says this flow made it; left alone")
        require_seal(dom, self, params, f"deleting volume {params['pool']}/{params['name']}")
        return dom

    def prepare(self, conn, params):
        existed = find_volume(conn, params["pool"], params["name"]) is not None
        if existed:
            return {**params, "existed_before": True}
        return {**seal_step(self.owner(conn, params), self, params), "existed_before": False}

    def owner(self, conn, params) -> libvirt.virDomain:
        """The machine the volume is made for (its flow defines it first)."""
        dom = find_domain(conn, params["uuid"]) if params.get("uuid") else None
        if dom is None:
            raise Refusal(f"cannot make volume {params['pool']}/{params['name']}: the machine it is for is not "
                          "defined on this host (a flow defines the machine before its volumes)")
        return dom

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
        if find_volume(conn, params["pool"], params["name"]) is None:
            return f"volume {params['name']} already gone"
        owner = self.require_owner(conn, params)
        words = self.delete_made(conn, params, owner_uuid=params["uuid"])
        break_seal(owner, self, params)
        return words

    def delete_made(self, conn, params, *, owner_uuid: str = "") -> str:
        """Delete the volume the step made, unless a machine uses it (``owner_uuid``: the one it
        was made for, whose definition names it: only while it runs with it)."""
        volume = find_volume(conn, params["pool"], params["name"])
        if volume is None:
            return f"volume {params['name']} already gone"
        # A volume another machine uses is never deleted: e.g. one a migration moved onto it.
        user = machine_using(conn, {volume.path(), f"{params['pool']}/{params['name']}"}, owner_uuid=owner_uuid)
        if user:
            return f"kept volume {params['name']}: {user} uses it"
        volume.delete(0)
        return f"deleted volume {params['pool']}/{params['name']}{self.where}"

    where = ""  # appended to what the undo says (e.g. " on the destination")

    def undo_title(self, params):
        return f"Delete volume {params['name']}{self.where}"

    def leftover(self, params):
        return f"volume {params['pool']}/{params['name']}{self.where}"


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
        conn.defineXML(with_flow_mark(params["xml"], params["mark"],
                                      ((params["mark"], self.name, self.undo_seal(params)),)))
        return f"defined {params['name']}"

    def compensate(self, conn, params):
        if params.get("existed_before"):
            return f"left {params['name']} alone: it existed before"
        dom = find_domain(conn, params["uuid"])
        if dom is None:
            return f"{params['name']} already undefined"
        if not legacy_mark(dom, params.get("mark") or ""):  # (a flow interrupted before the upgrade)
            require_seal(dom, self, params, f"undefining {params['name']}")
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
        end_marks(conn, params)

    def machines_changed(self, params, host_uri):
        return [(host_uri, params["uuid"])]

    def leftover(self, params):
        return f"machine {params['name']} ({params['uuid']})"


class StartDomain(Operation):
    """params: uuid, name, mark (the flow's); prepare seals the undo on the machine, so that
    only this flow's undo can force it off."""

    def prepare(self, conn, params):
        dom = find_domain(conn, params["uuid"])
        was_active = bool(dom is not None and dom.isActive())
        if dom is not None and not was_active:
            params = seal_step(dom, self, params)
        return {**params, "was_active": was_active}

    def after_flow(self, conn, params):
        end_marks(conn, params)

    def execute(self, conn, params):
        conn.lookupByUUIDString(params["uuid"]).create()
        return f"started {params['name']}"

    def compensate(self, conn, params):
        dom = find_domain(conn, params["uuid"])
        if params.get("was_active") or dom is None or not dom.isActive():
            return f"{params['name']} is not running"
        if not legacy_mark(dom, params.get("mark") or ""):  # (a flow interrupted before the upgrade)
            require_seal(dom, self, params, f"stopping {params['name']}")
        dom.destroy()
        break_seal(dom, self, params)
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


QUIESCED = "File systems quiesced by the guest agent."
AGENT_ERRORS = (libvirt.VIR_ERR_AGENT_UNRESPONSIVE, libvirt.VIR_ERR_AGENT_UNSYNCED,
                libvirt.VIR_ERR_OPERATION_UNSUPPORTED, libvirt.VIR_ERR_OPERATION_FAILED,
                libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED)


class CreateSnapshot(Operation):
    """params: uuid, name (machine), snapshot; optional description, memory (default True),
    external (default False: internal). The window's and the command line's Take Snapshot run
    this same ``execute`` (services/snapshots), under the machine's lock, as a task."""

    def undo_data(self, params):
        return {"uuid": params["uuid"], "snapshot": params["snapshot"]}

    def prepare(self, conn, params):
        dom = conn.lookupByUUIDString(params["uuid"])
        existed = params["snapshot"] in dom.snapshotListNames()
        return {**(params if existed else seal_step(dom, self, params)), "existed_before": existed}

    def after_flow(self, conn, params):
        end_marks(conn, params)

    def execute(self, conn, params):
        external = bool(params.get("external"))
        memory = bool(params.get("memory", True)) and not external
        description = params.get("description", "")
        xml = snapshot_xml(params["snapshot"], description, memory=memory)
        dom = conn.lookupByUUIDString(params["uuid"])
        # Disks only of a running machine whose guest agent listens: its file systems frozen for
        # the instant the snapshot takes (consistent on disk), and the description says so.
        if external and agent_connected(dom):
            quiesced = f"{description}\n\n{QUIESCED}".strip()
            try:
                dom.snapshotCreateXML(snapshot_xml(params["snapshot"], quiesced, memory=False),
                                      snapshot_flags(external) | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE)
                return f"snapshot {params['snapshot']} of {params['name']}, its file systems quiesced"
            except libvirt.libvirtError as exc:
                if exc.get_error_domain() != libvirt.VIR_FROM_QEMU and exc.get_error_code() not in AGENT_ERRORS:
                    raise
                why = exc.get_error_message()
            dom.snapshotCreateXML(xml, snapshot_flags(external))
            return f"snapshot {params['snapshot']} of {params['name']} (not quiesced: the guest agent said {why})"
        dom.snapshotCreateXML(xml, snapshot_flags(external))
        return f"snapshot {params['snapshot']} of {params['name']}"

    def compensate(self, conn, params):
        dom = find_domain(conn, params["uuid"])
        if params.get("existed_before") or dom is None or params["snapshot"] not in dom.snapshotListNames():
            return f"snapshot {params['snapshot']} already gone"
        require_seal(dom, self, params, f"deleting snapshot {params['snapshot']}")
        dom.snapshotLookupByName(params["snapshot"]).delete(0)
        break_seal(dom, self, params)
        return f"deleted snapshot {params['snapshot']}"

    def undo_title(self, params):
        return f"Delete snapshot {params['snapshot']} of {params['name']}"

    def leftover(self, params):
        return f"snapshot {params['snapshot']} of {params['name']}"


class SetAutostart(Operation):
    """params: uuid, name, value; prepare records the previous value (sealed on the machine)."""

    def undo_data(self, params):
        return {"uuid": params["uuid"], "previous": bool(params.get("previous"))}

    def prepare(self, conn, params):
        dom = conn.lookupByUUIDString(params["uuid"])
        return seal_step(dom, self, {**params, "previous": bool(dom.autostart())})

    def after_flow(self, conn, params):
        end_marks(conn, params)

    def execute(self, conn, params):
        conn.lookupByUUIDString(params["uuid"]).setAutostart(int(params["value"]))
        return f"autostart {'on' if params['value'] else 'off'} for {params['name']}"

    def compensate(self, conn, params):
        dom = find_domain(conn, params["uuid"])
        if dom is None:
            return f"{params['name']} is gone"
        if bool(dom.autostart()) == bool(params.get("previous")):
            return f"autostart of {params['name']} is as it was"
        require_seal(dom, self, params, f"changing the autostart of {params.get('name')}")
        dom.setAutostart(int(params["previous"]))
        break_seal(dom, self, params)
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
