"""Restore: start again the machines that should run and do not (after the app or the host
restarted), and resume those found paused when their policy says so. One parent task, one
child task per machine; a few starts at a time per host; a machine that fails does not
hold up the others; unreachable hosts are reported and left for when they return. A
machine whose guest type the local host record says the host does not offer is reported,
not started.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import libvirt

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ..sharing import named_locks
from ..core.errors import HypervisorError
from ..hosts.connection import HostConnection, HostState, not_connected
from ..inventory.live import Inventory
from ..hosts import guest_support
from ..hosts.capabilities import GuestType
from ..libvirt_xml.domain import Domain, read_domain
from ..hosts.states import state_name
from ..config import approved_hosts
from ..inventory import approvals, store
from ..inventory.machines import MachineInfo
from .lifecycle import LOST_REPLY_CHECK, Lifecycle
from .host_away import CHECKS, ReconnectWait, not_back
from ..tasks.service import TaskService
from ..tasks.records import SUCCEEDED, TaskFailed, TaskRecord
from ..tasks.tree import host_was_away

log = logging.getLogger(__name__)
PER_HOST = 4  # starts in flight per host: a booting fleet must not swamp its host's disks
STARTABLE = {"shutoff", "crashed", "nostate"}
POLICIES = {"last": "Last State", "always": "Always On", "never": "Never"}
POLICY_HELP = {"last": "Start it again if it ran when the app last stopped or you last started it (default)",
               "always": "Start it whenever restore runs, whatever its last state",
               "never": "Never start it on restore"}

# What restore does with a machine that should run and is found paused. libvirt's state
# reason says who paused it: a fault (I/O error, watchdog, a failed call, or a pause
# libvirt cannot explain, as after its daemon restarted) is what users expect undone; a
# pause someone chose (virsh suspend, a snapshot reverted paused) is theirs to end.
PAUSED_POLICIES = {"resume-after-fault": "Resume If Paused by a Fault",
                   "resume-always": "Resume Even If Paused on Purpose",
                   "keep-paused": "Leave Paused"}
PAUSED_HELP = {"resume-after-fault": "If it is found paused by an I/O error, a watchdog or an unknown cause, "
                                     "resume it; if someone paused it, leave it (default)",
               "resume-always": "If it is found paused, resume it, even when someone paused it on purpose",
               "keep-paused": "If it is found paused, leave it paused"}
assert store.DEFAULT_PAUSED in PAUSED_POLICIES
# libvirt's reasons for a pause, by name (its constants; the codes as fallback for older bindings).
PAUSE_REASONS = {name: getattr(libvirt, f"VIR_DOMAIN_PAUSED_{name}", code) for name, code in (
    ("UNKNOWN", 0), ("USER", 1), ("MIGRATION", 2), ("SAVE", 3), ("DUMP", 4), ("IOERROR", 5), ("WATCHDOG", 6),
    ("FROM_SNAPSHOT", 7), ("SHUTTING_DOWN", 8), ("SNAPSHOT", 9), ("CRASHED", 10), ("STARTING_UP", 11),
    ("POSTCOPY", 12), ("POSTCOPY_FAILED", 13), ("API_ERROR", 14))}


def _by_reason(words: dict[str, str]) -> dict[int, str]:
    return {PAUSE_REASONS[name]: text for name, text in words.items()}


FAULTS = _by_reason({"UNKNOWN": "paused for a reason libvirt does not know", "IOERROR": "paused by an I/O error",
                     "WATCHDOG": "paused by its watchdog", "API_ERROR": "paused after a failed libvirt call"})
ON_PURPOSE = _by_reason({"USER": "paused by a user", "FROM_SNAPSHOT": "paused by reverting to a snapshot"})
# Never resumed: a job holds the pause (resuming would break it), or resuming would do harm.
HELD = _by_reason({"MIGRATION": "paused by a migration in progress", "SAVE": "paused by a save in progress",
                   "DUMP": "paused by a memory dump in progress", "SNAPSHOT": "paused by a snapshot in progress",
                   "SHUTTING_DOWN": "paused while shutting down", "STARTING_UP": "paused while starting up",
                   "POSTCOPY": "paused by a post-copy migration in progress",
                   "POSTCOPY_FAILED": "paused by a failed post-copy migration (its memory is split between hosts)",
                   "CRASHED": "paused by a guest crash (kept for inspection)"})


def paused_decision(policy: str, reason: int) -> tuple[bool, str]:
    """(resume it?, why it is paused) for a machine that should run and is paused."""
    if reason in HELD:
        return False, HELD[reason]
    if reason in FAULTS:
        return policy != "keep-paused", FAULTS[reason]
    if reason in ON_PURPOSE:
        return policy == "resume-always", ON_PURPOSE[reason]
    return False, f"paused for a reason this app does not know (libvirt reason {reason})"


@dataclass
class Candidate:
    host_uri: str
    uuid: str
    name: str
    paused_policy: str = store.DEFAULT_PAUSED
    policy: str = "last"  # the machine's restore policy: last, always
    skip: str = ""  # why restore must not start it (its host is in maintenance), in words


def marked_always_on(grouped: dict[str, list[Candidate]]) -> dict[str, list[Candidate]]:
    """Only the machines marked Always On (the window's "restore at start" choice)."""
    kept = {uri: [c for c in machines if c.policy == "always"] for uri, machines in grouped.items()}
    return {uri: machines for uri, machines in kept.items() if machines}


@dataclass
class RestoreResult:
    candidate: Candidate
    # started, already running, would start, resumed, would resume, left paused, failed,
    # host unreachable, new UUID (the same name is there under another UUID: not started),
    # in maintenance (its host is: not started, ``detail`` says since when and who set it)
    outcome: str
    error: HypervisorError | None = None
    detail: str = ""  # why: "paused by a user"; what a lost reply's check found

    def as_json(self) -> dict:
        c = self.candidate
        data = {"name": c.name, "uuid": c.uuid, "host": c.host_uri, "outcome": self.outcome}
        if self.detail:
            data["detail"] = self.detail
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
        query = (M.select(M.uuid, M.name, M.paused_policy, M.restore_policy, H.uri, H.maintenance_by,
                          H.maintenance_since).join(H)
                 .where(wanted & (M.missing == False)).order_by(H.uri, M.name))  # noqa: E712
        if hosts is not None:
            query = query.where(H.uri.in_(hosts))
        grouped: dict[str, list[Candidate]] = {}
        for row in query.dicts():
            paused = row["paused_policy"] if row["paused_policy"] in PAUSED_POLICIES else store.DEFAULT_PAUSED
            skip = ""
            if row["maintenance_by"]:  # another instance may have set it: the row is shared
                since = row["maintenance_since"]
                skip = (f"its host is in maintenance since {since:%Y-%m-%d %H:%M:%S} UTC" if since
                        else "its host is in maintenance") + f" (set by {row['maintenance_by']})"
            grouped.setdefault(row["uri"], []).append(
                Candidate(row["uri"], row["uuid"], row["name"], paused, row["restore_policy"], skip))
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
        for uri in [u for u, machines in grouped.items() if any(m.skip for m in machines)]:
            # A host in maintenance: nothing starts there, each machine says why.
            report.results += [RestoreResult(m, "in maintenance", detail=m.skip) for m in grouped.pop(uri)]
        for uri in [u for u in grouped if u not in allowed]:
            # A host only a row names (another operator's, maybe): never connected to on its word.
            report.unreachable[uri] = approved_hosts.unapproved_reason(uri)
            report.results += [RestoreResult(m, "host unreachable") for m in grouped.pop(uri)]

        # Taken before any machine: a host that goes away during the restore is waited for
        # (bounded), one already away is reported at once.
        waiter = self.lifecycle.reconnect_waiter(grouped)

        async def work(parent) -> str:
            await asyncio.gather(*(self._host(uri, machines, report, dry_run, parent, waiter)
                                   for uri, machines in grouped.items()))
            failed = report.with_outcome("failed")
            if (failed or report.unreachable) and not dry_run:  # a dry run changed nothing: no failed task
                parts = [f"{len(failed)} did not start"] if failed else []
                parts += [f"{len(report.unreachable)} host{'s' * (len(report.unreachable) != 1)} unreachable"]
                raise TaskFailed("; ".join(p for p in parts if not p.startswith("0 ")))
            counts = {}
            for result in report.results:
                counts[result.outcome] = counts.get(result.outcome, 0) + 1
            return ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))

        title = "Restore running machines" + (" (dry run)" if dry_run else "")
        record = await self.tasks.run("restore", title, work, pass_record=True)
        log.info("%s: %s: %s", record.title, record.status, record.outcome)  # each start: lifecycle's line
        return report

    async def _host(self, uri: str, machines: list[Candidate], report: RestoreReport, dry_run: bool,
                    parent, waiter: ReconnectWait) -> None:
        host = self.inventory.hosts.get(uri)
        if host is not None and not host.connected and not host.closed_on_purpose and (
                host.state in (HostState.CONNECTING, HostState.RECONNECTING) or not host.reason):
            # Its first attempt (the window's start-up), joined, not repeated; bounded by the
            # open's time limit, and waited for like the others if it goes away after.
            if await host.connect():
                waiter.adopt(host)
        if host is None or not host.connected:
            report.unreachable[uri] = host.reason if host else "not configured in this session"
            report.results += [RestoreResult(m, "host unreachable") for m in machines]
            return
        slots = asyncio.Semaphore(PER_HOST)
        loop = asyncio.get_running_loop()
        offered = await loop.run_in_executor(self.inventory.executors.database,
                                             store.recorded_guest_types, uri)

        async def one(machine: Candidate) -> None:
            async with slots:
                result = await self._machine(host, machine, dry_run, parent, offered, waiter)
                if result.outcome == "host unreachable":  # it went away during the restore and is not back
                    report.unreachable.setdefault(uri, result.error.one_line() if result.error else host.reason)
                report.results.append(result)
        if dry_run:
            await asyncio.gather(*(one(m) for m in await self._running_already(host, machines, report)))
            return
        # One instance restores a host at a time (several operators' apps, or a boot-time
        # restore beside a window, on one inventory): the others wait, then find the
        # machines running, so each start happens once.
        try:
            lock = await named_locks.take(f"restore:{uri}", self.inventory.executors.connect)
        except named_locks.LockTimeout as exc:
            report.unreachable[uri] = str(exc)
            report.results += [RestoreResult(m, "host unreachable") for m in machines]
            return
        try:
            # Read under the lock: another instance's starts are seen.
            await asyncio.gather(*(one(m) for m in await self._running_already(host, machines, report)))
        finally:
            await lock.release()

    async def _running_already(self, host: HostConnection, machines: list[Candidate],
                               report: RestoreReport) -> list[Candidate]:
        """Report the machines that run already from one read of the host's states (one call
        however many machines: a far host, a 10,000-machine host) and return the others, each
        then read again on its own (a paused one's reason, a startable one's guest type). If
        that read fails, every machine goes on alone: its own read waits for the host."""
        try:
            states = await host.call(_states, operation="read states")
        except HypervisorError as error:
            log.info("restore on %s reads machine by machine: %s", host.uri, error.one_line())
            return machines
        others = []
        for machine in machines:
            state = states.get(machine.uuid)
            if state is not None and state not in STARTABLE and state != "paused":
                report.results.append(RestoreResult(machine, "already running"))
            else:
                others.append(machine)
        return others

    async def _machine(self, host: HostConnection, machine: Candidate, dry_run: bool, parent,
                       offered: list[GuestType] | None, waiter: ReconnectWait) -> RestoreResult:
        try:
            state, reason, details = await self._read(host.uri, machine, offered is not None, waiter)
        except HypervisorError as error:
            if error.code == libvirt.VIR_ERR_NO_DOMAIN:
                renamed = await self._same_name(host, machine)
                if renamed:
                    return RestoreResult(machine, "new UUID", detail=renamed)
            return RestoreResult(machine, "host unreachable" if host_was_away(error) else "failed", error)
        if state == "paused":
            return await self._paused(host, machine, reason, dry_run, parent, waiter)
        if state not in STARTABLE:
            return RestoreResult(machine, "already running")
        refused = details and guest_support.unsupported_reason(
            offered or [], os_type=details.os_type, arch=details.arch, machine_type=details.machine_type,
            domain_type=details.domain_type)
        if refused:
            # Started blindly it would fail in the hypervisor, or start as something else. The
            # code is the one libvirt gives such a machine, so it reads as libvirt's refusal would.
            return RestoreResult(machine, "failed", HypervisorError(
                f"not started: {refused}", code=libvirt.VIR_ERR_CONFIG_UNSUPPORTED, operation="start",
                machine=machine.name, host_uri=host.uri))
        if dry_run:
            return RestoreResult(machine, "would start")

        record = await self.lifecycle.apply("start", MachineInfo(host.uri, machine.uuid, machine.name, state),
                                            title=f"Restore {machine.name}", parent=parent, waiter=waiter,
                                            records_intent=False)  # it acts on the intent; never changes it
        return _result(machine, record, "started")

    async def _read(self, uri: str, machine: Candidate, with_details: bool,
                    waiter: ReconnectWait) -> tuple[str, int, Domain | None]:
        """The machine's state, waiting (bounded) for its host when it went away during the
        restore: a machine is never reported "failed" for a daemon restart."""
        error: HypervisorError | None = None
        for _ in range(CHECKS):
            host = self.inventory.hosts.get(uri)
            if not await waiter.until_back(host):
                break
            assert host is not None
            try:
                return await host.call(lambda conn: _read(conn, machine.uuid, with_details),
                                       operation="read state", machine=machine.name)
            except HypervisorError as failure:
                if not (host_was_away(failure) and waiter.waits_for(host)):
                    raise
                error = failure
        host = self.inventory.hosts.get(uri)
        if error is not None:
            raise not_back(error, host, waiter.seconds, False)
        raise not_connected(uri, host.reason if host else "not configured in this session",
                            label=host.label if host else "", operation="read state", machine=machine.name)

    async def _same_name(self, host: HostConnection, machine: Candidate) -> str:
        """Why a machine not found by its UUID was not started when a machine of the same name
        is there under another UUID (redefined, or a host that gives new UUIDs at every open:
        the inventory tracks UUIDs, so that one is another machine to it); "" when none is."""
        def find(conn: libvirt.virConnect) -> str:
            try:
                return conn.lookupByName(machine.name).UUIDString()
            except libvirt.libvirtError:
                return ""
        try:
            uuid = await host.call(find, operation="look up by name", machine=machine.name)
        except HypervisorError:
            return ""
        if not uuid or uuid == machine.uuid:
            return ""
        return (f"same name, new UUID: {machine.name} is on the host as {uuid}, a machine the inventory "
                f"did not know as {machine.uuid}; not started")

    async def _paused(self, host: HostConnection, machine: Candidate, reason: int, dry_run: bool,
                      parent, waiter: ReconnectWait) -> RestoreResult:
        resume, why = paused_decision(machine.paused_policy, reason)
        if not resume:
            return RestoreResult(machine, "left paused", detail=why)
        if dry_run:
            return RestoreResult(machine, "would resume", detail=why)
        # The one lifecycle path: the machine's lock, the task (the intent it acts on stays as it is).
        record = await self.lifecycle.apply("resume", MachineInfo(host.uri, machine.uuid, machine.name, "paused"),
                                            title=f"Resume {machine.name}", parent=parent, waiter=waiter,
                                            records_intent=False)
        return _result(machine, record, "resumed", why)


