"""Flows of steps with rollback: the task engine (after TaskFlow and oVirt's commands).

A plan is a tree: ``Group`` nodes run their children serially or concurrently,
``Step`` leaves run one operation (``operations.OPERATIONS``). The whole tree is
persisted as pending tasks first, and each step is persisted as running, with its
parameters, before it touches libvirt. When a step fails (or the user cancels),
no further step starts, the running ones end, and every step that succeeded is
undone by its opposite command, as a rollback-flow task beside it. Rollback tasks
never trigger a rollback themselves, and a succeeded one never ends its parent as
a success: the flow ends failed (or cancelled) with the cause and what was undone,
or "rollback failed" with what was left behind.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..hosts.connection import connected_host
from ..sharing import machine_locks
from .operations import AsyncOperation, Operation, operation
from .tree import group_outcome, leaf_steps, listing, needs_undo, needs_undo_below
from .service import DATABASE_AWAY, TaskService
from .records import (CANCELLED, FAILED, PENDING, REGULAR, ROLLBACK, ROLLBACK_FAILED, ROLLED_BACK, ROLLING_BACK,
    SUCCEEDED, TaskRecord)

log = logging.getLogger(__name__)

CRASH_ENV = "ECP_DESKTOP_CRASH_AT"  # test-only: "OP:WHEN[:N]", WHEN one of before, after, undo


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

    def halt(self, cause: str, *, cancelled: bool = False) -> None:
        if not self.stop.is_set():
            self.cause, self.cancelled = cause, cancelled
            self.stop.set()


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


class TaskEngine:
    def __init__(self, tasks: TaskService, host_for: Callable[[str], object | None]) -> None:
        self.tasks = tasks
        self.host_for = host_for
        self.listeners: list[StepListener] = []
        self._crash_counts: dict[tuple[str, str], int] = {}

    # ----- running a plan ------------------------------------------------------------------
    async def run(self, plan: Group) -> TaskRecord:
        root = self._announce(plan, None)
        self.tasks.announce(root)  # the whole plan, as one tree
        flow = _Flow(root)
        root.cancel = lambda: flow.halt("cancelled by the user", cancelled=True)
        self.tasks.start(root)
        try:
            if self.tasks.database_away:
                raise DatabaseAway(self.tasks.database_away)
            await self.tasks.flush()  # the whole plan is on disk before anything runs
        except (DatabaseAway, *DATABASE_AWAY) as exc:
            # Refused rather than half-done: what runs must be on disk first, to be undone after
            # a crash. The refusal itself is queued and written when the database is back.
            root.cancel = None
            _cancel_pending(self.tasks, root)
            self._settle(root)
            self.tasks.finish(root, CANCELLED, message=f"not started: the inventory database is away ({exc})")
            return root
        ok = await self._execute(root, flow)
        if ok:
            await self._after_flow(root)
            self.tasks.finish(root, SUCCEEDED, summary=f"{len(leaf_steps(root))} steps done")
            return root
        root.cancel = None
        await self.rollback(root, flow.cause, cancelled=flow.cancelled)
        return root

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
        if flow.stop.is_set():
            self.tasks.finish(record, CANCELLED, message="not started")
            _cancel_pending(self.tasks, record)
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
                    flow.halt(flow.cause or "a step failed")
        if ok and record.parent is not None:
            self.tasks.finish(record, SUCCEEDED)
        return ok

    async def _run_step(self, record: TaskRecord, flow: _Flow) -> bool:
        op = operation(record.op)
        try:
            host = self.connected_host(record.host_uri, op.name)
            if isinstance(op, AsyncOperation):  # long work with progress and its own abort
                async with self._machine_lock(record):  # held from prepare to the end
                    await self._prepare(host, op, record, locked=True)
                    summary = await op.run(StepContext(self, record, flow.stop))
            else:
                # Blocking steps take the machine's lock inside the worker that calls libvirt,
                # for prepare and for execute (no extra thread hops per step: the clone
                # flows' pace, bench/clone_template.py).
                await self._prepare(host, op, record)
                summary = await self._on_machine(host, record, op.name,
                                                 lambda conn: op.execute(conn, record.params))
            self._crash_point(op.name, "after")
        except Exception as exc:  # noqa: BLE001  (every failure stops the flow and is shown)
            if record.started_at is None:
                self.tasks.start(record)
            self.tasks.fail(record, exc)
            flow.halt(f"{record.title}: {record.error_message}")
            return False
        self.tasks.finish(record, SUCCEEDED, summary=summary)
        await self._notify(record, "done")
        self._progress(record)
        return True

    async def _prepare(self, host, op, record: TaskRecord, *, locked: bool = False) -> None:
        """What the undo will need, read and written down before the step runs (``locked``:
        the caller holds the machine's lock already; it is not re-entrant)."""
        def prepare(conn):
            return op.prepare(conn, record.params)
        record.params = await (host.call(prepare, operation=op.name, machine=record.target_name) if locked
                               else self._on_machine(host, record, op.name, prepare))
        self.tasks.start(record)
        await self.tasks.flush()  # "running, with these parameters" is on disk first
        self._crash_point(op.name, "before")

    async def _on_machine(self, host, record: TaskRecord, operation_name: str, fn):
        """``fn(conn)`` on ``host``, holding the record's machine lock when it names one."""
        if record.target_uuid:
            return await machine_locks.call_locked(host, record.target_uuid, record.target_name, operation_name, fn)
        return await host.call(fn, operation=operation_name, machine=record.target_name)

    async def _after_flow(self, root: TaskRecord) -> None:
        """The flow succeeded: each step's operation ends what only mattered while the flow
        could be undone (the flow marks on the machines it defined). Before the root is
        finished, so no finished flow leaves a mark a forged row could point an undo at."""
        by_host: dict[str, list[TaskRecord]] = {}
        for leaf in leaf_steps(root):
            if type(operation(leaf.op)).after_flow is not Operation.after_flow:
                by_host.setdefault(leaf.host_uri, []).append(leaf)

        def finish_all(conn, leaves: list[TaskRecord]) -> None:  # one call per host, not per step
            for leaf in leaves:
                operation(leaf.op).after_flow(conn, leaf.params)
        for uri, leaves in by_host.items():
            try:
                host = self.connected_host(uri, "finish the flow")
                await host.call(lambda conn, leaves=leaves: finish_all(conn, leaves), operation="finish the flow")
            except Exception as exc:  # noqa: BLE001  (the work is done; the mark only limits undos)
                log.warning("could not finish the flow %s on %s: %s", root.title, uri, exc)

    # ----- rollback ------------------------------------------------------------------------
    async def rollback(self, root: TaskRecord, cause: str, *, cancelled: bool = False) -> None:
        """Undo every step of ``root``'s tree that did (or may have) run, then end the tree."""
        root.status = ROLLING_BACK
        root.error_message = cause
        self.tasks.changed(root)
        _cancel_pending(self.tasks, root)  # after a crash, steps that never started
        undone, left = await self._undo(root)
        self._settle(root)
        parts = []
        if undone:
            parts.append(f"undone: {listing(undone)}")
        if left:
            parts.append(f"left behind: {listing(left)}")
        status = ROLLBACK_FAILED if left else CANCELLED if cancelled else FAILED
        self.tasks.finish(root, status, summary="; ".join(parts), message=cause)

    async def _undo(self, record: TaskRecord) -> tuple[list[str], list[str]]:
        if record.op:
            return await self._undo_step(record) if needs_undo(record) else ([], [])
        undone, left = [], []
        steps = [c for c in reversed(record.children) if c.role == REGULAR]
        if steps and any(needs_undo_below(c) for c in steps) and record.parent is not None:
            record.status = ROLLING_BACK
            self.tasks.changed(record)
        if record.concurrent:
            limit = asyncio.Semaphore(record.params.get("limit", 4))

            async def one(child: TaskRecord):
                async with limit:
                    return await self._undo(child)
            results = await asyncio.gather(*(one(c) for c in steps))
        else:
            results = [await self._undo(c) for c in steps]
        for u, lft in results:
            undone += u
            left += lft
        return undone, left

    async def _undo_step(self, step: TaskRecord) -> tuple[list[str], list[str]]:
        op = operation(step.op)
        undo = self.tasks.create(f"undo {step.op}", op.undo_title(step.params), parent=step.parent,
                                 op=step.op, params=step.params, role=ROLLBACK, compensates=step,
                                 host_uri=step.host_uri, target_uuid=step.target_uuid,
                                 target_name=step.target_name)
        self.tasks.start(undo)
        try:
            await self.tasks.flush()
        except DATABASE_AWAY:
            pass  # undo anyway: libvirt back as it was matters more; the records are queued
        try:
            self._crash_point(op.name, "undo")
            host = self.connected_host(step.host_uri, f"undo {op.name}")
            summary = await self._on_machine(host, step, f"undo {op.name}",
                                             lambda conn: op.compensate(conn, step.params))
        except Exception as exc:  # noqa: BLE001
            self.tasks.fail(undo, exc)
            step.status = ROLLBACK_FAILED
            self.tasks.changed(step)
            return [], [op.leftover(step.params)]
        self.tasks.finish(undo, SUCCEEDED, summary=summary)
        step.status = ROLLED_BACK
        self.tasks.changed(step)
        await self._notify(step, "undone")
        return [summary], []

    def _settle(self, record: TaskRecord) -> None:
        """End every group under ``record`` by what happened below it."""
        for child in record.children:
            if not child.op:
                self._settle(child)
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
        if status != record.status or record.finished_at is None:
            self.tasks.finish(record, status, **group_outcome(record, status))

    # ----- helpers -------------------------------------------------------------------------
    def _machine_lock(self, record: TaskRecord):
        """The machine's lock across instances (steps about no one machine need none)."""
        if not record.target_uuid:
            return contextlib.nullcontext()
        return machine_locks.holding(self.tasks.executors.locks, record.host_uri, record.target_uuid,
                                     what=record.target_name)

    def connected_host(self, uri: str, operation: str):
        return connected_host(self.host_for(uri), uri, operation=operation)

    async def _notify(self, record: TaskRecord, what: str) -> None:
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

    def _crash_point(self, op: str, when: str) -> None:
        """Test-only: die here (SIGKILL, no cleanup) when $ECP_DESKTOP_CRASH_AT names this point."""
        wanted = os.environ.get(CRASH_ENV)
        if not wanted:
            return
        parts = wanted.split(":")
        if parts[:2] != [op, when]:
            return
        count = self._crash_counts.get((op, when), 0) + 1
        self._crash_counts[(op, when)] = count
        if count == int(parts[2] if len(parts) > 2 else 1):
            os.kill(os.getpid(), signal.SIGKILL)


def _cancel_pending(tasks: TaskService, record: TaskRecord) -> None:
    for child in record.children:
        if child.status == PENDING:
            tasks.finish(child, CANCELLED, message="not started")
        _cancel_pending(tasks, child)


__all__ = ["Group", "Step", "TaskEngine", "CRASH_ENV"]
