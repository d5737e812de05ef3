"""What the window knows of the maintenance marks: read on the database thread at start,
after this instance changes one, and every REFRESH_S (another operator may set or clear one
on the shared inventory), so the hosts pane and the destination lists can grey those hosts."""
from __future__ import annotations

import asyncio
import logging

from ..core.aio import spawn
from ..core.events import Event
from .mark import Mark, in_maintenance

log = logging.getLogger(__name__)
REFRESH_S = 30.0


class MarkWatch:
    def __init__(self, executors, *, refresh_s: float = REFRESH_S) -> None:
        self._executors = executors
        self.refresh_s = refresh_s
        self.marks: dict[str, Mark] = {}
        self.changed = Event("maintenance_changed")  # (marks by URI)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = spawn(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.refresh_s)

    async def refresh(self) -> dict[str, Mark]:
        """Read the marks now (an unreadable database keeps the last known ones)."""
        try:
            marks = await asyncio.get_running_loop().run_in_executor(self._executors.database, in_maintenance)
        except Exception as exc:  # noqa: BLE001  (the database away: the status bar says so already)
            log.debug("maintenance marks not read: %s", exc)
            return self.marks
        if marks != self.marks:
            self.marks = marks
            self.changed.emit(marks)
        return marks

    def words(self, uri: str) -> str:
        """"in maintenance since … (set by …)" for a host in maintenance; "" otherwise."""
        found = self.marks.get(uri)
        return found.words().removeprefix("its host is ") if found else ""
