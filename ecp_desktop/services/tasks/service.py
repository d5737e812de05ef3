"""Operations the user started, as task records shown live and kept in the history.

A task is announced at once and persisted on the database thread, in order. Plain
tasks (a start, a shutdown) do not wait for that write; steps of a flow do
(``TaskService.flush``) before they touch libvirt, so that after a crash the next
start knows what was in flight and can undo it (``task_engine``, ``task_recovery``).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from typing import Any

import peewee

from ..core.database_faults import DATABASE_AWAY, RETRY_SECONDS, describe, retryable
from ..core.errors import HypervisorError, Refusal
from ..core.executors import Executors
from ..core.events import Event
from ..sharing import heartbeat
from . import store
from .records import (CANCELLED, FAILED, RUNNING, SUCCEEDED, UNFINISHED, TaskRecord, build_trees, columns,
                      record_from_row)

log = logging.getLogger(__name__)
# A server that is down or unreachable (not a mistake in what we write: that is not retried).

class TaskService:
    def __init__(self, executors: Executors, *, persist: bool = True) -> None:
        self._executors = executors
        self._persist = persist
        self._ids = itertools.count(1)
        self._last_write: Future | None = None
        self._queue_lock = threading.Lock()
        self._queue: list[tuple[Callable, TaskRecord, dict]] = []
        self._queued_updates: dict[int, int] = {}  # task id -> its update's place in the queue
        self._drain_scheduled = False
        self.tasks: list[TaskRecord] = []
        self.task_added = Event("task_added")      # (TaskRecord)
        self.task_changed = Event("task_changed")  # (TaskRecord)
        self.history_loaded = Event("history_loaded")  # (list of top-level TaskRecord, oldest first)
        # "" while writes go through; else why the inventory database cannot be written now.
        # Nothing queued is dropped meanwhile: it is written again every RETRY_SECONDS.
        self.database_away = ""
        self.database_changed = Event("database_changed")  # (reason, or "" when back)
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def persist(self) -> bool:
        return self._persist

    def next_id(self) -> int:
        """A fresh in-memory id for a record (the database id is another: ``db_id``)."""
        return next(self._ids)

    @property
    def executors(self) -> Executors:
        return self._executors

    @property
    def database(self):
        """The executor that writes the task history (one thread, in order)."""
        return self._executors.database

    # ----- plain tasks ---------------------------------------------------------------------
    async def run(self, kind: str, title: str, work: Callable[..., Awaitable[Any]], *,
                  host_uri: str = "", target_uuid: str = "", target_name: str = "",
                  parent: TaskRecord | None = None, pass_record: bool = False) -> TaskRecord:
        """Record a task, run ``work()``, record the outcome. Never raises for the work's errors."""
        record = self.create(kind, title, host_uri=host_uri, target_uuid=target_uuid,
                             target_name=target_name, parent=parent)
        return await self.run_task(record, work, pass_record=pass_record)

    async def run_task(self, record: TaskRecord, work: Callable[..., Awaitable[Any]], *,
                       pass_record: bool = False) -> TaskRecord:
        """Run ``work()`` as the task ``record`` (created pending beforehand, e.g. one
        machine's part of a bulk action); never raises for the work's errors."""
        self.start(record)
        try:
            result = await (work(record) if pass_record else work())  # a parent passes itself to its steps
        except asyncio.CancelledError:
            self.finish(record, CANCELLED)
            raise
        except Exception as exc:  # noqa: BLE001  (every fault ends the task visibly)
            self.fail(record, exc)
        else:
            self.finish(record, SUCCEEDED, summary=result if isinstance(result, str) else "")
        return record

    # ----- the steps the engine composes ---------------------------------------------------
    def create(self, kind: str, title: str, *, parent: TaskRecord | None = None, announce: bool = True,
               **fields: Any) -> TaskRecord:
        """A new task, persisted in order. ``announce=False`` for the parts of a plan built at once:
        the plan is then announced as one tree (``announce``), one insertion for the views."""
        if parent is not None:
            fields.setdefault("generation", parent.generation)  # one fencing token per tree
        record = TaskRecord(id=next(self._ids), kind=kind, title=title, parent=parent, **fields)
        if parent is not None:
            parent.children.append(record)
        self.tasks.append(record)
        if announce:
            self.task_added.emit(record)
        self._save(store.insert_task, record)
        return record

    def announce(self, record: TaskRecord) -> None:
        """Tell the views about a task created with its children (``create(announce=False)``)."""
        self.task_added.emit(record)

    def start(self, record: TaskRecord) -> None:
        record.status, record.started_at, record._t0 = RUNNING, _now(), time.monotonic()
        record.attempts += 1
        self.changed(record)

    def finish(self, record: TaskRecord, status: str, *, summary: str | None = None,
               message: str | None = None) -> None:
        record.status = status
        if status == SUCCEEDED:
            record.progress = 100
        if summary is not None:
            record.summary = summary
        if message is not None:
            record.error_message = message
        record.finished_at = _now()
        record.duration = time.monotonic() - record._t0 if record._t0 else None
        record.cancel = record.drain = None
        self.changed(record)

    def fail(self, record: TaskRecord, exc: BaseException) -> None:
        if isinstance(exc, HypervisorError):
            record.error, message = exc, exc.one_line()
        elif isinstance(exc, Refusal):
            message = str(exc)
        else:
            log.error("task %s failed unexpectedly", record.title, exc_info=exc)
            message = f"unexpected error: {exc}"
        self.finish(record, FAILED, message=message)

    def changed(self, record: TaskRecord) -> None:
        self.task_changed.emit(record)
        self._save(store.update_task, record)

    async def flush(self) -> None:
        """Wait until every task write queued so far is in the database."""
        if self._persist and self._last_write is not None:
            await asyncio.wrap_future(self._last_write)

    def _save(self, fn: Callable, record: TaskRecord) -> None:
        """Queue a write of the record's columns as they are now; one job on the database
        thread writes the whole queue in one transaction, in order.

        A task that changes again before its last change was written is written once,
        with its latest columns. Writes go through plain SQL (the store), never per-row
        ORM calls, which hold the interpreter lock long enough to stall the GUI thread
        (bench/responsiveness.py, bench/clone_template.py).
        """
        if not self._persist or record.root().lost_to:
            return  # a tree another instance took over is its own now: nothing of it is written
        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                pass
        snapshot = columns(record)  # taken now, on the loop thread
        with self._queue_lock:
            queued = self._queued_updates.get(record.id) if fn is store.update_task else None
            if queued is not None:
                self._queue[queued] = (fn, record, snapshot)
            else:
                if fn is store.update_task:
                    self._queued_updates[record.id] = len(self._queue)
                self._queue.append((fn, record, snapshot))
            if not self._drain_scheduled and not self.database_away:  # while away, the retry timer drains
                self._schedule_drain()

    def _schedule_drain(self) -> None:  # with the queue lock held
        self._drain_scheduled = True
        future = self._executors.database.submit(self._drain)
        future.add_done_callback(_log_failure)
        self._last_write = future

    def _drain(self) -> None:
        with self._queue_lock:
            batch, self._queue, self._queued_updates = self._queue, [], {}
            self._drain_scheduled = False
        began = heartbeat.boot_clock()  # the fencing lease counts from before the batch (fencing.py)
        try:
            fenced = store.write_batch(batch)
        except Exception as exc:
            if not retryable(exc):
                raise  # a mistake in what is written, not the place: logged (_log_failure), not retried
            # The transaction was rolled back: put the batch back in front of what was queued
            # since, forget the ids its inserts were given, and try again later.
            for fn, record, _snapshot in batch:
                if fn is store.insert_task:
                    record.db_id = None
            with self._queue_lock:
                self._queue = batch + self._queue
                self._queued_updates = {rec.id: i for i, (fn, rec, _s) in enumerate(self._queue)
                                        if fn is store.update_task}
            self._report(describe(exc))  # in words: disk full, read-only, server gone, ...
            if isinstance(exc, DATABASE_AWAY):
                raise
            raise peewee.OperationalError(describe(exc)) from exc  # what flush's callers catch
        if self.database_away:
            self._report("")
        lost = {id(r.root()): r.root() for r in fenced}
        for _fn, record, _columns in batch:
            root = record.root()
            if id(root) not in lost:
                root.written_at = began
        if lost:
            self._fenced_off(list(lost.values()))

    def _fenced_off(self, roots: list[TaskRecord]) -> None:
        """From the database thread: these trees have a newer generation (another instance
        took them over). Marked at once (the engine looks right after its flush returns), and
        the engine is told on the loop, so a long step (a migration) stops too."""
        for root in roots:
            if root.lost_to:
                continue
            root.lost_to = "another instance took this task over (this one was taken for dead)"
            log.warning("task %s: %s; this instance stops working on it", root.title, root.lost_to)
            if root.on_lost is not None and self._loop is not None:
                try:
                    self._loop.call_soon_threadsafe(root.on_lost, root.lost_to)
                except RuntimeError:
                    pass  # the loop closed meanwhile (exit)

    def _report(self, away: str) -> None:
        """From the database thread: tell the loop (state, event, and the next retry)."""
        if self._loop is None or self._loop.is_closed():
            self.database_away = away
            return
        try:
            self._loop.call_soon_threadsafe(self._set_away, away)
        except RuntimeError:
            pass  # the loop closed meanwhile (exit)

    def _set_away(self, away: str) -> None:
        changed = away != self.database_away
        self.database_away = away
        if changed:
            (log.warning if away else log.info)("inventory database %s", f"away: {away}" if away else "back")
            self.database_changed.emit(away)
        if away and self._loop is not None:
            self._loop.call_later(RETRY_SECONDS, self._retry)
        elif not away and changed:
            self._drain_if_queued()

    def _retry(self) -> None:
        with self._queue_lock:
            if self._queue and not self._drain_scheduled:
                self._schedule_drain()
            elif not self._queue:  # nothing to write: the next write will tell
                self._loop.call_soon(self._set_away, "")

    def _drain_if_queued(self) -> None:
        """The database is back: what was queued while the last retry ran is written now."""
        with self._queue_lock:
            if self._queue and not self._drain_scheduled:
                self._schedule_drain()

    # ----- history -------------------------------------------------------------------------
    async def load_history(self, limit: int = 300) -> list[TaskRecord]:
        """The last ``limit`` top-level tasks of earlier sessions, with their children."""
        if not self._persist:
            return []
        loop = asyncio.get_running_loop()
        rows = await loop.run_in_executor(self._executors.database, store.recent_trees, limit)
        return self.adopt(rows)

    def changing(self, uuid: str) -> bool:
        """Whether a task of this instance on the machine ``uuid`` has not finished: known at
        once, before its row reaches the database (any thread may ask: a copy is read)."""
        return any(t.target_uuid == uuid and t.status in UNFINISHED for t in list(self.tasks))

    def find(self, db_id: int) -> TaskRecord | None:
        return next((t for t in self.tasks if t.db_id == db_id), None)

    def take_over(self, rows: list[dict]) -> TaskRecord:
        """The records of a tree this instance just claimed, as its rows (read in the claim)
        say now: records shown already are brought up to date in place, rows not shown yet
        (e.g. another instance's undo tasks) are added. Nothing is written back."""
        root = self.find(rows[0]["id"])
        if root is None:
            return self.adopt(rows)[0]
        known = {r.db_id: r for r in _walk(root)}
        for row in rows:
            fresh = record_from_row(row, 0)
            record = known.get(row["id"])
            if record is None:
                parent = known.get(row["parent_id"])
                if parent is None:
                    continue  # (a row whose parent is not in this tree: not ours to show)
                fresh.id, fresh.parent = next(self._ids), parent
                fresh.compensates = known.get(row["compensates_id"])
                parent.children.append(fresh)
                self.tasks.append(fresh)
                known[row["id"]] = fresh
                self.task_added.emit(fresh)
                continue
            for name in _ROW_FIELDS:
                setattr(record, name, getattr(fresh, name))
            self.task_changed.emit(record)
        root.lost_to, root.written_at = "", None  # ours again; the lease starts at the next write
        return root

    def adopt(self, rows: list[dict]) -> list[TaskRecord]:
        """Records for task rows read from the database (parents before children)."""
        known = {t.db_id for t in self.tasks if t.db_id is not None}
        roots, records = build_trees([r for r in rows if r["id"] not in known], self._ids)
        self.tasks[:0] = records  # older than anything of this session
        if roots:
            self.history_loaded.emit(roots)
        return roots


# What a task row says (``records.record_from_row``), as opposed to the links between records.
_ROW_FIELDS = ("kind", "title", "host_uri", "target_uuid", "target_name", "status", "progress", "started_at",
               "finished_at", "error", "error_message", "duration", "summary", "op", "params", "role", "attempts",
               "owner", "generation", "concurrent")


def _walk(record: TaskRecord):
    yield record
    for child in record.children:
        yield from _walk(child)


def _now() -> dt.datetime:
    return dt.datetime.now()


def _log_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        if retryable(future.exception()):
            return  # reported as the database state, and retried
        log.error("task history write failed", exc_info=future.exception())
