"""After a crash, and when a host comes back: finish the flows a dead instance left in
flight, and retry the rollbacks that failed because their host was away.

A step left running may or may not have changed something; a flow cannot be
resumed safely from the middle (its concurrent siblings, its in-memory plan), so
everything it did is undone with the same rollback as a failure. Plain tasks
(a start, a restore) have nothing to undo: they end as interrupted. A flow whose
host is not connected now is left as it is, and tried again when the host connects
(``InterruptedFlowWatch``) or at the next start. A rollback that failed only because its host
was away (``tree.retries_by_itself``) is retried the same way; one whose undo was refused
waits for the user (``retry_rollback``: Retry Rollback, ``tasks retry``).
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass, field

from . import store
from ..core.aio import spawn
from ..core.errors import Refusal
from ..sharing import heartbeat
from ..sharing.instance import INSTANCE_ID, owner_alive
from .engine import TaskEngine
from .operations import operation
from .tree import leftover_hosts, leftover_steps, needs_undo_below, retries_by_itself
from .records import (FAILED, REGULAR, ROLLBACK, ROLLBACK_FAILED, ROLLING_BACK, UNFINISHED, TaskRecord,
                      build_trees)

log = logging.getLogger(__name__)
INTERRUPTED = "interrupted: the app stopped while this ran"


@dataclass
class FinishedFlow:
    title: str
    status: str
    outcome: str
    retried: bool = False  # a rollback that had failed, run again


@dataclass
class InterruptedReport:
    finished: list[FinishedFlow] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # flows whose host is not connected now
    elsewhere: list[str] = field(default_factory=list)  # flows another live instance runs

    def lines(self) -> list[str]:
        out = [f"{r.title}: {'rollback retried: ' if r.retried else ''}{r.status} ({r.outcome})"
               for r in self.finished]
        out += [f"{title}: waiting for its host to be connected" for title in self.waiting]
        return out

    def as_json(self) -> dict:
        return {"finished": [r.__dict__ for r in self.finished], "waiting": self.waiting,
                "elsewhere": self.elsewhere}


async def finish_interrupted(engine: TaskEngine) -> InterruptedReport:
    tasks = engine.tasks
    report = InterruptedReport()
    if not tasks.persist:
        return report
    loop = asyncio.get_running_loop()
    database = tasks.database
    rows = await loop.run_in_executor(database, store.unfinished_trees, UNFINISHED | {ROLLBACK_FAILED})
    if not rows:
        return report
    trees = _trees(rows)
    remote = sorted({r["owner"] for r, _t in trees if r["owner"] != INSTANCE_ID and owner_alive(r["owner"]) is None})
    live_remote = await loop.run_in_executor(database, heartbeat.live_owners, remote) if remote else set()
    orphans: dict[int, tuple[list[dict], float | None]] = {}
    retries: dict[int, list[dict]] = {}
    for root_row, tree_rows in trees:
        owner = root_row["owner"]
        here = owner_alive(owner)  # None: another machine's instance, judged by its heartbeat
        alive = owner == INSTANCE_ID or here or owner in live_remote
        preview = build_trees(tree_rows, itertools.count())[0][0]
        if root_row["status"] == ROLLBACK_FAILED:
            # This instance's own, or a dead one's; a live instance retries its own when it sees the host.
            if owner != INSTANCE_ID and alive:
                continue
            if not retries_by_itself(preview):
                continue
            if any(not _connected(engine, uri) for uri in leftover_hosts(preview)):
                report.waiting.append(root_row["title"])
                continue
            retries[root_row["id"]] = tree_rows
        elif owner == INSTANCE_ID:
            continue  # started in this session (still running)
        elif alive:
            report.elsewhere.append(root_row["title"])
        elif needs_undo_below(preview) and any(not _connected(engine, uri) for uri in _step_hosts(preview)):
            report.waiting.append(root_row["title"])  # not claimed: whoever sees its hosts first takes it
        else:
            orphans[root_row["id"]] = (tree_rows, heartbeat.STALE_SECONDS if here is None else None)
    claims = [([r["id"] for r in rows], rows[0]["owner"], stale) for rows, stale in orphans.values()]
    taken = await loop.run_in_executor(database, store.claim_each, claims, INSTANCE_ID) if claims else {}
    for rows in taken.values():
        await _finish(engine, tasks.take_over(rows), report)
    for tree_rows in retries.values():
        rows = await loop.run_in_executor(database, _claim_retry, tree_rows[0])
        if rows:
            root = await _retry(engine, tasks.take_over(rows), unattended=True)
            report.finished.append(FinishedFlow(root.title, root.status, root.outcome, retried=True))
    await tasks.flush()
    return report


@dataclass
class RetryOutcome:
    root: TaskRecord | None
    left: list[str]  # what is still left behind, with why
    unreachable: list[str]  # hosts a leftover needs that are not connected


async def retry_rollback(engine: TaskEngine, task_id: int) -> RetryOutcome:
    """Undo the leftovers of a flow whose rollback failed, again (any task of its tree, by
    its database id). Refused when it is no such flow, or another instance retries it now."""
    tasks = engine.tasks
    loop = asyncio.get_running_loop()
    rows = await loop.run_in_executor(tasks.database, store.tree_rows, task_id)
    if not rows:
        raise Refusal(f"there is no task {task_id}")
    preview = build_trees(rows, itertools.count())[0][0]
    if preview.status != ROLLBACK_FAILED:
        raise Refusal(f"task {rows[0]['id']} ({preview.title}) is {preview.status}: only a rollback that failed "
                      "can be retried")
    unreachable = sorted(uri for uri in leftover_hosts(preview) if not _connected(engine, uri))
    if unreachable:
        return RetryOutcome(None, _left(preview), unreachable)
    rows = await loop.run_in_executor(tasks.database, _claim_retry, rows[0])
    if not rows:
        raise Refusal(f"{preview.title}: it is being retried now, or changed since it was read; try again")
    root = await _retry(engine, tasks.take_over(rows), unattended=False)  # the user asked
    await tasks.flush()
    return RetryOutcome(root, _left(root), [])


async def _retry(engine: TaskEngine, root: TaskRecord, *, unattended: bool) -> TaskRecord:
    """The rollback again; whatever happens, the root does not stay "rolling back"."""
    try:
        await engine.rollback(root, root.error_message or "rollback retried", unattended=unattended)
    except Exception as exc:  # noqa: BLE001  (the flow stays retryable; the fault is in the log)
        log.exception("retrying the rollback of %s failed", root.title)
        engine.tasks.finish(root, ROLLBACK_FAILED, message=f"{root.error_message}; the retry failed: {exc}")
    return root


class InterruptedFlowWatch:
    """While the app runs: when a host connects, recover what waited for it (one pass at a
    time; a pass finds what the previous ones left)."""

    def __init__(self, engine: TaskEngine, hosts_changed, on_report) -> None:
        self._engine, self._on_report = engine, on_report
        self._lock = asyncio.Lock()
        self._pending = False
        hosts_changed.connect(self._on_host)

    def _on_host(self, host) -> None:
        if host.connected and not self._pending:
            self._pending = True
            spawn(self._pass())

    async def pass_now(self) -> InterruptedReport:
        """One pass now (the start-up's), after any pass in progress."""
        async with self._lock:
            self._pending = False
            return await finish_interrupted(self._engine)

    async def _pass(self) -> None:
        try:
            report = await self.pass_now()
        except Exception:  # noqa: BLE001  (tried again at the next connection)
            log.exception("recovery after a host connected failed")
            return
        if report.finished:
            self._on_report(report)


def _claim_retry(root_row: dict) -> list[dict]:
    return store.claim_for_retry(root_row["id"], int(root_row.get("generation") or 0), INSTANCE_ID,
                                 failed=ROLLBACK_FAILED, retrying=ROLLING_BACK)


def _step_hosts(root: TaskRecord) -> set[str]:
    return {record.host_uri for record in _all(root) if record.op}


def _left(root: TaskRecord) -> list[str]:
    out = []
    for step in leftover_steps(root):
        undos = [c for c in step.parent.children if c.role == ROLLBACK and c.compensates is step]
        why = undos[-1].error_message if undos else ""
        out.append(f"{operation(step.op).leftover(step.params)}" + (f": {why}" if why else ""))
    return out


def _trees(rows: list[dict]) -> list[tuple[dict, list[dict]]]:
    """Split rows (roots first, then their descendants) into one list per root."""
    root_of: dict[int, int] = {}
    trees: dict[int, list[dict]] = {}
    roots = []
    for row in rows:
        if row["parent_id"] is None:
            root_of[row["id"]] = row["id"]
            trees[row["id"]] = [row]
            roots.append(row)
        else:
            top = root_of[row["parent_id"]]
            root_of[row["id"]] = top
            trees[top].append(row)
    return [(r, trees[r["id"]]) for r in roots]


async def _finish(engine: TaskEngine, root: TaskRecord, report: InterruptedReport) -> None:
    tasks = engine.tasks
    _end_interrupted_undos(engine, root)
    if not needs_undo_below(root):
        _end_unfinished(engine, root)
        await _follow_every_step(engine, root)
        report.finished.append(FinishedFlow(root.title, root.status, root.outcome))
        return
    if any(not _connected(engine, uri) for uri in _step_hosts(root)):
        report.waiting.append(root.title)
        return
    await engine.rollback(root, INTERRUPTED, unattended=True)
    tasks.changed(root)
    await _follow_every_step(engine, root)
    report.finished.append(FinishedFlow(root.title, root.status, root.outcome))


async def _follow_every_step(engine: TaskEngine, root: TaskRecord) -> None:
    """The inventory reads again every machine the flow touched, not only those this pass
    undid: the dead process may have undone a step and died before its inventory write
    (seen in the lab: a machine undefined by the crashed rollback stayed listed)."""
    for record in _all(root):
        if record.op and record.role != ROLLBACK:
            await engine.notify(record, "finished after a crash")


def _end_interrupted_undos(engine: TaskEngine, root: TaskRecord) -> None:
    """Undo tasks that were running are failed; their steps are undone again (idempotent)."""
    for record in _all(root):
        if record.role == ROLLBACK and record.status in UNFINISHED:
            engine.tasks.finish(record, FAILED, message=INTERRUPTED)


def _end_unfinished(engine: TaskEngine, root: TaskRecord) -> None:
    for record in reversed(_all(root)):
        if record.status in UNFINISHED:
            status = FAILED if record.role == REGULAR else record.status
            engine.tasks.finish(record, status, message=INTERRUPTED)


def _all(root: TaskRecord) -> list[TaskRecord]:
    out = [root]
    for child in root.children:
        out += _all(child)
    return out


def _connected(engine: TaskEngine, uri: str) -> bool:
    host = engine.host_for(uri)
    return host is not None and host.connected
