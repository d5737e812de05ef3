"""Flows of steps with rollback: the task engine (after TaskFlow and oVirt's commands).

A plan is a tree: ``Group`` nodes run their children serially or concurrently,
``Step`` leaves run one operation (``operations.OPERATIONS``). The whole tree is
persisted as pending tasks first, and each step is persisted as running, with its
parameters, before it touches libvirt. When a step fails (or the user cancels),
no further step starts, the running ones end, and every step that succeeded is
undone by its opposite command, as a rollback-flow task beside it (``rollback``). Rollback tasks
never trigger a rollback themselves, and a succeeded one never ends its parent as
a success: the flow ends failed (or cancelled) with the cause and what was undone,
or "rollback failed" with what was left behind (which a later rollback can retry).
A flow another instance took over is left to it (``fencing``).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..hosts.connection import connected_host
from ..sharing import machine_locks
from .checkpoints import Checkpoints
from . import fencing
from .fencing import FlowLost, LeaseExpired
from .operations import UNATTENDED, AsyncOperation, Operation, operation
from .tree import effect_uncertain, group_outcome, leaf_steps, listing, needs_undo, needs_undo_below
from .service import DATABASE_AWAY, TaskService
from .records import (CANCELLED, FAILED, PENDING, REGULAR, ROLLBACK, ROLLBACK_FAILED, ROLLED_BACK, ROLLING_BACK,
                      SUCCEEDED, TaskRecord)

log = logging.getLogger(__name__)



class DatabaseAway(Exception):
    """The inventory database cannot be written now (the task service's reason)."""


@dataclass
class Step:
    op: str
    title: str
    params: dict
    host_uri: str
    target_uuid: str = ""
    target_name: str = ""


@dataclass
class Group:
    kind: str
    title: str
    children: list[Step | Group] = field(default_factory=list)
    concurrent: bool = False
    limit: int = 4
    host_uri: str = ""
    target_uuid: str = ""
    target_name: str = ""


# (record, "done" | "undone"): e.g. the inventory follows the machines a step changed
# (``changed_machines``).
StepListener = Callable[[TaskRecord, str], Awaitable[None]]


@dataclass
class _Flow:
    root: TaskRecord
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    cause: str = ""
    cancelled: bool = False
    lost: str = ""  # another instance took the flow over: why

    draining: bool = False  # cancelled, but the steps already running go on to their end

    def halt(self, cause: str, *, cancelled: bool = False) -> None:
        if not self.stop.is_set():
            if not self.draining:  # (after a drain, the user's cancel stays the cause)
                self.cause, self.cancelled = cause, cancelled
            self.stop.set()

    def drain(self, cause: str) -> None:
        """No new step starts; the running ones finish (a migration half-way is not aborted).
        The flow then ends cancelled, and its rollback runs as for any cancel."""
        if not self.stop.is_set() and not self.draining:
            self.cause, self.cancelled, self.draining = cause, True, True


@dataclass
class StepContext:
    """What a long-running operation gets: hosts, its task record, and the flow's stop signal."""
    engine: TaskEngine
    record: TaskRecord
    stop: asyncio.Event

    def host(self, uri: str):
        return self.engine.connected_host(uri, self.record.op)

    def report(self, progress: int, summary: str) -> None:
        self.record.progress, self.record.summary = progress, summary
        self.engine.tasks.changed(self.record)

    async def still_ours(self) -> None:
        """Before each libvirt call that changes something: the flow is still this instance's
        (``FlowLost`` if another took it over; the lease renewed by a write after a freeze)."""
        await self.engine.ensure_lease(self.record.root(), self.record)

    def guard(self) -> None:
        """In a worker, right before a libvirt call that changes something (fencing.guard)."""
        fencing.guard(self.record.root())


class TaskEngine:
    def __init__(self, tasks: TaskService, host_for: Callable[[str], object | None]) -> None:
        self.tasks = tasks
        self.host_for = host_for
        self.listeners: list[StepListener] = []
        self.checkpoints = Checkpoints()  # test-only (the lab's crash and freeze tests)

    # ----- running a plan ------------------------------------------------------------------
    async def run(self, plan: Group) -> TaskRecord:
        root = self._announce(plan, None)
        self.tasks.announce(root)  # the whole plan, as one tree
        flow = _Flow(root)
        root.cancel = lambda: flow.halt("cancelled by the user", cancelled=True)
        root.drain = lambda: flow.drain("cancelled by the user; the steps already running finished")
        self.tasks.start(root)
        try:
            if self.tasks.database_away:
                raise DatabaseAway(self.tasks.database_away)
            await self.tasks.flush()  # the whole plan is on disk before anything runs
        except (DatabaseAway, *DATABASE_AWAY) as exc:
            # Refused rather than half-done: what runs must be on disk first, to be undone after
            # a crash. The refusal itself is queued and written when the database is back.
            root.cancel = root.drain = None
            cancel_pending(self.tasks, root)
            settle(self, root)
            self.tasks.finish(root, CANCELLED, message=f"not started: the inventory database is away ({exc})")
            return root
        root.on_lost = lambda why: (setattr(flow, "lost", why), flow.halt(why))  # a long step stops too
        try:
            ok = await self._execute(root, flow)
            if ok:
                await self.after_flow(root)
                done = len(leaf_steps(root))
                self.tasks.finish(root, SUCCEEDED, summary=f"{done} step{'s' * (done != 1)} done")
                await self.tasks.flush()
                self.fenced(root)  # "succeeded" only if the flow was still ours when it said so
                return root
            root.cancel = root.drain = None
            if flow.lost:
                raise FlowLost(flow.lost)
            await self.rollback(root, flow.cause, cancelled=flow.cancelled)
        except FlowLost as exc:
            self.lost(root, str(exc))
        except DATABASE_AWAY:
            pass  # the last flush: the outcome is queued and written when the database is back
        finally:
            root.on_lost = None
        return root

    async def rollback(self, root: TaskRecord, cause: str, *, cancelled: bool = False,
                       unattended: bool = False) -> None:
        """Undo every step of ``root``'s tree that did (or may have) run, then end the tree.
        ``unattended``: a recovery nobody asked for (after a crash); undos that would move a
        machine leave it where it is and say so (``operations.UNATTENDED``)."""
        try:
            await roll_back(self, root, cause, cancelled=cancelled, unattended=unattended)
        except FlowLost as exc:
            self.lost(root, str(exc))

    def lost(self, root: TaskRecord, why: str) -> None:
        """Another instance owns the flow now: say so here; nothing of it is written or done."""
        root.cancel = root.drain = None
        self.tasks.finish(root, FAILED, message=f"stopped here: {why}")

    def _announce(self, node: Step | Group, parent: TaskRecord | None) -> TaskRecord:
        if isinstance(node, Step):
            return self.tasks.create(node.op, node.title, parent=parent, announce=False, op=node.op,
                                     params=node.params,
                                     host_uri=node.host_uri, target_uuid=node.target_uuid,
                                     target_name=node.target_name)
        record = self.tasks.create(node.kind, node.title, parent=parent, announce=False, concurrent=node.concurrent,
                                   host_uri=node.host_uri, target_uuid=node.target_uuid,
                                   target_name=node.target_name)
        record.params = {"limit": node.limit} if node.concurrent else {}
        for child in node.children:
            self._announce(child, record)
        return record

    async def _execute(self, record: TaskRecord, flow: _Flow) -> bool:
        if flow.lost:
            return False
        if flow.stop.is_set() or flow.draining:
            self.tasks.finish(record, CANCELLED, message="not started")
            cancel_pending(self.tasks, record)
            return False
        if record.op:
            return await self._run_step(record, flow)
        if record.parent is not None:
            self.tasks.start(record)
        if record.concurrent:
            limit = asyncio.Semaphore(record.params.get("limit", 4))

            async def one(child: TaskRecord) -> bool:
                async with limit:
                    return await self._execute(child, flow)
            results = await asyncio.gather(*(one(c) for c in record.children))
            ok = all(results)
        else:
            ok = True
            for child in record.children:
                if not await self._execute(child, flow):
                    ok = False
                    if not flow.draining:  # (draining: other branches' running steps go on to their end)
                        flow.halt(flow.cause or "a step failed")
        if ok and record.parent is not None:
            self.tasks.finish(record, SUCCEEDED)
        return ok

    async def _run_step(self, record: TaskRecord, flow: _Flow) -> bool:
        op = operation(record.op)
        root = record.root()
        try:
            await self.ensure_lease(root, record)  # after a freeze: still ours? (before any libvirt call)
            host = self.connected_host(record.host_uri, op.name)
            if isinstance(op, AsyncOperation):  # long work with progress and its own abort
                async with self._machine_lock(record):  # held from prepare to the end
                    await self._prepare(host, op, record, locked=True)
                    fencing.guard(root)
                    summary = await op.run(StepContext(self, record, flow.stop))
            else:
                # Blocking steps take the machine's lock inside the worker that calls libvirt,
                # for prepare and for execute (no extra thread hops per step: the clone
                # flows' pace, bench/clone_template.py).
                await self._prepare(host, op, record)
                summary = await self.fenced_call(host, record, op.name, lambda conn: op.execute(conn, record.params))
            await self.checkpoints.reach(op.name, "after")
        except FlowLost as exc:
            flow.lost = str(exc)
            flow.halt(flow.lost)
            return False
        except Exception as exc:  # noqa: BLE001  (every failure stops the flow and is shown)
            if record.started_at is None:
                self.tasks.start(record)
            self.tasks.fail(record, exc)
            flow.halt(f"{record.title}: {record.error_message}")
            return False
        self.tasks.finish(record, SUCCEEDED, summary=summary)
        await self.notify(record, "done")
        self._progress(record)
        return True

    async def _prepare(self, host, op, record: TaskRecord, *, locked: bool = False) -> None:
        """What the undo will need, read and written down before the step runs (``locked``:
        the caller holds the machine's lock already; it is not re-entrant)."""
        def prepare(conn):
            return op.prepare(conn, record.params)
        record.params = await (host.call(prepare, operation=op.name, machine=record.target_name) if locked
                               else self.on_machine(host, record, op.name, prepare))
        self.tasks.start(record)
        await self.tasks.flush()  # "running, with these parameters" is on disk first
        self.fenced(record.root())
        await self.checkpoints.reach(op.name, "before")

    def fenced(self, root: TaskRecord) -> None:
        """Right after a flush that wrote the flow: another instance took it over (``FlowLost``)
        or not (the batch renewed the lease: ``TaskRecord.written_at``)."""
        if root.lost_to:
            raise FlowLost(root.lost_to)

    async def ensure_lease(self, root: TaskRecord, record: TaskRecord) -> None:
        """Before libvirt: when the lease does not hold (this instance was frozen or suspended,
        see fencing.py), write the record again, which finds a takeover. Costs nothing while
        the heartbeat beats."""
        if root.lost_to:
            raise FlowLost(root.lost_to)
        if not fencing.holds(root):
            self.tasks.changed(record)
            await self.tasks.flush()
            self.fenced(root)

    async def fenced_call(self, host, record: TaskRecord, operation_name: str, fn):
        """``fn(conn)`` under the record's machine lock, only while the flow's lease holds:
        checked again in the worker, right before libvirt (after waiting for a call slot and
        the lock). A lease that ran out meanwhile (a freeze) is renewed by a write, or the
        flow is lost, and the call is tried again."""
        root = record.root()

        def guarded(conn):
            fencing.guard(root)
            return fn(conn)
        for _attempt in range(3):
            try:
                return await self.on_machine(host, record, operation_name, guarded)
            except LeaseExpired:
                await self.ensure_lease(root, record)
        return await self.on_machine(host, record, operation_name, guarded)

    async def on_machine(self, host, record: TaskRecord, operation_name: str, fn):
        """``fn(conn)`` on ``host``, holding the record's machine lock when it names one."""
        if record.target_uuid:
            return await machine_locks.call_locked(host, record.target_uuid, record.target_name, operation_name, fn)
        return await host.call(fn, operation=operation_name, machine=record.target_name)

    async def after_flow(self, root: TaskRecord) -> None:
        """The flow succeeded: each step's operation ends what only mattered while the flow
        could be undone (the flow marks on the machines it defined). Before the root is
        finished, so no finished flow leaves a mark a forged row could point an undo at."""
        by_host: dict[str, list[TaskRecord]] = {}
        for leaf in leaf_steps(root):
            op = operation(leaf.op)
            if type(op).after_flow is not Operation.after_flow:
                for uri in op.marked_hosts(leaf.params, leaf.host_uri):
                    by_host.setdefault(uri, []).append(leaf)

        await self.ensure_lease(root, root)  # still ours (a freeze before this point is found here)

        def finish_all(conn, leaves: list[TaskRecord]) -> None:  # one call per host, not per step
            fencing.guard(root)
            for leaf in leaves:
                operation(leaf.op).after_flow(conn, leaf.params)
        for uri, leaves in by_host.items():
            try:
                host = self.connected_host(uri, "finish the flow")
                await host.call(lambda conn, leaves=leaves: finish_all(conn, leaves), operation="finish the flow")
            except Exception as exc:  # noqa: BLE001  (the work is done; the mark only limits undos)
                log.warning("could not finish the flow %s on %s: %s", root.title, uri, exc)

    # ----- helpers -------------------------------------------------------------------------
    def _machine_lock(self, record: TaskRecord):
        """The machine's lock across instances (steps about no one machine need none)."""
        if not record.target_uuid:
            return contextlib.nullcontext()
        return machine_locks.holding(self.tasks.executors.locks, record.host_uri, record.target_uuid,
                                     what=record.target_name)

    def connected_host(self, uri: str, operation: str):
        return connected_host(self.host_for(uri), uri, operation=operation)

    async def notify(self, record: TaskRecord, what: str) -> None:
        for listener in self.listeners:
            try:
                await listener(record, what)
            except Exception:  # noqa: BLE001  (the inventory catches up at the next listing)
                log.exception("step listener failed for %s", record.title)

    def _progress(self, step: TaskRecord) -> None:
        node = step.parent
        while node is not None:
            leaves = leaf_steps(node)
            done = sum(1 for leaf in leaves if leaf.status == SUCCEEDED)
            node.progress = int(100 * done / len(leaves)) if leaves else 100
            self.tasks.changed(node)
            node = node.parent


__all__ = ["Group", "Step", "TaskEngine"]


# ----- rollback -------------------------------------------------------------------------
# Every step of a flow that did (or may have) change something is undone by its opposite
# command, as a rollback task beside it; then the groups and the root end by what happened
# below them. A step is undone when it succeeded, was running at a crash, failed with its
# reply lost (``tree.effect_uncertain``: the undo checks whether it took effect), or when an
# earlier undo of it failed: a rollback can be run again (``retry``) until nothing is left.
# The root's summary always covers the whole tree (everything undone so far, everything still
# left), so the root and its groups never disagree, whichever run of the rollback ended it.

async def roll_back(engine: TaskEngine, root: TaskRecord, cause: str, *, cancelled: bool = False,
                    unattended: bool = False) -> None:
    tasks = engine.tasks
    root.status = ROLLING_BACK
    root.error_message = cause
    tasks.changed(root)
    cancel_pending(tasks, root)  # after a crash, steps that never started
    await _undo(engine, root, unattended)
    settle(engine, root)
    undone = [u.summary for u in _all(root) if u.role == ROLLBACK and u.status == SUCCEEDED and u.summary]
    left = [operation(step.op).leftover(step.params) for step in leaf_steps(root) if step.status == ROLLBACK_FAILED]
    parts = []
    if undone:
        parts.append(f"undone: {listing(undone)}")
    if left:
        parts.append(f"left behind: {listing(left)}")
    status = ROLLBACK_FAILED if left else CANCELLED if cancelled else FAILED
    if not left:  # ended: no mark or seal stays (a failed rollback keeps them for its retry)
        await engine.after_flow(root)
    tasks.finish(root, status, summary="; ".join(parts), message=cause)


async def _undo(engine: TaskEngine, record: TaskRecord, unattended: bool) -> None:
    if record.op:
        if needs_undo(record):
            await _undo_step(engine, record, unattended)
        return
    steps = [c for c in reversed(record.children) if c.role == REGULAR]
    if steps and any(needs_undo_below(c) for c in steps) and record.parent is not None:
        record.status = ROLLING_BACK
        engine.tasks.changed(record)
    if record.concurrent:
        limit = asyncio.Semaphore(record.params.get("limit", 4))

        async def one(child: TaskRecord) -> None:
            async with limit:
                await _undo(engine, child, unattended)
        results = await asyncio.gather(*(one(c) for c in steps), return_exceptions=True)
        lost = next((r for r in results if isinstance(r, FlowLost)), None)
        if lost is not None:
            raise lost
        for result in results:
            if isinstance(result, BaseException):
                raise result
    else:
        # Strictly in reverse: a later step may rest on an earlier one (a volume's undo needs
        # the seal on the machine an earlier step defined), so once an undo fails the steps
        # before it are held, and left for the retry with it.
        held = False
        for child in steps:
            if held:
                _hold(engine, child)
                continue
            await _undo(engine, child, unattended)
            held = needs_undo_below(child)


def _hold(engine: TaskEngine, record: TaskRecord) -> None:
    """Leave ``record``'s steps that need an undo for the retry (a later undo failed)."""
    for step in ([record] if record.op else leaf_steps(record)):
        if needs_undo(step) and step.status != ROLLBACK_FAILED:
            step.status = ROLLBACK_FAILED
            step.summary = "not undone yet: the undo of a later step failed"
            engine.tasks.changed(step)


async def _undo_step(engine: TaskEngine, step: TaskRecord, unattended: bool) -> None:
    tasks, op, root = engine.tasks, operation(step.op), step.root()
    uncertain = effect_uncertain(step.error)  # (its status may be "rollback failed" by now)
    title = op.undo_title(step.params)
    undo = tasks.create(f"undo {step.op}", f"Check and undo: {title}" if uncertain else title, parent=step.parent,
                        op=step.op, params=step.params, role=ROLLBACK, compensates=step,
                        host_uri=step.host_uri, target_uuid=step.target_uuid, target_name=step.target_name)
    tasks.start(undo)
    try:
        await tasks.flush()
        engine.fenced(root)  # FlowLost: another instance undoes it; this one stops here
    except DATABASE_AWAY:
        pass  # undo anyway: libvirt back as it was matters more; the records are queued
    try:
        await engine.checkpoints.reach(op.name, "undo")
        host = engine.connected_host(step.host_uri, f"undo {op.name}")
        # Whether anyone asked is the engine's to say, never a row's.
        params = {**step.params, UNATTENDED: unattended}
        summary = await engine.fenced_call(host, step, f"undo {op.name}", lambda conn: op.compensate(conn, params))
    except FlowLost:
        raise
    except Exception as exc:  # noqa: BLE001
        tasks.fail(undo, exc)
        log.warning("undo of %s failed: %s", step.title, undo.error_message)
        step.status = ROLLBACK_FAILED
        tasks.changed(step)
        return
    if uncertain:  # the reply was lost: the undo found out whether the step had taken effect
        summary = f"its reply was lost; checked: {summary}"
    tasks.finish(undo, SUCCEEDED, summary=summary)
    step.status = FAILED if uncertain else ROLLED_BACK  # a step that failed stays failed: its undo says the rest
    tasks.changed(step)
    await engine.notify(step, "undone")


def settle(engine: TaskEngine, record: TaskRecord) -> None:
    """End every group under ``record`` by what happened below it."""
    for child in record.children:
        if not child.op:
            settle(engine, child)
    if record.op or record.parent is None:
        return
    statuses = {c.status for c in record.children if c.role == REGULAR}
    if ROLLBACK_FAILED in statuses:
        status = ROLLBACK_FAILED
    elif FAILED in statuses:
        status = FAILED
    elif ROLLED_BACK in statuses:
        status = ROLLED_BACK
    elif statuses <= {CANCELLED}:
        status = CANCELLED
    else:
        status = record.status
    if status != record.status or record.finished_at is None or record.status == ROLLING_BACK:
        engine.tasks.finish(record, status, **group_outcome(record, status))


def cancel_pending(tasks: TaskService, record: TaskRecord) -> None:
    for child in record.children:
        if child.status == PENDING:
            tasks.finish(child, CANCELLED, message="not started")
        cancel_pending(tasks, child)


def _all(root: TaskRecord) -> list[TaskRecord]:
    out = [root]
    for child in root.children:
        out += _all(child)
    return out
