"""Lifecycle actions on machines, each one a task; bulk actions over a selection."""
from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import libvirt

from ..sharing import machine_locks
from ..hosts.connection import connected_host
from ..hosts.connection import CALLS_PER_HOST
from ..inventory.live import Inventory
from ..hosts.states import ACTIVE_STATES
from ..inventory.machines import MachineInfo
from ..tasks.service import TaskService
from ..tasks.records import CANCELLED, FAILED, PENDING, SUCCEEDED, TaskRecord

WORKERS_PER_HOST = CALLS_PER_HOST * 4  # steps ready to go when a call slot frees
BULK = "bulk"  # the kind of the task of one action on several machines

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


ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("start", "Start", "Start", lambda d: d.create(), frozenset({"shutoff", "crashed", "nostate"})),
    Action("shutdown", "Shut down", "Shut down", lambda d: d.shutdown(), frozenset({"running", "blocked"})),
    Action("force_off", "Force off", "Force off", lambda d: d.destroy(), frozenset(ACTIVE_STATES | {"crashed"})),
    Action("reboot", "Reboot", "Reboot", lambda d: d.reboot(0), frozenset({"running", "blocked"})),
    Action("pause", "Pause", "Pause", lambda d: d.suspend(), frozenset({"running", "blocked"})),
    Action("resume", "Resume", "Resume", lambda d: d.resume(), frozenset({"paused", "pmsuspended"})),
)}


class Lifecycle:
    def __init__(self, inventory: Inventory, tasks: TaskService) -> None:
        self.inventory = inventory
        self.tasks = tasks

    async def apply(self, action_name: str, machine: MachineInfo, *, record: TaskRecord | None = None,
                    title: str = "", parent: TaskRecord | None = None) -> TaskRecord:
        """One action on one machine as a task: the one path every caller takes (the window,
        bulk actions, restore, the command line). It holds the machine's lock across
        instances and records what the user asked for (restore brings it back).
        ``record``: its task, created beforehand; else one titled ``title`` under ``parent``."""
        action = ACTIONS[action_name]

        async def work() -> None:
            host = connected_host(self.inventory.hosts.get(machine.host_uri), machine.host_uri,
                                  operation=action.name, machine=machine.name)
            uuid = machine.uuid
            await machine_locks.call_locked(host, uuid, machine.name, action.name,
                                            lambda conn: action.call(conn.lookupByUUIDString(uuid)))

        if record is None:
            record = await self.tasks.run(action.name, title or f"{action.verb} {machine.name}", work,
                                          host_uri=machine.host_uri, target_uuid=machine.uuid,
                                          target_name=machine.name, parent=parent)
        else:
            await self.tasks.run_task(record, work)
        if record.status == SUCCEEDED and action.name in DESIRED_AFTER:
            self.inventory.record_desired(machine.host_uri, [machine.uuid], DESIRED_AFTER[action.name])
        return record

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
        if len(chosen) < 2:
            return [await self.apply(action_name, machine) for machine in chosen]
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
                    await self.apply(action_name, chosen[index], record=steps[index])
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
