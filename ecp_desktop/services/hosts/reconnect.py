"""When a host that is down is tried again, how long an open may take, and what the log says.

Remote hosts are retried with a short backoff (1, 2, 4, 8, then every 10 s), each delay
shortened by up to a fifth at random so that hosts lost together do not all come back in
one burst. A daemon on this machine is also watched: its socket is checked every quarter
second (a non-blocking connect, no thread, no log line), and the host is opened the moment
the socket starts accepting again.

Every transition is one INFO line (INFO is the default level): connecting, connected, lost
with the reason, back after N s. A host that stays unreachable logs again only when the
reason changes, so a dead host does not fill the log every ten seconds.
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable

from ..core.errors import escape_line
from .reachability import DaemonAddress, socket_listening

log = logging.getLogger("ecp_desktop.services.hosts")

RETRY_CAP_SECONDS = 10.0
SOCKET_WATCH_SECONDS = 0.25
OPEN_TIME_LIMIT_SECONDS = 15.0
OPEN_TIME_LIMIT_VARIABLE = "ECP_DESKTOP_OPEN_TIMEOUT"
# Opens past their time limit still sit in libvirt, each on its own thread; past this many
# for one host, no new one starts until one gives up (a host that accepts TCP but never answers).
OPENS_LEFT_RUNNING_PER_HOST = 2


def open_time_limit() -> float | None:
    """Seconds an open may take before the host counts as not answering: the environment's
    ECP_DESKTOP_OPEN_TIMEOUT (0: no limit; not a number: the default), else 15 s."""
    try:
        seconds = float(os.environ.get(OPEN_TIME_LIMIT_VARIABLE, OPEN_TIME_LIMIT_SECONDS))
    except ValueError:
        return OPEN_TIME_LIMIT_SECONDS
    return seconds if seconds > 0 else None


def retry_delay(failures: int, cap: float = RETRY_CAP_SECONDS, rand: Callable[[], float] = random.random) -> float:
    """Seconds before the next try after ``failures`` failed ones in a row (1 or more):
    doubling from 1 s up to ``cap``, times a random 0.8-1.0 (never past the cap)."""
    base = min(cap, 2.0 ** max(0, failures - 1))
    return base * (0.8 + 0.2 * rand())


class RetrySchedule:
    """When one host that is down is tried next: a backoff timer and, for a daemon on this
    machine, a watch on its socket. ``try_now(daemon_back)`` starts the try."""

    def __init__(self, address: DaemonAddress | None, try_now: Callable[[bool], None]) -> None:
        self._watched = address if address is not None and address.is_local else None
        self._try_now = try_now
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._was_listening = True
        self.next_attempt_at: float | None = None  # time.monotonic() of the next timed try

    @property
    def watching_daemon(self) -> bool:
        return self._watch is not None

    def start(self, loop: asyncio.AbstractEventLoop, failures: int) -> None:
        self.cancel()
        self._loop = loop
        delay = retry_delay(failures)
        self.next_attempt_at = time.monotonic() + delay
        self._timer = loop.call_later(delay, self._fire, False)
        if self._watched is not None:
            # A try starts when the socket goes from refusing to accepting, not while it merely
            # accepts: a hung daemon's socket does, and tries on it keep the backoff.
            self._was_listening = socket_listening(self._watched)
            self._watch = loop.call_later(SOCKET_WATCH_SECONDS, self._check_socket)

    def _check_socket(self) -> None:
        self._watch = None
        listening = socket_listening(self._watched)
        came_back, self._was_listening = listening and not self._was_listening, listening
        if came_back:
            self._fire(True)
        elif self._timer is not None:
            self._watch = self._loop.call_later(SOCKET_WATCH_SECONDS, self._check_socket)

    def _fire(self, daemon_back: bool) -> None:
        self.cancel()
        self._try_now(daemon_back)

    def cancel(self) -> None:
        for handle in (self._timer, self._watch):
            if handle is not None:
                handle.cancel()
        self._timer = self._watch = None
        self.next_attempt_at = None

    def describe(self) -> str:
        """The next try, for the log: "next try in 8 s or when its daemon is back"."""
        if self.next_attempt_at is None:
            return "no retry"
        text = f"next try in {max(0.0, self.next_attempt_at - time.monotonic()):.0f} s"
        return text + (" or when its daemon is back" if self.watching_daemon else "")


class TransitionLog:
    """One host's transitions, each a single escaped INFO line."""

    def __init__(self, label: str, uri: str) -> None:
        self._who = f"host {escape_line(label)} ({escape_line(uri)})"
        self._lost_at: float | None = None  # when it went from connected to down
        self._last_reason: str | None = None

    def connecting(self, first: bool) -> None:
        if first:
            log.info("%s: connecting", self._who)
        else:
            log.debug("%s: trying again", self._who)

    def connected(self, took: float) -> None:
        if self._lost_at is not None:
            log.info("%s: back after %.1f s (connected in %.2f s)", self._who, time.monotonic() - self._lost_at, took)
        else:
            log.info("%s: connected in %.2f s", self._who, took)
        self._lost_at, self._last_reason = None, None

    def down(self, reason: str, was_connected: bool, next_try: str) -> None:
        line = escape_line(reason)
        if was_connected:
            self._lost_at = time.monotonic()
            log.info("%s: lost: %s; %s", self._who, line, next_try)
        elif reason != self._last_reason:
            log.info("%s: unreachable: %s; %s", self._who, line, next_try)
        else:
            log.debug("%s: still unreachable; %s", self._who, next_try)
        self._last_reason = reason

    def closed(self, reason: str) -> None:
        log.info("%s: disconnected (%s)", self._who, escape_line(reason))
        self._lost_at, self._last_reason = None, None
