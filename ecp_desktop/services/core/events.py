"""A minimal Qt-free signal: services emit plain Python events, views adapt them."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Event:
    """A list of callbacks called in order on :meth:`emit`, on the emitter's thread.

    Services only emit on the asyncio loop's thread, so subscribers (the Qt
    adapters) never see a call from a worker thread.
    """

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._subscribers: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        self._subscribers.append(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        self._subscribers.remove(callback)

    def __len__(self) -> int:
        """How many callbacks follow it."""
        return len(self._subscribers)

    def __bool__(self) -> bool:
        return True  # an event with no follower yet is still an event

    def emit(self, *args: Any) -> None:
        for callback in list(self._subscribers):
            callback(*args)
