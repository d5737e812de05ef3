"""After a crash: find the tasks a dead instance left unfinished, and finish them.

A step left running may or may not have changed something; a flow cannot be
resumed safely from the middle (its concurrent siblings, its in-memory plan), so
everything it did is undone with the same rollback as a failure. Plain tasks
(a start, a restore) have nothing to undo: they end as interrupted. A flow whose
host is not connected now is left as it is, and tried again at the next start.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from . import store
from ..sharing import heartbeat
from ..sharing.instance import INSTANCE_ID, owner_alive
from .engine import TaskEngine
from .tree import needs_undo_below
from .records import FAILED, REGULAR, ROLLBACK, UNFINISHED, TaskRecord

INTERRUPTED = "interrupted: the app stopped while this ran"


@dataclass
class Recovered:
    title: str
    status: str
    outcome: str


@dataclass
class RecoveryReport:
    recovered: list[Recovered] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # flows whose host is not connected now
    elsewhere: list[str] = field(default_factory=list)  # flows another live instance runs

    def lines(self) -> list[str]:
        out = [f"{r.title}: {r.status} ({r.outcome})" for r in self.recovered]
        out += [f"{title}: waiting for its host to be connected" for title in self.waiting]
        return out

    def as_json(self) -> dict:
        return {"recovered": [r.__dict__ for r in self.recovered], "waiting": self.waiting,
                "elsewhere": self.elsewhere}


async def recover(engine: TaskEngine) -> RecoveryReport:
    tasks = engine.tasks
    report = RecoveryReport()
    if not tasks.persist:
        return report
    loop = asyncio.get_running_loop()
    database = tasks.database
    rows = await loop.run_in_executor(database, store.unfinished_trees, UNFINISHED)
    if not rows:
        return report
    trees = _trees(rows)
    remote = sorted({r["owner"] for r, _t in trees if r["owner"] != INSTANCE_ID and owner_alive(r["owner"]) is None})
    live_remote = await loop.run_in_executor(database, heartbeat.live_owners, remote) if remote else set()
    orphans: dict[int, list[dict]] = {}
    for root_row, tree_rows in trees:
        if root_row["owner"] == INSTANCE_ID:
            continue  # started in this session (still running)
        alive = owner_alive(root_row["owner"])
        if alive is None:  # another machine's instance: alive while its heartbeat is fresh
            alive = root_row["owner"] in live_remote
        if alive is not False:
            report.elsewhere.append(root_row["title"])
            continue
        orphans[root_row["id"]] = tree_rows
    claims = [([r["id"] for r in rows], rows[0]["owner"]) for rows in orphans.values()]
    taken = await loop.run_in_executor(database, store.claim_each, claims, INSTANCE_ID) if claims else []
    mine = [orphans[root_id] for root_id in taken]
    for tree_rows in mine:
        root = tasks.find(tree_rows[0]["id"])  # shown already when the history was loaded first
        if root is None:
            root = tasks.adopt(tree_rows)[0]
        for record in _all(root):
            record.owner = INSTANCE_ID
        await _finish(engine, root, report)
    await tasks.flush()
    return report


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


async def _finish(engine: TaskEngine, root: TaskRecord, report: RecoveryReport) -> None:
    tasks = engine.tasks
    _end_interrupted_undos(engine, root)
    if not needs_undo_below(root):
        _end_unfinished(engine, root)
        report.recovered.append(Recovered(root.title, root.status, root.outcome))
        return
    hosts = {leaf.host_uri for leaf in _all(root) if leaf.op}
    if any(not _connected(engine, uri) for uri in hosts):
        report.waiting.append(root.title)
        return
    await engine.rollback(root, INTERRUPTED)
    tasks.changed(root)
    report.recovered.append(Recovered(root.title, root.status, root.outcome))


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
