"""Operations the user started, as task records shown live and kept in the history.

A task is announced before it runs and persisted on the database thread; the
database write never delays the operation itself. (Parent/child tasks and
rollback build on this later.)
"""
from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..models import schema
from ..models.db import database
from .errors import HypervisorError
from .libvirt_loop import Executors
from .observable import Event

log = logging.getLogger(__name__)

PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED = "pending", "running", "succeeded", "failed", "cancelled"
FINISHED = {SUCCEEDED, FAILED, CANCELLED}


class TaskFailed(Exception):
    """Ends a task as failed with this message, as it is (e.g. a parent whose steps failed)."""


@dataclass
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
    summary: str = ""  # what a succeeded task did, when the work said so (it returned a string)

    @property
    def outcome(self) -> str:
        if self.status == SUCCEEDED:
            return self.summary or "done"
        if self.status == FAILED:
            return self.error_message
        return self.status


class TaskService:
    def __init__(self, executors: Executors, *, persist: bool = True) -> None:
        self._executors = executors
        self._persist = persist
        self._ids = itertools.count(1)
        self.tasks: list[TaskRecord] = []
        self.task_added = Event("task_added")      # (TaskRecord)
        self.task_changed = Event("task_changed")  # (TaskRecord)

    async def run(self, kind: str, title: str, work: Callable[[], Awaitable[Any]], *,
                  host_uri: str = "", target_uuid: str = "", target_name: str = "",
                  parent: TaskRecord | None = None, pass_record: bool = False) -> TaskRecord:
        """Record a task, run ``work()``, record the outcome. Never raises for the work's errors."""
        record = TaskRecord(id=next(self._ids), kind=kind, title=title, host_uri=host_uri,
                            target_uuid=target_uuid, target_name=target_name, parent=parent)
        self.tasks.append(record)
        self.task_added.emit(record)
        self._save(_insert_task, record)
        record.status, record.started_at, record._t0 = RUNNING, _now(), time.monotonic()
        self._changed(record)
        try:
            result = await (work(record) if pass_record else work())  # a parent passes itself to its steps
        except HypervisorError as err:
            record.status, record.error, record.error_message = FAILED, err, err.one_line()
        except TaskFailed as exc:
            record.status, record.error_message = FAILED, str(exc)
        except asyncio.CancelledError:
            record.status = CANCELLED
            self._finish(record)
            raise
        except Exception as exc:  # an unexpected fault still ends the task visibly
            log.exception("task %s failed unexpectedly", title)
            record.status, record.error_message = FAILED, f"unexpected error: {exc}"
        else:
            record.status, record.progress = SUCCEEDED, 100
            record.summary = result if isinstance(result, str) else ""
        self._finish(record)
        return record

    def _finish(self, record: TaskRecord) -> None:
        record.finished_at = _now()
        record.duration = time.monotonic() - record._t0
        self._changed(record)

    def _changed(self, record: TaskRecord) -> None:
        self.task_changed.emit(record)
        self._save(_update_task, record)

    def _save(self, fn: Callable[[TaskRecord, dict], None], record: TaskRecord) -> None:
        if not self._persist:
            return
        snapshot = _columns(record)  # taken now, on the loop thread; written later in order
        future = self._executors.database.submit(fn, record, snapshot)
        future.add_done_callback(_log_failure)


def _now() -> dt.datetime:
    return dt.datetime.now()


def _columns(record: TaskRecord) -> dict:
    return {
        "kind": record.kind, "title": record.title, "host_uri": record.host_uri,
        "target_uuid": record.target_uuid, "target_name": record.target_name,
        "status": record.status, "progress": record.progress,
        "started_at": record.started_at, "finished_at": record.finished_at,
        "error_message": record.error_message,
        "error_code": record.error.code if record.error else None,
    }


def _insert_task(record: TaskRecord, columns: dict) -> None:
    # The parent's row was written before (one database thread, in order): its id is known now.
    parent_id = record.parent.db_id if record.parent is not None else None
    with database.connection_context():
        record.db_id = schema.Task.insert(**columns, parent_id=parent_id).execute()


def _update_task(record: TaskRecord, columns: dict) -> None:
    if record.db_id is None:
        return
    with database.connection_context():
        schema.Task.update(**columns).where(schema.Task.id == record.db_id).execute()


def _log_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("task history write failed", exc_info=future.exception())
