"""Lifecycle actions on machines, each one a task; bulk actions over a selection."""
from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import libvirt

from ..sharing import machine_locks
from ..core.errors import HypervisorError
from ..hosts.connection import CALLS_PER_HOST, not_connected
from ..inventory.live import Inventory
from ..hosts.states import ACTIVE_STATES
from ..inventory.machines import MachineInfo
from ..tasks.service import TaskService
from ..tasks.records import CANCELLED, FAILED, PENDING, SUCCEEDED, TaskRecord
from ..tasks.tree import effect_uncertain, host_was_away
from .host_away import CHECKS, RECONNECT_WAIT, ReconnectWait, not_back, read_state

log = logging.getLogger(__name__)
WORKERS_PER_HOST = CALLS_PER_HOST * 4  # steps ready to go when a call slot frees
BULK = "bulk"  # the kind of the task of one action on several machines
# A lifecycle task's parameter: what the check of a lost reply found ("its reply was lost;
# checked: running"); restore reports it beside the outcome.
LOST_REPLY_CHECK = "lost_reply_check"

# What the user asked for is what restore brings back (pause keeps the machine "on").
DESIRED_AFTER = {"start": "running", "resume": "running", "reboot": "running",
                 "shutdown": "shutoff", "force_off": "shutoff"}


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    verb: str  # for task titles: "Start web-01"
    call: Callable[[libvirt.virDomain], object]
    applies_to: frozenset[str]  # states in which the action makes sense (for enabling buttons)
    past: str = ""  # for outcomes: "started (its reply was lost; checked: running)"
    # States that show the request took effect, read when its reply was lost; None: the
    # state cannot tell (a reboot leaves it running), so the request is sent again.
    reached: frozenset[str] | None = None


ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("start", "Start", "Start", lambda d: d.create(), frozenset({"shutoff", "crashed", "nostate"}),
           "started", frozenset(ACTIVE_STATES)),
    # "shutdown" (shutting down) counts: the guest got the request and is acting on it.
    Action("shutdown", "Shut down", "Shut down", lambda d: d.shutdown(), frozenset({"running", "blocked"}),
           "shut down", frozenset({"shutoff", "shutdown", "crashed"})),
    Action("force_off", "Force off", "Force off", lambda d: d.destroy(), frozenset(ACTIVE_STATES | {"crashed"}),
           "forced off", frozenset({"shutoff", "crashed"})),
    Action("reboot", "Reboot", "Reboot", lambda d: d.reboot(0), frozenset({"running", "blocked"}), "rebooted"),
    Action("pause", "Pause", "Pause", lambda d: d.suspend(), frozenset({"running", "blocked"}),
           "paused", frozenset({"paused"})),
    Action("resume", "Resume", "Resume", lambda d: d.resume(), frozenset({"paused", "pmsuspended"}),
           "resumed", frozenset({"running", "blocked"})),
)}


@dataclass(frozen=True)
class Selection:
    """The machines an action applies to, and those it skips."""
    action: Action
    chosen: list[MachineInfo]
    skipped: list[MachineInfo]


def select_for(action_name: str, machines: Iterable[MachineInfo]) -> Selection:
    """Which machines the action applies to: those shown live (their host answers) in a state
    the action is for. The window enables its buttons by it, acts on the chosen ones only and
    counts the skipped ones. (The command line acts on every machine it is given: libvirt says
    why one in the wrong state is refused.)"""
    action = ACTIONS[action_name]
    chosen, skipped = [], []
    for machine in machines:
        (chosen if machine.live and machine.state in action.applies_to else skipped).append(machine)
    return Selection(action, chosen, skipped)


