"""Evacuating a host: a plan first (plan.py), then one flow with a step per machine.

The plan is built from the migration service's own negotiations (one per machine and
destination); the flow is the migration service's own plan for each machine, asked for with
the evacuation's own step (``evacuate_domain``: the same migration, with migrating back as
its opposite and the policy in its parameters, moves.py), grouped per destination so that a few migrations at a
time run per destination. On a failure, *move back* stops new migrations and the engine's
rollback migrates back the machines already moved (then the host leaves maintenance);
*keep going* lets the failed machine stay and the others move. Either way the outcome says,
per machine, on which host it is now (read from libvirt, one listing per host).
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field


from ..hosts.lookups import machine_states
from ..migration.checks import MigrationOptions
from ..migration.service import MigrationService
from ..sharing import named_locks
from ..tasks.engine import Group
from ..tasks.records import SUCCEEDED, TaskRecord
from . import mark
from .moves import EVACUATE_STEP, KEEP_GOING, MOVE_BACK, STAYED
from .plan import MOVE_OFFLINE, Machine, Plan, destination_capacities, make_plan

log = logging.getLogger(__name__)
POLICIES = (MOVE_BACK, KEEP_GOING)


class HostsUnreachable(Exception):
    """The source, or a destination the user named, is not connected (CLI exit 3)."""


class EvacuationRefused(Exception):
    """The plan cannot be run: a machine cannot move (every reason in the plan), or another
    instance is evacuating the host."""


@dataclass
class MachineLocation:
    name: str
    uuid: str
    was_on: str
    planned: str            # the planned destination ("" when it was to stay)
    now_on: list[str]       # URIs that have it (running, paused, or a shut-off definition)
    state: str = ""

    @property
    def as_planned(self) -> bool:
        return self.now_on == [self.planned or self.was_on]

    def as_json(self) -> dict:
        return {"machine": self.name, "uuid": self.uuid, "was_on": self.was_on, "planned": self.planned,
                "now_on": self.now_on, "state": self.state, "as_planned": self.as_planned}


@dataclass
class Outcome:
    plan: Plan
    task: TaskRecord | None
    machines: list[MachineLocation] = field(default_factory=list)
    maintenance: bool = False  # the host is still in maintenance

    @property
    def done(self) -> bool:
        return self.task is not None and self.task.status == SUCCEEDED and all(m.as_planned for m in self.machines)


class EvacuationService:
    def __init__(self, migrations: MigrationService) -> None:
        self.migrations = migrations
        self.inventory = migrations.inventory
        self.engine = migrations.engine

    async def plan(self, source_uri: str, destinations: list[str] | None = None, *, shut_off: str = MOVE_OFFLINE,
                   options: MigrationOptions | None = None) -> Plan:
        """Negotiate every machine of ``source_uri`` with every destination (those given, or
        every other connected host not in maintenance) and plan. Nothing is touched."""
        source = self.inventory.hosts.get(source_uri)
        if source is None or not source.connected:
            raise HostsUnreachable(f"{source_uri}: {source.reason if source else 'not configured'}")
        marks = await self.inventory.executors.on_database(mark.in_maintenance)
        capacities, notes = destination_capacities(self.inventory.hosts, source_uri, destinations, marks,
                                                   source_is="the host being evacuated", unreachable=HostsUnreachable)
        listed = self.inventory.machines_of(source_uri)
        vcpus = {m.uuid: m.vcpus for m in listed}
        pairs = [(m.uuid, uri) for m in listed for uri in capacities]
        options = options or MigrationOptions()
        negotiate = self.migrations.negotiate_or_why
        answers = await asyncio.gather(*(negotiate(source_uri, uuid, uri, options) for uuid, uri in pairs))
        negotiations = dict(zip(pairs, answers, strict=True))
        machines = []
        for info in listed:
            found = next((n for (u, _d), n in negotiations.items() if u == info.uuid and not isinstance(n, str)), None)
            if found is not None:
                f = found.machine
                machines.append(Machine(f.uuid, f.name, f.state, f.persistent, f.memory_kib, vcpus.get(f.uuid, 0)))
            else:
                machines.append(Machine(info.uuid, info.name, info.state, info.persistent, info.memory_kib,
                                        info.vcpus))
        for (_uuid, uri), negotiation in negotiations.items():
            if not isinstance(negotiation, str) and capacities[uri].free_memory is None:
                capacities[uri].free_memory = negotiation.facts.destination.free_memory
        plan = make_plan(source_uri, machines, negotiations, capacities, shut_off=shut_off)
        plan.notes = notes
        return plan

    def flow(self, plan: Plan, *, policy: str = MOVE_BACK, parallel: int = 2) -> Group:
        """One task: a group per destination (``parallel`` migrations at a time there), in it
        the migration service's plan for each machine, largest memory first."""
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r} (move-back or keep-going)")
        label = self.inventory.hosts[plan.source].label
        root = Group("evacuate", f"Evacuate {label}", host_uri=plan.source, concurrent=True,
                     limit=max(1, len(plan.capacities)))
        for uri, capacity in plan.capacities.items():
            moves = [m for m in plan.moves if m.destination == uri]
            if not moves:
                continue
            group = Group("evacuate-to", f"To {capacity.label}", host_uri=uri, concurrent=True, limit=max(1, parallel))
            for move in moves:  # plan.moves is in order already
                group.children.append(self.migrations.plan(move.negotiation, op=EVACUATE_STEP, policy=policy))
            root.children.append(group)
        return root

    async def run(self, plan: Plan, *, policy: str = MOVE_BACK, parallel: int = 2) -> Outcome:
        """Mark the host in maintenance, run the flow, and say where every machine is now."""
        if not plan.possible:
            raise EvacuationRefused("; ".join(f"{m.machine.name}: {m.reason}" for m in plan.refused))
        flow = self.flow(plan, policy=policy, parallel=parallel)
        try:
            lock = await named_locks.take(f"evacuate:{plan.source}", self.inventory.executors.connect, timeout=2.0)
        except named_locks.LockTimeout as exc:
            raise EvacuationRefused(f"another instance is evacuating {plan.source} ({exc})") from None
        try:
            await self.inventory.executors.on_database(mark.set_maintenance, plan.source, True)
            root = await self.engine.run(flow) if flow.children else None
        finally:
            await lock.release()
        outcome = Outcome(plan, root, await self.whereabouts(plan), maintenance=True)
        if root is not None and root.status != SUCCEEDED and policy == MOVE_BACK:
            # the evacuation is undone
            await self.inventory.executors.on_database(mark.set_maintenance, plan.source, False)
            outcome.maintenance = False
        return outcome

    async def whereabouts(self, plan: Plan) -> list[MachineLocation]:
        """Where each machine of the plan is now: one listing per host involved."""
        uris = [plan.source] + list(plan.capacities)
        listings = await asyncio.gather(*(machine_states(self.inventory.hosts, uri, "the evacuation") for uri in uris))
        seen = dict(zip(uris, listings, strict=True))
        out = []
        for move in plan.moves:
            m = move.machine
            now = [uri for uri in uris if m.uuid in seen[uri]]
            state = next((seen[uri][m.uuid] for uri in now), "")
            out.append(MachineLocation(m.name, m.uuid, plan.source, move.destination, now, state))
        return out



def stayed(record: TaskRecord | None) -> list[str]:
    """Names of the machines whose migration failed under *keep going*."""
    if record is None:
        return []
    out = [record.target_name] if record.op == EVACUATE_STEP and record.params.get("outcome") == STAYED else []
    for child in record.children:
        out += stayed(child)
    return out
