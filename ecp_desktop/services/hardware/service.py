"""Edit Hardware: read the machine, plan the edit (the new definition, its diff, what applies
now or at the next boot, the steps), then run the steps as one flow on the task engine.

The flow, in order: make the new volumes; define the new definition (the previous one kept
in the step, put back by its undo); change the running machine (unplug, plug, update, vCPUs,
memory, title); autostart; grow disks. The removed disks' volumes are deleted by a second
flow, only once the edit succeeded (a deletion cannot be undone, and a refused deletion
keeps the volume without undoing the edit). If a step fails, the engine undoes the ones before it: the
previous definition is back and what was plugged in is unplugged again. Every step runs
under the machine's lock (the engine takes it per step, through ``machine_locks``).
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

from ..hosts.connection import connected_host
from ..libvirt_xml.marks import with_flow_mark
from ..inventory.machines import MachineInfo
from ..tasks.engine import Group, Step, TaskEngine
from ..tasks.records import SUCCEEDED, TaskRecord
from .changes import ChangeSet, problems
from .edit_xml import EditedDomain, apply_changes, fingerprint
from .facts import GIB, HardwareFacts, read_facts
from ..libvirt_xml.devices import HOTPLUG_BUSES
from .hotplug import NEXT_BOOT, Effect, Schedule, schedule

log = logging.getLogger(__name__)
KIND = "edit_hardware"  # the flow's task kind


class PlanError(ValueError):
    """The edit cannot be planned; ``problems`` says every reason in words."""

    def __init__(self, found: list[str]) -> None:
        super().__init__("; ".join(found))
        self.problems = found


@dataclass
class HardwarePlan:
    facts: HardwareFacts
    changes: ChangeSet
    edited: EditedDomain
    schedule: Schedule
    flow: Group
    deletions: Group | None = None  # run after ``flow`` succeeded: volumes of removed disks

    @property
    def diff(self) -> str:
        return self.edited.diff

    @property
    def effects(self) -> list[Effect]:
        return self.schedule.effects

    @property
    def deleted_volumes(self) -> list[str]:
        """Volumes the edit deletes (their data is gone for good: the review says so)."""
        return [f"{s.params['pool']}/{s.params['volume']}" for s in self.deletions.children] if self.deletions else []

    def as_json(self) -> dict:
        return {"machine": self.facts.name, "host": self.facts.host_uri, "diff": self.diff,
                "changes": [{"change": e.change, "when": e.when, "why": e.why} for e in self.effects],
                "deletes_volumes": self.deleted_volumes,
                "steps": [s.title for s in self.flow.children]
                + [s.title for s in (self.deletions.children if self.deletions else [])]}


@dataclass
class HardwareOutcome:
    record: TaskRecord
    waiting: list[Effect] = field(default_factory=list)  # applied to the definition, waiting for a boot
    deletion: TaskRecord | None = None  # the removed volumes' deletion, once the edit succeeded

    @property
    def applied(self) -> bool:
        return self.record.status == SUCCEEDED

    def words(self) -> str:
        if not self.applied:
            return f"{self.record.title}: {self.record.status}: {self.record.outcome}"
        deleted = ""
        if self.deletion is not None:  # each step says what it did: deleted, or kept and why
            said = [c.summary or c.outcome for c in self.deletion.children if c.op == "delete_volume"]
            deleted = "; " + "; ".join(said) if self.deletion.status == SUCCEEDED else f"; {self.deletion.outcome}"
        if not self.waiting:
            return f"{self.record.title}: applied; everything is in effect now{deleted}"
        return (f"{self.record.title}: applied; waiting for the next boot: "
                + "; ".join(f"{e.change} ({e.why})" for e in self.waiting) + deleted)


def _running_problems(changes: ChangeSet, facts: HardwareFacts) -> list[str]:
    """What cannot be done to this machine while it runs."""
    found = []
    for removal in changes.removed_disks:
        disk = facts.disk(removal.target)
        if facts.running and removal.delete_volume and disk is not None and disk.bus not in HOTPLUG_BUSES:
            found.append(f"disk {removal.target} ({disk.bus or 'its bus'}) cannot be unplugged while {facts.name} "
                         "runs, so its volume cannot be deleted now; shut the machine down first")
    return found


def plan(facts: HardwareFacts, changes: ChangeSet) -> HardwarePlan:
    """The flow for ``changes`` to the machine as read (``PlanError`` with every reason first)."""
    found = problems(changes, facts) + _running_problems(changes, facts)
    if found:
        raise PlanError(found)
    edited = apply_changes(changes, facts)
    timing = schedule(changes, facts, edited)
    uri, uuid, name = facts.host_uri, facts.uuid, facts.name
    root = Group(KIND, f"Edit hardware of {name}", host_uri=uri, target_uuid=uuid, target_name=name)

    mark = secrets.token_hex(16)  # each step seals its undo on the machine under the flow's mark

    def step(op: str, title: str, params: dict) -> None:
        root.children.append(Step(op, title, {**params, "uuid": uuid, "mark": mark}, uri, uuid, name))
    if fingerprint(edited.xml) != fingerprint(facts.xml):
        step("redefine_domain", f"Define the new hardware of {name}",
             {"uuid": uuid, "name": name, "xml": with_flow_mark(edited.xml, mark), "previous": facts.xml,
              "mark": mark})
    # After the new definition (which names them): each seals its undo on the machine, and is
    # undone before the previous definition goes back.
    for added in edited.added_disks:
        if added.volume is not None:
            v = added.volume
            step("create_volume", f"Make volume {v.pool}/{v.name} ({v.capacity / GIB:g} GiB)",
                 {"pool": v.pool, "name": v.name, "capacity": v.capacity, "format": v.format})
    for live in timing.live:
        step(live.op, live.title, live.params)
    if changes.autostart is not None and changes.autostart != facts.autostart:
        step("set_autostart", f"Autostart {'on' if changes.autostart else 'off'} for {name}",
             {"uuid": uuid, "name": name, "value": changes.autostart})
    for resize in changes.resizes:
        disk = facts.disk(resize.target)
        step("resize_disk", f"Grow disk {resize.target} of {name} to {resize.size_gib:g} GiB",
             {"uuid": uuid, "name": name, "target": resize.target, "pool": disk.pool, "volume": disk.volume,
              "capacity": int(resize.size_gib * GIB), "live": facts.running})
    # Deleting a volume is a flow of its own, run only once the edit has succeeded: inside the
    # edit, a crash after a deletion would have its rollback put back a definition naming a disk
    # that is gone (the machine would not boot), and a deletion cannot be undone anyway.
    deletions = Group("delete_volumes", f"Delete the removed volumes of {name}", host_uri=uri, target_uuid=uuid,
                      target_name=name)
    for removal in changes.removed_disks:
        if removal.delete_volume:
            disk = facts.disk(removal.target)
            deletions.children.append(Step("delete_volume", f"Delete volume {disk.pool}/{disk.volume}",
                                           {"uuid": uuid, "name": name, "pool": disk.pool, "volume": disk.volume},
                                           uri, uuid, name))
    if not root.children:
        raise PlanError(["nothing to change: the machine already has these settings"])
    return HardwarePlan(facts, changes, edited, timing, root, deletions if deletions.children else None)


class HardwareService:
    """Read, plan and apply hardware edits over the inventory's hosts."""

    def __init__(self, inventory, engine: TaskEngine) -> None:
        self.inventory = inventory
        self.engine = engine

    async def read(self, machine: MachineInfo) -> HardwareFacts:
        """The machine and its host as they are now (``HypervisorError`` when the host refuses)."""
        host = connected_host(self.inventory.hosts.get(machine.host_uri), machine.host_uri,
                              operation="read hardware", machine=machine.name)
        uri, uuid = machine.host_uri, machine.uuid
        return await host.call(lambda conn: read_facts(conn, uri, uuid), operation="read hardware",
                               machine=machine.name)

    async def plan(self, machine: MachineInfo, changes: ChangeSet) -> HardwarePlan:
        return plan(await self.read(machine), changes)

    async def run(self, planned: HardwarePlan) -> HardwareOutcome:
        record = await self.engine.run(planned.flow)
        log.info("%s on %s: %s: %s", record.title, planned.facts.host_uri, record.status, record.outcome)
        outcome = HardwareOutcome(record, [e for e in planned.effects if e.when == NEXT_BOOT])
        if record.status == SUCCEEDED and planned.deletions is not None:
            outcome.deletion = await self.engine.run(planned.deletions)
        return outcome
