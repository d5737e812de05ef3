"""Rollback: every step of a flow that did (or may have) change something is undone by its
opposite command, as a rollback task beside it; then the groups and the root end by what
happened below them.

A step is undone when it succeeded, was running at a crash, failed with its reply lost
(``tree.effect_uncertain``: the undo checks whether it took effect), or when an earlier undo
of it failed: a rollback can be run again (``retry``) until nothing is left. The root's
summary always covers the whole tree (everything undone so far, everything still left), so
the root and its groups never disagree, whichever run of the rollback ended it.
"""
from __future__ import annotations

import asyncio
import logging

from .fencing import FlowLost
from .operations import operation
from .records import (CANCELLED, FAILED, PENDING, REGULAR, ROLLBACK, ROLLBACK_FAILED, ROLLED_BACK, ROLLING_BACK,
                      SUCCEEDED, TaskRecord)
from .service import DATABASE_AWAY, TaskService
from .tree import effect_uncertain, group_outcome, leaf_steps, listing, needs_undo, needs_undo_below

log = logging.getLogger(__name__)


# ``engine`` below is the TaskEngine (not imported: it imports this module): its tasks, hosts,
# leases, fenced calls and listeners.

async def rollback(engine, root: TaskRecord, cause: str, *, cancelled: bool = False) -> None:
    tasks = engine.tasks
    root.status = ROLLING_BACK
    root.error_message = cause
    tasks.changed(root)
    cancel_pending(tasks, root)  # after a crash, steps that never started
    await _undo(engine, root)
    settle(engine, root)
    undone = [u.summary for u in _all(root) if u.role == ROLLBACK and u.status == SUCCEEDED and u.summary]
    left = [operation(step.op).leftover(step.params) for step in leaf_steps(root) if step.status == ROLLBACK_FAILED]
    parts = []
    if undone:
        parts.append(f"undone: {listing(undone)}")
    if left:
        parts.append(f"left behind: {listing(left)}")
    status = ROLLBACK_FAILED if left else CANCELLED if cancelled else FAILED
    tasks.finish(root, status, summary="; ".join(parts), message=cause)


async def _undo(engine, record: TaskRecord) -> None:
    if record.op:
        if needs_undo(record):
            await _undo_step(engine, record)
        return
    steps = [c for c in reversed(record.children) if c.role == REGULAR]
    if steps and any(needs_undo_below(c) for c in steps) and record.parent is not None:
        record.status = ROLLING_BACK
        engine.tasks.changed(record)
    if record.concurrent:
        limit = asyncio.Semaphore(record.params.get("limit", 4))

        async def one(child: TaskRecord) -> None:
            async with limit:
                await _undo(engine, child)
        results = await asyncio.gather(*(one(c) for c in steps), return_exceptions=True)
        lost = next((r for r in results if isinstance(r, FlowLost)), None)
        if lost is not None:
            raise lost
        for result in results:
            if isinstance(result, BaseException):
                raise result
    else:
        for child in steps:
            await _undo(engine, child)


async def _undo_step(engine, step: TaskRecord) -> None:
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
        summary = await engine.fenced_call(host, step, f"undo {op.name}",
                                           lambda conn: op.compensate(conn, step.params))
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


def settle(engine, record: TaskRecord) -> None:
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
