"""Signs of life of app instances on a shared inventory.

Every instance writes ``beat_at`` (the database server's clock) every BEAT_SECONDS while
it runs. An owner on this machine is judged exactly (its PID and start time); an owner
on another machine is dead when it has been silent for STALE_SECONDS, or has no row at
all (it never ran this version, or removed its row at a clean exit).
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.models.dialect import dialect
from .instance import INSTANCE_ID

log = logging.getLogger(__name__)
# $ECP_DESKTOP_STALE_SECONDS shortens the limit for the lab's takeover tests only.
STALE_SECONDS = float(os.environ.get("ECP_DESKTOP_STALE_SECONDS") or 60.0)
BEAT_SECONDS = min(10.0, STALE_SECONDS / 6)


_leaving = threading.Lock()  # a beat in flight never writes the row back after ``leave``
_left: set[str] = set()


class Continuity:
    """This instance's unbroken run of heartbeats, on the boot clock (it runs on through a
    suspend). While beats succeed at most LEASE apart, every instance reads this one as
    alive (LEASE is half of STALE_SECONDS), so nobody can have taken its flows over since
    the run began; a gap (a freeze, a suspend, the database away) starts a new run."""

    def __init__(self) -> None:
        self.since: float | None = None  # when the unbroken run began (a beat's start)
        self.last: float | None = None   # when the last successful beat started

    def beaten(self, started: float) -> None:
        if self.last is None or started - self.last > STALE_SECONDS / 2:
            self.since = started
        self.last = started

    def covers(self, since: float, now: float) -> bool:
        """No takeover was possible from ``since`` until ``now``."""
        return (self.since is not None and self.last is not None and self.since <= since
                and now - self.last < STALE_SECONDS / 2)


CONTINUITY = Continuity()


def boot_clock() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def beat(owner: str = INSTANCE_ID) -> None:
    backend = dialect()
    now = backend.now
    with _leaving:
        if owner in _left:
            return
        with database.connection_context():
            database.execute_sql(
                f"INSERT INTO instance (owner, started_at, beat_at) VALUES ({backend.mark}, {now}, {now}) "
                f"ON CONFLICT (owner) DO UPDATE SET beat_at = {now}", [owner])


def leave(owner: str = INSTANCE_ID) -> None:
    """At a clean exit: nothing of ours is left to take over (and no later beat says otherwise)."""
    with _leaving:
        _left.add(owner)
        with database.connection_context():
            schema.Instance.delete().where(schema.Instance.owner == owner).execute()


def live_owners(owners: list[str], stale_after: float = STALE_SECONDS) -> set[str]:
    """Which of ``owners`` gave a sign of life within ``stale_after`` seconds (server clock)."""
    if not owners:
        return set()
    backend = dialect()
    live = set()
    with database.connection_context():
        for start in range(0, len(owners), 500):
            chunk = owners[start:start + 500]
            cursor = database.execute_sql(
                f"SELECT owner FROM instance WHERE beat_at >= {backend.seconds_ago(stale_after)} "
                f"AND owner IN ({backend.marks(len(chunk))})", chunk)
            live |= {row[0] for row in cursor.fetchall()}
    return live


async def keep_beating(interval: float = BEAT_SECONDS) -> None:
    """Run for the app's life; a database that is away is retried.

    On a thread (and so a database connection: peewee keeps one per thread) of its own, not
    the database thread: a long history write or a slow inventory job there must not make
    other instances take this one for dead and take over its flows. A daemon thread: a beat
    stuck on a database server that is gone never holds up the exit."""
    loop = asyncio.get_running_loop()
    with _leaving:
        _left.discard(INSTANCE_ID)  # beating (again: a reopened inventory, the next test)
    while True:
        started = boot_clock()
        done = loop.create_future()

        def one_beat(done=done) -> None:
            error = None
            try:
                beat()
            except Exception as exc:  # noqa: BLE001  (reported on the loop)
                error = exc
            try:
                loop.call_soon_threadsafe(lambda: done.done() or (done.set_exception(error) if error
                                                                  else done.set_result(None)))
            except RuntimeError:
                pass  # the loop closed meanwhile (exit)
        try:
            threading.Thread(target=one_beat, name="heartbeat", daemon=True).start()
            await done
            CONTINUITY.beaten(started)
        except RuntimeError:
            return  # the loop is closing
        except Exception:  # noqa: BLE001
            log.info("heartbeat not written (database away?)", exc_info=True)
        await asyncio.sleep(interval)
