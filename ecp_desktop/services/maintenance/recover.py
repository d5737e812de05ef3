"""A dead host's machines brought up on other hosts (``recover-host``), a plan first, then one flow.

Only for a host that does not answer and that the operator says is down: if it is not, the
machine would run twice, two copies writing the same disks. So a host that answers is refused
(evacuate it instead), and the host is tried once more right before anything is defined.

Which machines: those that should run, as restore decides (``restore_candidates``: the
desired state and the restore policy), from the inventory's last known definition (schema
version 9), which is data: what is defined on the destination is rebuilt from its parsed
model (rebuild.py), never replayed, and what is not carried over is listed. Where: a
destination (those named, or every connected host not in maintenance) that sees every disk
as a volume of an active pool no other machine uses, has its networks, and has the memory;
largest memory first, balanced by the memory the plan has already promised each destination
(plan.DestinationCapacity, as an evacuation does). The flow: per machine the one define and
start path (``define_domain``, ``start_domain`` with the flow's mark), all undone when a step
fails (undefined, stopped). Then the inventory follows: the new host's row has the definition
and the user's choices, the dead host's row is shut off and never restored
(definitions.record_recovered).
"""
from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field

import libvirt

from ..actions.restore import restore_candidates
from ..core.errors import HypervisorError
from ..hosts.connection import connected_host
from ..hosts.lookups import machine_states
from ..libvirt_xml.domain import Domain
from ..libvirt_xml.marks import with_flow_mark
from ..inventory import definitions
from ..sharing import named_locks
from ..tasks.engine import Group, Step, TaskEngine
from ..tasks.records import SUCCEEDED, TaskRecord
from . import mark
from ..migration.checks import P2P
from .plan import Machine, DestinationCapacity, destination_capacities, order, score
from .rebuild import Rebuilt
from .recover_checks import Destination, read_destination, stored_definition, why_not_there

log = logging.getLogger(__name__)
CONCURRENT_MACHINES = 4
ANSWERS = "it answers: use evacuate (ecp-desktop evacuate, Host → Enter Maintenance…)"


class DestinationUnreachable(Exception):
    """A destination the user named is not connected (CLI exit 3)."""


class RecoveryRefused(Exception):
    """Nothing may be done: the host answers, another instance recovers it, nothing can move."""


@dataclass
class Recovery:
    """One machine of the dead host: where it will start, or why not (``left``: it should not run)."""
    machine: Machine
    destination: str = ""
    reason: str = ""
    left: bool = False
    refusals: dict[str, str] = field(default_factory=dict)  # destination URI -> why not there
    definition: Domain | None = None  # the stored one (data)
    built: dict[str, Rebuilt] = field(default_factory=dict)  # destination URI -> the definition for there

    @property
    def left_out(self) -> list[str]:
        """What of the stored definition is not carried over to the chosen destination."""
        built = self.built.get(self.destination)
        return built.left_out if built is not None else []

    @property
    def moves(self) -> bool:
        return bool(self.destination)

    def as_json(self) -> dict:
        m = self.machine
        return {"machine": m.name, "uuid": m.uuid, "last_state": m.state, "memory_mib": m.memory_kib // 1024,
                "vcpus": m.vcpus, "destination": self.destination, "left": self.left, "reason": self.reason,
                "refusals": self.refusals, "not_carried_over": self.left_out}


