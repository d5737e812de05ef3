"""A view following a service's event for as long as the view lives. The services outlive
any one window (a second window, a closed dialog), so a Qt object that subscribes must let go
when it is destroyed: a call into a deleted object raises."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer

from ...services.core.events import Event


def follow(event: Event, owner: QObject, callback: Callable[..., Any]) -> None:
    """``callback`` on every ``event``, until ``owner`` is destroyed."""
    event.connect(callback)
    owner.destroyed.connect(lambda *_: _let_go(event, callback))


def _let_go(event: Event, callback: Callable[..., Any]) -> None:
    try:
        event.disconnect(callback)
    except ValueError:
        pass  # it let go already


def read_again_on(event: Event, owner: QObject, read: Callable[[], None], *, settle_ms: int = 250) -> QTimer:
    """``read()`` once after a burst of ``event`` has settled (a pool started, then refreshed,
    reads once), until ``owner`` is destroyed."""
    timer = QTimer(owner)
    timer.setSingleShot(True)
    timer.setInterval(settle_ms)
    timer.timeout.connect(read)
    follow(event, owner, lambda *_: timer.start())
    return timer
