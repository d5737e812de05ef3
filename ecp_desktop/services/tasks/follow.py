"""Other instances' tasks on a shared inventory, shown here within a couple of seconds.

A cheap query every POLL_SECONDS on the database thread: top-level tasks other
instances wrote since the last look, and the trees of theirs still running. New ones
are announced like this instance's own (newest at the top of the pane); changes are
announced but never written back, since the owner writes its own rows.
"""
from __future__ import annotations

import asyncio
import logging

from . import store
from ..sharing.instance import INSTANCE_ID
from .service import TaskService
from .records import UNFINISHED, TaskRecord, record_from_row

log = logging.getLogger(__name__)
POLL_SECONDS = 2.0
# Ids are handed out at insert but become visible at commit, possibly out of order: look
# back this far each time (rows already known are skipped).
LOOKBACK = 200
_FIELDS = ("status", "progress", "summary", "error", "error_message", "started_at", "finished_at", "duration",
           "attempts")


class TaskFollower:
    def __init__(self, tasks: TaskService, me: str = INSTANCE_ID, interval: float = POLL_SECONDS) -> None:
        self.tasks, self.me, self.interval = tasks, me, interval
        self.after_id: int | None = None

    async def run(self) -> None:
        while True:
            try:
                await self.poll()
            except RuntimeError:
                return  # the database thread was shut down: the app is closing
            except Exception:  # noqa: BLE001  (a database that is away: try again next time)
                log.info("could not read other instances' tasks", exc_info=True)
            await asyncio.sleep(self.interval)

    async def poll(self) -> list[TaskRecord]:
        """Read once; returns the new top-level tasks of other instances."""
        if not self.tasks.persist:
            return []
        loop = asyncio.get_running_loop()
        database = self.tasks.database
        if self.after_id is None:
            known = [t.db_id for t in self.tasks.tasks if t.parent is None and t.db_id is not None]
            self.after_id = max(known) if known else await loop.run_in_executor(database, store.last_task_id)
        watched = [t.db_id for t in self.tasks.tasks if t.parent is None and t.db_id is not None
                   and t.owner != self.me and t.status in UNFINISHED]
        rows = await loop.run_in_executor(database, store.foreign_trees, max(0, self.after_id - LOOKBACK),
                                          watched, self.me)
        return self._merge(rows)

    def _merge(self, rows: list[dict]) -> list[TaskRecord]:
        by_db_id = {t.db_id: t for t in self.tasks.tasks if t.db_id is not None}
        new_roots, new_children = [], []
        for row in rows:  # parents before children
            record = by_db_id.get(row["id"])
            if record is None:
                record = record_from_row(row, self.tasks.next_id())
                record.from_history = False  # live, like this instance's own
                record.parent = by_db_id.get(row["parent_id"])
                record.compensates = by_db_id.get(row["compensates_id"])
                by_db_id[row["id"]] = record
                self.tasks.tasks.append(record)
                if record.parent is None:
                    new_roots.append(record)
                    self.after_id = max(self.after_id or 0, row["id"])
                else:
                    record.parent.children.append(record)
                    if record.parent not in new_roots and not _inside(record.parent, new_roots):
                        new_children.append(record)
            elif record.owner != self.me:
                fresh = record_from_row(row, record.id)
                if any(getattr(fresh, f) != getattr(record, f) for f in _FIELDS):
                    for f in _FIELDS:
                        setattr(record, f, getattr(fresh, f))
                    self.tasks.task_changed.emit(record)  # shown, never written back
        for record in new_roots + new_children:
            self.tasks.task_added.emit(record)
        return new_roots


def _inside(record: TaskRecord, roots: list[TaskRecord]) -> bool:
    while record.parent is not None:
        record = record.parent
    return record in roots