def _result(machine: Candidate, record: TaskRecord, done: str, why: str = "") -> RestoreResult:
    """A machine's outcome from its lifecycle task: done (with what a lost reply's check
    found), "host unreachable" when its host went away and did not come back in time (not a
    refusal: the next restore tries again), else "failed" with libvirt's error."""
    if record.status == SUCCEEDED:
        check = record.params.get(LOST_REPLY_CHECK, "")
        return RestoreResult(machine, done, detail="; ".join(p for p in (why, check) if p))
    error = record.error or HypervisorError(record.error_message)
    return RestoreResult(machine, "host unreachable" if host_was_away(record.error) else "failed", error, detail=why)


def _states(conn: libvirt.virConnect) -> dict[str, str]:
    """Every domain's state by UUID, in one call (the UUID is known on the client side)."""
    return {dom.UUIDString(): state_name(stats.get("state.state", 0))
            for dom, stats in conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE)}


def _read(conn: libvirt.virConnect, uuid: str, with_details: bool) -> tuple[str, int, Domain | None]:
    """(state, libvirt's reason for it, the domain's XML facts when asked)."""
    dom = conn.lookupByUUIDString(uuid)
    state, reason = dom.state()
    name = state_name(state)
    return name, reason, read_domain(dom) if with_details and name in STARTABLE else None
