"""A view following a service's event for as long as the view lives. The services outlive
any one window (a second window, a closed dialog), so a Qt object that subscribes must let go
when it is destroyed: a call into a deleted object raises."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject

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
