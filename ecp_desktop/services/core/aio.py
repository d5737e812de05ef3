"""asyncio helpers shared by the services."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)
_running: set[asyncio.Task] = set()


def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
    """Start ``coro`` as a task and hold a reference until it ends.

    The loop keeps only weak references to tasks (and qasync 0.28 keeps none for
    async slots), so a task nobody holds can vanish mid-flight. Failures are logged
    through the loop's exception handler; callers that care about the result await the task.
    """
    task = asyncio.ensure_future(coro)
    _running.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        # The loop's handler logs it; the GUI's also shows the crash dialog.
        task.get_loop().call_exception_handler(
            {"message": "background task failed", "exception": task.exception(), "task": task})
