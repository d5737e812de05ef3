"""Restore: start again the machines that should run and do not (after the app or the host
restarted). One parent task, one child task per machine; a few starts at a time per host;
a machine that fails does not hold up the others; unreachable hosts are reported and left
for when they return.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import libvirt

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ..sharing import named_locks
from ..core.errors import HypervisorError
from ..hosts.connection import HostConnection
from ..inventory.live import Inventory
from ..hosts.states import state_name
from ..config import approved_hosts
from ..inventory import approvals, store
from ..inventory.machines import MachineInfo
from .lifecycle import Lifecycle
from ..tasks.service import TaskService
from ..tasks.records import SUCCEEDED, TaskFailed

PER_HOST = 4  # starts in flight per host: a booting fleet must not swamp its host's disks
STARTABLE = {"shutoff", "crashed", "nostate"}
POLICIES = {"last": "Last State", "always": "Always On", "never": "Never"}
POLICY_HELP = {"last": "Start it again if it ran when the app last stopped or you last started it (default)",
               "always": "Start it whenever restore runs, whatever its last state",
               "never": "Never start it on restore"}


@dataclass
class Candidate:
    host_uri: str
    uuid: str
    name: str


@dataclass
class RestoreResult:
    candidate: Candidate
    outcome: str  # started, already running, would start, failed, host unreachable
    error: HypervisorError | None = None

    def as_json(self) -> dict:
        c = self.candidate
        data = {"name": c.name, "uuid": c.uuid, "host": c.host_uri, "outcome": self.outcome}
        if self.error is not None:
            data["error"] = {"code": self.error.code, "code_name": self.error.code_name,
                             "domain": self.error.domain, "domain_name": self.error.domain_name,
                             "message": self.error.message, "summary": self.error.summary}
        return data


@dataclass
class RestoreReport:
    results: list[RestoreResult] = field(default_factory=list)
    unreachable: dict[str, str] = field(default_factory=dict)  # host URI -> reason
    skipped_reason: str = ""  # preconditions not met: nothing was tried

    def with_outcome(self, outcome: str) -> list[RestoreResult]:
        return [r for r in self.results if r.outcome == outcome]


def restore_preconditions() -> str:
    """'' when restore can run; else why not: the same needs as setup's import step."""
    reason = store.tables_missing(schema.Machine, schema.Host) or store.local_host_missing()
    return f"{reason}: run setup first" if reason else ""


def restore_candidates(hosts: list[str] | None = None) -> tuple[str, dict[str, list[Candidate]]]:
    """(reason not to run, machines that should run grouped by host). Blocking: database thread."""
    with database.connection_context():
        reason = restore_preconditions()
        if reason:
            return reason, {}
        M, H = schema.Machine, schema.Host
        wanted = (M.restore_policy == "always") | ((M.restore_policy == "last") & (M.desired_state == "running"))
        query = (M.select(M.uuid, M.name, H.uri).join(H)
                 .where(wanted & (M.missing == False)).order_by(H.uri, M.name))  # noqa: E712
        if hosts is not None:
            query = query.where(H.uri.in_(hosts))
        grouped: dict[str, list[Candidate]] = {}
        for row in query.dicts():
            grouped.setdefault(row["uri"], []).append(Candidate(row["uri"], row["uuid"], row["name"]))
        return "", grouped


class RestoreService:
    def __init__(self, inventory: Inventory, tasks: TaskService, lifecycle: Lifecycle) -> None:
        self.inventory = inventory
        self.tasks = tasks
        self.lifecycle = lifecycle

    async def run(self, grouped: dict[str, list[Candidate]], *, dry_run: bool = False) -> RestoreReport:
        report = RestoreReport()
        if not grouped:
            return report

        loop = asyncio.get_running_loop()
        allowed = await loop.run_in_executor(self.inventory.executors.database, approvals.approved_uris)
        grouped = dict(grouped)
        for uri in [u for u in grouped if u not in allowed]:
            # A host only a row names (another operator's, maybe): never connected to on its word.
            report.unreachable[uri] = approved_hosts.unapproved_reason(uri)
            report.results += [RestoreResult(m, "host unreachable") for m in grouped.pop(uri)]

        async def work(parent) -> str:
            await asyncio.gather(*(self._host(uri, machines, report, dry_run, parent)
                                   for uri, machines in grouped.items()))
            failed = report.with_outcome("failed")
            if failed or report.unreachable:
                parts = [f"{len(failed)} did not start"] if failed else []
                parts += [f"{len(report.unreachable)} host{'s' * (len(report.unreachable) != 1)} unreachable"]
                raise TaskFailed("; ".join(p for p in parts if not p.startswith("0 ")))
            counts = {}
            for result in report.results:
                counts[result.outcome] = counts.get(result.outcome, 0) + 1
            return ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))

        title = "Restore running machines" + (" (dry run)" if dry_run else "")
        await self.tasks.run("restore", title, work, pass_record=True)
        return report

    async def _host(self, uri: str, machines: list[Candidate], report: RestoreReport, dry_run: bool,
                    parent) -> None:
        host = self.inventory.hosts.get(uri)
        if host is None or not host.connected:
            report.unreachable[uri] = host.reason if host else "not configured in this session"
            report.results += [RestoreResult(m, "host unreachable") for m in machines]
            return
        slots = asyncio.Semaphore(PER_HOST)

        async def one(machine: Candidate) -> None:
            async with slots:
                report.results.append(await self._machine(host, machine, dry_run, parent))
        if dry_run:
            await asyncio.gather(*(one(m) for m in machines))
            return
        # One instance restores a host at a time (several operators' apps, or a boot-time
        # restore beside a window, on one inventory): the others wait, then find the
        # machines running, so each start happens once.
        loop = asyncio.get_running_loop()
        pool = self.inventory.executors.connect
        lock = named_locks.exclusive(f"restore:{uri}")
        try:
            await loop.run_in_executor(pool, lock.__enter__)
        except named_locks.LockTimeout as exc:
            report.unreachable[uri] = str(exc)
            report.results += [RestoreResult(m, "host unreachable") for m in machines]
            return
        try:
            await asyncio.gather(*(one(m) for m in machines))
        finally:
            await loop.run_in_executor(pool, lock.__exit__, None, None, None)

    async def _machine(self, host: HostConnection, machine: Candidate, dry_run: bool, parent) -> RestoreResult:
        try:
            state = await host.call(lambda conn: _state(conn, machine.uuid), operation="read state",
                                    machine=machine.name)
        except HypervisorError as error:
            return RestoreResult(machine, "failed", error)
        if state not in STARTABLE:
            return RestoreResult(machine, "already running")
        if dry_run:
            return RestoreResult(machine, "would start")

        record = await self.lifecycle.apply("start", MachineInfo(host.uri, machine.uuid, machine.name, state),
                                            title=f"Restore {machine.name}", parent=parent)
        if record.status == SUCCEEDED:
            return RestoreResult(machine, "started")
        return RestoreResult(machine, "failed", record.error or HypervisorError(record.error_message))


def _state(conn: libvirt.virConnect, uuid: str) -> str:
    return state_name(conn.lookupByUUIDString(uuid).state()[0])