@dataclass
class RecoveryPlan:
    source: str
    machines: list[Recovery]
    capacities: dict[str, DestinationCapacity]
    notes: list[str] = field(default_factory=list)

    @property
    def moving(self) -> list[Recovery]:
        return [r for r in self.machines if r.moves]

    @property
    def refused(self) -> list[Recovery]:
        return [r for r in self.machines if not r.moves and not r.left]

    @property
    def possible(self) -> bool:
        return bool(self.moving)

    def as_json(self) -> dict:
        return {"source": self.source, "possible": self.possible, "notes": self.notes,
                "machines": [r.as_json() for r in self.machines],
                "destinations": [{"uri": r.uri, "free_memory_mib": None if r.free_memory is None
                                  else r.free_memory // 2**20, "promised_memory_mib": r.promised_memory // 2**20}
                                 for r in self.capacities.values()]}


@dataclass
class Outcome:
    plan: RecoveryPlan
    task: TaskRecord | None
    now_on: dict[str, list[str]] = field(default_factory=dict)  # machine UUID -> destination URIs that have it
    warnings: list[str] = field(default_factory=list)  # what the inventory could not record

    @property
    def done(self) -> bool:
        return (self.task is not None and self.task.status == SUCCEEDED
                and all(self.now_on.get(r.machine.uuid) == [r.destination] for r in self.plan.moving))

    def as_json(self) -> list[dict]:
        return [{"machine": r.machine.name, "uuid": r.machine.uuid, "planned": r.destination,
                 "now_on": self.now_on.get(r.machine.uuid, [])} for r in self.plan.moving]


def can_recover(host) -> bool:
    """Whether a host's machines may be recovered elsewhere: a configured host that does not answer."""
    return host is not None and not host.connected


class RecoveryService:
    def __init__(self, inventory, engine: TaskEngine) -> None:
        self.inventory = inventory
        self.engine = engine

    async def plan(self, source_uri: str, destinations: list[str] | None = None) -> RecoveryPlan:
        """What would start where, and why not the rest. Reads only (the database, each
        destination once per machine); refused (``RecoveryRefused``) for a host that answers."""
        source = self.inventory.hosts.get(source_uri)
        if source is not None and source.connected:
            raise RecoveryRefused(f"{source_uri}: {ANSWERS}")
        marks = await self.inventory.executors.on_database(mark.in_maintenance)
        capacities, notes = destination_capacities(self.inventory.hosts, source_uri, destinations, marks,
                                                   source_is="the dead host", unreachable=DestinationUnreachable)
        reason, grouped = await self.inventory.executors.on_database(restore_candidates, [source_uri])
        if reason:
            raise RecoveryRefused(reason)
        should_run = {c.uuid for c in grouped.get(source_uri, [])}  # restore's rule, not a second one
        known = await self.inventory.executors.on_database(definitions.known_machines, source_uri)
        disk_users = await self.inventory.executors.on_database(definitions.stored_disk_users)
        recoveries = {}
        for row in known:
            machine = Machine(row.uuid, row.name, row.state, row.persistent, row.memory_kib, row.vcpus)
            recovery = recoveries[row.uuid] = Recovery(machine)
            if row.uuid not in should_run:
                recovery.left, recovery.reason = True, "it should not run (its desired state or restore policy)"
                continue
            if not row.persistent:
                recovery.reason = "a transient machine: it had no definition, and ended with its host"
                continue
            recovery.definition, recovery.reason = stored_definition(row.uuid, row.name, row.definition)
            if recovery.definition is not None:
                d = recovery.definition
                machine.memory_kib = d.current_memory_kib or d.memory_kib or machine.memory_kib
                machine.vcpus = d.vcpus or machine.vcpus
        wanted = [r.definition for r in recoveries.values() if r.definition is not None]
        verdicts = await asyncio.gather(*(self._check(uri, capacities[uri], wanted, disk_users)
                                          for uri in capacities))
        for uri, verdict in zip(capacities, verdicts, strict=True):
            for uuid, built in verdict.items():
                recoveries[uuid].built[uri] = built
                if built.problems:
                    recoveries[uuid].refusals[uri] = "; ".join(built.problems)
        plan = RecoveryPlan(source_uri, [], capacities, notes)
        for machine in order([r.machine for r in recoveries.values()]):
            recovery = recoveries[machine.uuid]
            plan.machines.append(recovery)
            if recovery.definition is not None:
                _place(recovery, capacities)
        if not known:
            plan.notes.append(f"the inventory knows no machine of {source_uri}")
        return plan

    async def _check(self, uri: str, capacity: DestinationCapacity, wanted: list[Domain],
                     disk_users: dict[str, list[tuple[str, str]]]) -> dict[str, Rebuilt]:
        """Each machine's definition rebuilt for one destination (one read of what it offers)."""
        def elsewhere(uuid: str) -> dict[str, list[str]]:
            return {key: [name for other, name in users if other != uuid] for key, users in disk_users.items()}

        def check(conn: libvirt.virConnect) -> tuple[Destination, dict[str, Rebuilt]]:
            found = read_destination(conn, uri)
            return found, {d.uuid: why_not_there(conn, found, d, elsewhere(d.uuid)) for d in wanted}
        try:
            host = connected_host(self.inventory.hosts.get(uri), uri, operation="check a destination")
            found, verdict = await host.call(check, operation="check a destination")
        except HypervisorError as error:
            return {d.uuid: Rebuilt(problems=[f"could not read the host: {error.one_line()}"]) for d in wanted}
        capacity.free_memory = found.free_memory
        return verdict

    def flow(self, plan: RecoveryPlan) -> Group:
        """One task: per machine, define it on its destination from the definition rebuilt for
        there (with the flow's mark, so that only this flow's undo removes it) and start it."""
        source = self.inventory.hosts.get(plan.source)
        label = source.label if source is not None else plan.source
        root = Group("recover_host", f"Recover the machines of {label}", host_uri=plan.source, concurrent=True,
                     limit=CONCURRENT_MACHINES)
        for recovery in plan.moving:
            m, uri = recovery.machine, recovery.destination
            token = secrets.token_hex(16)
            xml = with_flow_mark(recovery.built[uri].xml, token)
            dest = self.inventory.hosts.get(uri)
            group = Group("recover_machine", f"Recover {m.name} on {dest.label if dest else uri}", host_uri=uri,
                          target_uuid=m.uuid, target_name=m.name)
            group.children = [
                Step("define_domain", f"Define {m.name}", {"uuid": m.uuid, "name": m.name, "xml": xml, "mark": token},
                     uri, m.uuid, m.name),
                Step("start_domain", f"Start {m.name}", {"uuid": m.uuid, "name": m.name, "mark": token},
                     uri, m.uuid, m.name)]
            root.children.append(group)
        return root

    async def run(self, plan: RecoveryPlan) -> Outcome:
        """The operator confirmed the host is down: one recovery per host across instances
        (a lock), the host tried once more, then the flow; the inventory follows what started."""
        if not plan.possible:
            raise RecoveryRefused("; ".join(f"{r.machine.name}: {r.reason}" for r in plan.refused)
                                  or "nothing to recover")
        try:
            lock = await named_locks.take(f"recover:{plan.source}", self.inventory.executors.connect, timeout=2.0)
        except named_locks.LockTimeout as exc:
            raise RecoveryRefused(f"another instance is recovering {plan.source} ({exc})") from None
        try:
            if await self._answers(plan.source):
                raise RecoveryRefused(f"{plan.source}: {ANSWERS}")
            root = await self.engine.run(self.flow(plan))
            warnings = await self._record(plan) if root.status == SUCCEEDED else []
        finally:
            await lock.release()
        return Outcome(plan, root, await self.whereabouts(plan), warnings)

    async def _record(self, plan: RecoveryPlan) -> list[str]:
        """The inventory follows each machine that started; what it cannot record is said (the
        machine runs all the same: a warning, not a failure of the flow)."""
        warnings = []
        for recovery in plan.moving:
            m = recovery.machine
            try:
                await self.inventory.executors.on_database(definitions.record_recovered, plan.source,
                                                           recovery.destination, m.uuid, m.name,
                                                           recovery.built[recovery.destination].xml)
            except Exception as exc:  # noqa: BLE001  (the database away: say it, the machines run)
                log.warning("recovery of %s not recorded: %s", m.name, exc)
                warnings.append(f"{m.name}: the inventory could not record it on its new host ({exc}); its row on "
                                f"{plan.source} still says it should run there: set its restore policy to Never")
        return warnings

    async def _answers(self, uri: str) -> bool:
        """Whether the host answers now: its own connection tried once (bounded by its open's
        time limit); a host not configured in this session is added for the try."""
        host = self.inventory.hosts.get(uri) or self.inventory.add_host(uri)
        return host.connected or await host.connect()

    async def whereabouts(self, plan: RecoveryPlan) -> dict[str, list[str]]:
        """Which destinations have each planned machine now: one listing per destination."""
        uris = list(dict.fromkeys(r.destination for r in plan.moving))
        listings = await asyncio.gather(*(machine_states(self.inventory.hosts, uri, "the recovery") for uri in uris))
        return {r.machine.uuid: [u for u, seen in zip(uris, listings, strict=True) if r.machine.uuid in seen]
                for r in plan.moving}



def _place(recovery: Recovery, capacities: dict[str, DestinationCapacity]) -> None:
    """The destination with the most memory left after this machine (as a share of its free
    memory, then the lightest vCPU load), among those that see its disks and can hold it."""
    m = recovery.machine
    needed = m.memory_kib * 1024
    fits = []
    for uri, capacity in capacities.items():
        if uri in recovery.refusals:
            continue
        if capacity.free_memory is None:
            recovery.refusals[uri] = "its free memory is unknown"
        elif capacity.left() < needed:
            recovery.refusals[uri] = (f"not enough memory left: {capacity.left() // 2**20} MiB free after this plan's "
                                      f"earlier machines, {needed // 2**20} MiB needed")
        else:
            fits.append(capacity)
    if not fits:
        recovery.reason = ("no destination host to start it on" if not recovery.refusals else
                           "no destination can take it: " + "; ".join(
                               f"{uri}: {why}" for uri, why in sorted(recovery.refusals.items())))
        return
    # Balanced as the evacuation balances: a machine started there costs what a live move does.
    best = max(fits, key=lambda capacity: score(capacity, m, P2P))
    recovery.destination = best.uri
    best.promised_memory += needed
    best.promised_vcpus += m.vcpus
