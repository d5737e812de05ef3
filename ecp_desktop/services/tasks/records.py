"""Task records: what a task is (status, steps, its undo, its error) and how rows of the
task table become records and trees. Rows are read defensively: they may come from
another version or another operator."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from ..core.errors import HypervisorError, Refusal
from ..sharing.instance import INSTANCE_ID


PENDING, RUNNING, SUCCEEDED, FAILED = "pending", "running", "succeeded", "failed"
ROLLING_BACK, ROLLED_BACK, ROLLBACK_FAILED, CANCELLED = "rolling back", "rolled back", "rollback failed", "cancelled"
FINISHED = {SUCCEEDED, FAILED, ROLLED_BACK, ROLLBACK_FAILED, CANCELLED}
UNFINISHED = {PENDING, RUNNING, ROLLING_BACK}
REGULAR, ROLLBACK = "regular", "rollback"


class TaskFailed(Refusal):
    """Ends a task as failed with this message, as it is (e.g. a parent whose steps failed)."""


@dataclass(eq=False)
class TaskRecord:
    id: int
    kind: str
    title: str
    host_uri: str = ""
    target_uuid: str = ""
    target_name: str = ""
    status: str = PENDING
    progress: int = 0
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    error: HypervisorError | None = None
    error_message: str = ""
    db_id: int | None = field(default=None, repr=False)
    parent: TaskRecord | None = field(default=None, repr=False)
    _t0: float = field(default=0.0, repr=False)
    duration: float | None = None
    summary: str = ""  # what a succeeded task did, or what a rollback undid / left behind
    # The task engine's part: an operation with its parameters, undone by a rollback task.
    op: str = ""
    params: dict = field(default_factory=dict, repr=False)
    role: str = REGULAR  # regular work, or a rollback task that undoes a step (``compensates``)
    attempts: int = 0
    owner: str = INSTANCE_ID
    # The fencing token of its tree (schema version 7): a takeover raises it in the database,
    # and a write naming an older one changes nothing (``store.update_task``).
    generation: int = 0
    lost_to: str = ""  # set when another instance took the tree over: nothing of it is written any more
    # On a root: when (boot clock) the last batch that wrote the tree as this instance's began;
    # the fencing lease counts from it (fencing.holds).
    written_at: float | None = field(default=None, repr=False)
    on_lost: Callable[[str], None] | None = field(default=None, repr=False)  # the engine stops the flow
    compensates: TaskRecord | None = field(default=None, repr=False)
    concurrent: bool = False
    children: list[TaskRecord] = field(default_factory=list, repr=False)
    cancel: Callable[[], None] | None = field(default=None, repr=False)  # set while cancellable
    drain: Callable[[], None] | None = field(default=None, repr=False)  # cancel, letting running steps end
    from_history: bool = False  # loaded from the database, not run in this session

    @property
    def outcome(self) -> str:
        if self.status == SUCCEEDED:
            return self.summary or "done"
        if self.status == ROLLED_BACK and self.op:
            return f"undone ({self.summary})" if self.summary else "undone"
        if self.status in (FAILED, ROLLBACK_FAILED, CANCELLED, ROLLED_BACK):
            return "; ".join(p for p in (self.error_message, self.summary) if p) or self.status
        return self.status

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def root(self) -> TaskRecord:
        node = self
        while node.parent is not None:
            node = node.parent
        return node


def build_trees(rows: list[dict], ids) -> tuple[list[TaskRecord], list[TaskRecord]]:
    """(top-level records, all records) for rows ordered parents before children."""
    by_db_id: dict[int, TaskRecord] = {}
    roots = []
    for row in rows:
        record = record_from_row(row, next(ids))
        record.parent = by_db_id.get(row["parent_id"])
        record.compensates = by_db_id.get(row["compensates_id"])
        if record.parent is not None:
            record.parent.children.append(record)
        else:
            roots.append(record)
        by_db_id[row["id"]] = record
    return roots, list(by_db_id.values())


def record_from_row(row: dict, record_id: int) -> TaskRecord:
    """A record from a task row, read defensively: the row may come from another version or
    another operator, and one bad row must not stop the history, recovery or start-up."""
    error = HypervisorError.from_json(row["error_json"]) if row.get("error_json") else None
    started, finished = _when(row.get("started_at")), _when(row.get("finished_at"))
    try:
        params = json.loads(row.get("params") or "{}")
    except (TypeError, ValueError):
        params = None
    text = {key: str(row.get(key) or "") for key in ("kind", "title", "host_uri", "target_uuid", "target_name",
                                                     "status", "error_message", "summary", "op", "owner")}
    return TaskRecord(
        id=record_id, **text, progress=_number(row.get("progress")), started_at=started, finished_at=finished,
        error=error, db_id=row.get("id"),
        duration=(finished - started).total_seconds() if started and finished else None,
        params=params if isinstance(params, dict) else {"unreadable": str(row.get("params"))[:200]},
        role=ROLLBACK if row.get("reason") == ROLLBACK else REGULAR,
        attempts=_number(row.get("attempts")), concurrent=bool(row.get("concurrent")), from_history=True,
        generation=_number(row.get("generation")),
    )


def _when(value) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _number(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError, OverflowError):
        return 0


def columns(record: TaskRecord) -> dict:
    return {
        "kind": record.kind, "title": record.title, "host_uri": record.host_uri,
        "target_uuid": record.target_uuid, "target_name": record.target_name,
        "status": record.status, "progress": record.progress,
        "started_at": record.started_at, "finished_at": record.finished_at,
        "error_message": record.error_message,
        "error_code": record.error.code if record.error else None,
        "error_json": record.error.to_json() if record.error else "",
        "op": record.op, "params": json.dumps(record.params, sort_keys=True), "reason": record.role,
        "attempts": record.attempts, "owner": record.owner, "summary": record.summary,
        "concurrent": record.concurrent, "generation": record.generation,
    }
