"""Migration between hosts: negotiate first, then run the chosen method as a task flow.

``negotiate`` reads both hosts (in their worker threads) and decides; nothing is
touched. ``run`` turns an allowed decision into a flow for the task engine: for
copy-storage, the destination volumes are created first (and deleted again by the
rollback if the migration fails), then one migrate step (``migration_run``).
"""
from __future__ import annotations

import asyncio
import os
import time
from dataclasses import asdict, dataclass

from ..core.errors import HypervisorError
from ..hosts.connection import connected_host
from .checks import COPY_STORAGE, OFFLINE, CheckResult, Decision, Facts, MigrationOptions, decide
from .facts import MachineFacts, read_destination, read_host, read_machine
from .ladder import LEGACY_PARAMS, NOT_TRIED, MethodRow, Rung, candidates, flags_for, method_rows, typed_params
from ..tasks.engine import Group, Step, TaskEngine
from ..tasks.records import TaskRecord


@dataclass
class Negotiation:
    facts: Facts
    decision: Decision
    elapsed_ms: float

    @property
    def machine(self) -> MachineFacts:
        return self.facts.machine

    def methods(self) -> list[MethodRow]:
        """Every way of migrating, in the order it would be tried, each a candidate or ruled out."""
        return method_rows(self.facts, self.decision)

    def to_dict(self) -> dict:
        return {
            "machine": self.machine.name, "uuid": self.machine.uuid, "state": self.machine.state,
            "source": self.facts.source.uri, "destination": self.facts.destination.uri,
            "allowed": self.decision.allowed, "method": self.decision.method,
            "reason": self.decision.reason(), "negotiation_ms": round(self.elapsed_ms, 1),
            "checks": [{**asdict(r), "rules_out": sorted(r.rules_out)} for r in self.decision.results],
            "methods": [row.to_dict() for row in self.methods()],
        }


class MigrationService:
    def __init__(self, inventory, engine: TaskEngine) -> None:
        self.inventory = inventory
        self.engine = engine

    def _host(self, uri: str):
        return connected_host(self.inventory.hosts.get(uri), uri, operation="migration check")

    async def negotiate(self, source_uri: str, machine: str, dest_uri: str,
                        options: MigrationOptions | None = None) -> Negotiation:
        """Read both hosts and decide; raises HypervisorError when a host cannot be read."""
        options = options or MigrationOptions()
        source, destination = self._host(source_uri), self._host(dest_uri)
        started = time.perf_counter()
        facts = await source.call(lambda conn: read_machine(conn, machine), operation="migration check",
                                  machine=machine)
        source_side, dest_side = await asyncio.gather(
            source.call(lambda conn: read_host(conn, source_uri), operation="migration check"),
            destination.call(lambda conn: read_destination(conn, dest_uri, facts), operation="migration check"))
        all_facts = Facts(facts, source_side, dest_side, options)
        return Negotiation(all_facts, decide(all_facts), 1000 * (time.perf_counter() - started))

    async def negotiate_or_why(self, source_uri: str, machine: str, dest_uri: str,
                               options: MigrationOptions | None = None) -> Negotiation | str:
        """``negotiate``, or why the hosts could not be read (one machine of many: the others go on)."""
        try:
            return await self.negotiate(source_uri, machine, dest_uri, options)
        except HypervisorError as error:
            return f"could not read the hosts: {error.one_line()}"

    def plan(self, negotiation: Negotiation, *, op: str = "migrate_domain", **step_params) -> Group:
        """The flow of one migration: pre-created volumes, then the migration step ``op`` (a
        caller's own kind of migration step, e.g. an evacuation's, with its ``step_params``)."""
        if not negotiation.decision.allowed:
            raise ValueError(f"migration refused: {negotiation.decision.reason()}")
        facts, method = negotiation.facts, negotiation.decision.method
        machine, options = facts.machine, facts.options
        dest_label = self._host(facts.destination.uri).label
        flow = Group("migrate", f"Migrate {machine.name} to {dest_label} ({method})",
                     host_uri=facts.source.uri, target_uuid=machine.uuid, target_name=machine.name)
        if method == COPY_STORAGE:
            for disk in (d for d in machine.disks if d.needs_copy):
                folder, name = os.path.split(os.path.normpath(disk.path))
                flow.children.append(Step(
                    "precreate_volume", f"Create {name} on {dest_label}",
                    {"pool": facts.destination.pool_paths[folder], "name": name, "capacity": disk.capacity,
                     "format": disk.format, "path": disk.path, "uuid": machine.uuid, "source_uri": facts.source.uri},
                    facts.destination.uri, machine.uuid, machine.name))
        rungs = candidates(facts, negotiation.decision)
        if not rungs:
            raise ValueError("migration refused: no way of migrating is left for these hosts' versions")
        ladder = [_rung_params(rung, facts) for rung in rungs]
        flow.children.append(Step(op, f"Migrate {machine.name} ({method})", {
            "uuid": machine.uuid, "name": machine.name, "source_uri": facts.source.uri,
            "dest_uri": facts.destination.uri, "method": method, "flags": ladder[0]["flags"],
            "params": ladder[0]["params"], "ladder": ladder,
            "methods": [MethodRow(r.method, r.api, NOT_TRIED).to_dict() for r in rungs],
            "max_downtime_ms": options.max_downtime_ms,
            "postcopy": options.postcopy and method != OFFLINE, "stall_timeout_s": options.stall_timeout_s,
            "dest_had_definition": facts.destination.same_uuid is not None, "persistent": options.persistent,
            **step_params,
        }, facts.source.uri, machine.uuid, machine.name))
        return flow

    async def run(self, negotiation: Negotiation) -> TaskRecord:
        return await self.engine.run(self.plan(negotiation))


def _rung_params(rung: Rung, facts: Facts) -> dict:
    """What one rung sends: its flags and the parameters its entry point can carry."""
    params = typed_params(rung.method, facts.options, facts)
    if not rung.extensible:
        params = {k: v for k, v in params.items() if k in LEGACY_PARAMS}
    return {"method": rung.method, "api": rung.api, "flags": flags_for(rung, facts.options), "params": params}


def refusal_check(error: HypervisorError) -> CheckResult | None:
    """libvirt's own refusal, as a row of the negotiation table (what we could not infer)."""
    message, name = error.message, error.code_name
    table = [
        ("same host" in message, "Same host", "Choose another destination host (distinct host UUIDs)."),
        (name == "ARGUMENT_UNSUPPORTED", "Migration features", "Use another method (peer-to-peer)."),
        (name == "NO_SUPPORT", "Migration features", "Use hosts whose driver migrates machines."),
        (name == "MIGRATE_UNSAFE", "Disks", "Use shared storage or copy the storage."),
        (name == "NO_STORAGE_POOL", "Storage on destination", "Create the pool on the destination."),
        (name == "CPU_INCOMPATIBLE", "CPU", "Choose a CPU model both hosts support."),
        ("already exists" in message or name == "DOM_EXIST", "Name and UUID on destination",
         "Remove or rename the machine on the destination."),
        (name in ("OPERATION_ABORTED", "OPERATION_TIMEOUT"), "Running job", "Start the migration again."),
    ]
    for matched, check, remedy in table:
        if matched:
            return CheckResult(check, "", "", "fail", f"libvirt refused: {message}", remedy)
    return None