class Lifecycle:
    def __init__(self, inventory: Inventory, tasks: TaskService) -> None:
        self.inventory = inventory
        self.tasks = tasks
        self.reconnect_wait = RECONNECT_WAIT  # seconds a step waits for a host that went away

    def reconnect_waiter(self, uris: Iterable[str]) -> ReconnectWait:
        """One action's patience with its hosts (shared by its steps): see ReconnectWait."""
        return ReconnectWait(self.reconnect_wait, [self.inventory.hosts.get(uri) for uri in set(uris)])

    async def apply(self, action_name: str, machine: MachineInfo, *, record: TaskRecord | None = None,
                    title: str = "", parent: TaskRecord | None = None,
                    waiter: ReconnectWait | None = None, records_intent: bool = True) -> TaskRecord:
        """One action on one machine as a task: the one path every caller takes (the window,
        bulk actions, restore, the command line). It records what the user asked for before
        the call (restore brings it back, whatever the call's fate), holds the machine's lock
        across instances, waits (bounded) for a host that went away during the action, and
        checks a call whose reply was lost against libvirt (``_step``).
        ``record``: its task, created beforehand; else one titled ``title`` under ``parent``.
        ``waiter``: the action's patience with its hosts, shared by a bulk action's steps.
        ``records_intent``: False for restore, which acts on the recorded intent and never
        changes it (a start it cannot make leaves "should run", to be tried again)."""
        action = ACTIONS[action_name]
        waiter = waiter or self.reconnect_waiter([machine.host_uri])
        checks: list[str] = []  # what a lost reply's check found (kept in the task's params)

        async def work() -> str:
            intent = DESIRED_AFTER.get(action.name) if records_intent else None
            # The intent, queued on the database thread ahead of the call (a reply lost with the
            # guest running, or a crash meanwhile, still leaves "should run"), when the action
            # applies to the machine as last seen; else only once it succeeded.
            early = intent is not None and machine.state in action.applies_to
            if early:
                self.inventory.record_desired(machine.host_uri, [machine.uuid], intent)
            try:
                check = await self._step(action, machine, waiter)
            except Exception as exc:
                definite = not (isinstance(exc, HypervisorError) and (effect_uncertain(exc) or host_was_away(exc)))
                if early and definite:  # refused (the daemon said so, or the machine was busy): it did nothing
                    self.inventory.record_desired(machine.host_uri, [machine.uuid],
                                                  "running" if machine.state in ACTIVE_STATES else "shutoff")
                raise
            if intent is not None and not early:
                self.inventory.record_desired(machine.host_uri, [machine.uuid], intent)
            checks.append(check)
            return f"{action.past} ({check})" if check else ""

        if record is None:
            record = await self.tasks.run(action.name, title or f"{action.verb} {machine.name}", work,
                                          host_uri=machine.host_uri, target_uuid=machine.uuid,
                                          target_name=machine.name, parent=parent)
        else:
            await self.tasks.run_task(record, work)
        if checks and checks[0]:
            record.params = {**record.params, LOST_REPLY_CHECK: checks[0]}
        log.info("%s on %s: %s: %s", record.title, machine.host_uri, record.status, record.outcome)
        return record

    async def _step(self, action: Action, machine: MachineInfo, waiter: ReconnectWait) -> str:
        """The call, and what its host's going away means for it. Returns what a lost reply's
        check found ("" when no reply was lost).

        Nothing sent (the host was away): wait for it and send. Reply lost (the call may have
        taken effect): wait for the host, read the machine's state, and report what happened;
        a request that did not take effect is sent again (every lifecycle request is safe to
        repeat once the state says it is not done). Each is tried ``CHECKS`` times at most."""
        uri, uuid = machine.host_uri, machine.uuid
        lost: HypervisorError | None = None  # the latest call whose reply was lost
        away: HypervisorError | None = None  # the latest failure because the host was away
        checked = ""
        for _ in range(CHECKS):
            host = self.inventory.hosts.get(uri)
            if not await waiter.until_back(host):
                error = lost or away or not_connected(
                    uri, (host.reason or host.state.value) if host else "not configured in this session",
                    label=host.label if host else "", operation=action.name, machine=machine.name)
                raise not_back(error, host, waiter.seconds, lost is not None) if waiter.waits_for(host) else error
            assert host is not None
            if lost is not None:
                try:
                    checked = await host.call(lambda conn: read_state(conn, uuid), operation=f"check {action.name}",
                                              machine=machine.name)
                except HypervisorError as error:
                    if not host_was_away(error):
                        raise
                    continue  # gone again: wait for it again
                if action.reached is not None and checked in action.reached:
                    return f"its reply was lost; checked: {checked}"
            try:
                await machine_locks.call_locked(host, uuid, machine.name, action.name,
                                                lambda conn: action.call(conn.lookupByUUIDString(uuid)))
            except HypervisorError as error:
                if effect_uncertain(error):
                    lost = error
                elif host_was_away(error) and waiter.waits_for(host):
                    away = error  # nothing was sent: send it once the host is back
                else:
                    raise
                continue
            if lost is not None:  # the request had not taken effect (or never left): sent again
                return f"the connection broke under it; checked: {checked}; sent again"
            return ""
        raise lost or away or AssertionError("unreachable")

    async def apply_many(self, action_name: str, machines: Iterable[MachineInfo]) -> list[TaskRecord]:
        """One action on several machines: one task ("Start 1000 machines") with one step per
        machine, all shown at once as pending; the steps' records come back in the order given.

        One task per user action keeps the task list short (every top-level insertion
        re-lays out the top-level rows). Each host works through its own queue with a few
        workers, more than it runs at once (CALLS_PER_HOST), so a step is ready when a call
        slot frees, a slow host does not hold up the others, and no thousand live
        coroutines wait for the cycle collector to walk. Cancelling the task starts no
        more steps. The GUI gap of a 1,000-machine action is guarded by
        bench/responsiveness.py.
        """
        chosen = list(machines)
        waiter = self.reconnect_waiter(m.host_uri for m in chosen)  # taken before any step: who was up
        if len(chosen) < 2:
            return [await self.apply(action_name, machine, waiter=waiter) for machine in chosen]
        action = ACTIONS[action_name]
        hosts = {machine.host_uri for machine in chosen}
        bulk = self.tasks.create(BULK, f"{action.verb} {len(chosen)} machines", announce=False,
                                 host_uri=hosts.pop() if len(hosts) == 1 else "")
        steps = [self.tasks.create(action.name, f"{action.verb} {m.name}", parent=bulk, announce=False,
                                   host_uri=m.host_uri, target_uuid=m.uuid, target_name=m.name) for m in chosen]
        self.tasks.announce(bulk)  # one insertion for the views
        self.tasks.start(bulk)
        stop = asyncio.Event()
        bulk.cancel = stop.set
        queues: dict[str, deque[int]] = defaultdict(deque)
        for index, machine in enumerate(chosen):
            queues[machine.host_uri].append(index)
        ended = 0

        async def work_through(queue: deque[int]) -> None:
            nonlocal ended
            while queue:
                index = queue.popleft()
                if stop.is_set():
                    self.tasks.finish(steps[index], CANCELLED, message="not started: the action was cancelled")
                else:
                    await self.apply(action_name, chosen[index], record=steps[index], waiter=waiter)
                ended += 1
                if ended * 100 // len(steps) != bulk.progress:  # at most a hundred updates
                    bulk.progress = ended * 100 // len(steps)
                    self.tasks.changed(bulk)

        try:
            await asyncio.gather(*(work_through(queue) for queue in queues.values()
                                   for _ in range(min(len(queue), WORKERS_PER_HOST))))
        except asyncio.CancelledError:
            for step in steps:
                if step.status == PENDING:
                    self.tasks.finish(step, CANCELLED, message="not started: the app stopped")
            self.tasks.finish(bulk, CANCELLED, message="the app stopped")
            raise
        status, outcome = _bulk_outcome(steps)
        self.tasks.finish(bulk, status, **outcome)
        log.info("%s: %s: %s", bulk.title, bulk.status, bulk.outcome)
        return steps


def _bulk_outcome(steps: list[TaskRecord]) -> tuple[str, dict[str, str]]:
    """(status, summary/message) of a bulk action from its steps."""
    count = len(steps)
    failed = sum(step.status == FAILED for step in steps)
    skipped = sum(step.status == CANCELLED for step in steps)
    done = count - failed - skipped
    summary = f"{done} done" if done else ""
    if failed:
        return FAILED, {"message": f"{failed} of {count} failed", "summary": summary}
    if skipped:
        return CANCELLED, {"message": f"cancelled: {skipped} of {count} not started", "summary": summary}
    return SUCCEEDED, {"summary": f"all {count} done"}
