"""One operation at a time on a machine, across the app instances sharing an inventory.

Every caller that changes a machine (the actions, bulk actions, restore, template flows,
migrations, undos and crash recovery) goes through :func:`call_locked` (a blocking call,
locked inside the worker that makes it) or :func:`holding` (work that runs on the event
loop, such as a migration with progress). Waiting ends after ``WAIT_SECONDS`` with
:class:`MachineBusy`, whose message says who holds the machine. On PostgreSQL a session
advisory lock per machine on one connection of this process's own (a crashed process's
session ends, and its locks with it); on SQLite (one machine) a one-byte POSIX record
lock per machine in one file beside the database (released by the kernel at exit).
Within one process, a threading lock per machine comes first: record locks are per
process, and one connection's advisory locks are re-entrant.
"""
from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
import threading
import time
from concurrent.futures import Executor
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from ecp_desktop.models.db import database
from ecp_desktop.models.dialect import Dialect

from ..core.errors import Refusal

log = logging.getLogger(__name__)


class MachineBusy(TimeoutError, Refusal):
    """Another instance (or task) kept operating on the machine for longer than we waited."""


def _key(host_uri: str, uuid: str) -> int:
    return int.from_bytes(hashlib.sha256(f"machine:{host_uri}:{uuid}".encode()).digest()[:8], "big", signed=True)


class _Locks:
    def __init__(self) -> None:
        self._mutex = threading.Lock()          # guards the session or file below
        self._local: dict[int, threading.Lock] = {}
        self._db = None
        self._conn = None
        self._fd: int | None = None

    def _open(self) -> None:  # with the mutex held
        db = database.obj
        if db is self._db and (self._conn is not None or self._fd is not None or db is None):
            return
        self._close()
        self._db = db
        if db is None:
            return  # no inventory database: nobody to coordinate with
        if Dialect(db).advisory_locks:
            self._conn = Dialect(db).own_session(db)
        else:
            path = Path(db.database)
            folder = path.parent / f".{path.name}.locks"
            folder.mkdir(mode=0o700, exist_ok=True)
            self._fd = os.open(folder / "machines", os.O_RDWR | os.O_CREAT, 0o600)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._fd is not None:
            os.close(self._fd)
        self._conn, self._fd, self._db = None, None, None

    def _try(self, key: int) -> bool | None:
        """True: locked; False: someone else has it; None: cannot coordinate now (no
        database, or its server is away), so go on: libvirt still refuses what is invalid."""
        fd = self._fd
        if fd is not None and self._db is database.obj:
            # The common case on SQLite: the kernel's record locks need no mutex of ours, and
            # 1,000 workers queueing on one handed the interpreter lock around at every turn.
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, key % (2**62))
                return True
            except (BlockingIOError, PermissionError):
                return False
        with self._mutex:
            try:
                self._open()
                if self._conn is not None:
                    with self._conn.cursor() as cur:
                        cur.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                        return bool(cur.fetchone()[0])
            except Exception as exc:  # noqa: BLE001  (psycopg2's errors: the server is away)
                log.warning("machine locks unavailable (%s); going on without", exc)
                self._close()
                return None
            if self._fd is None:
                return None
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, key % (2**62))
                return True
            except (BlockingIOError, PermissionError):
                return False

    def _release(self, key: int) -> None:
        fd = self._fd
        if fd is not None:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, key % (2**62))
            return
        with self._mutex:
            try:
                if self._conn is not None:
                    with self._conn.cursor() as cur:
                        cur.execute("SELECT pg_advisory_unlock(%s)", (key,))
                elif self._fd is not None:
                    fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, key % (2**62))
            except Exception:  # noqa: BLE001  (a session that died took its locks with it)
                self._close()

    @contextmanager
    def held(self, host_uri: str, uuid: str, timeout: float, what: str = ""):
        key = _key(host_uri, uuid)
        local = self._local.get(key) or self._local.setdefault(key, threading.Lock())  # setdefault: atomic
        deadline = time.monotonic() + timeout
        if not local.acquire(timeout=timeout):
            raise MachineBusy(f"{what or uuid} is busy with another task of this app")
        try:
            while (locked := self._try(key)) is False:
                if time.monotonic() > deadline:
                    raise MachineBusy(f"another app instance has been operating on {what or uuid} "
                                      f"for over {timeout:g} s; try again when it is done")
                time.sleep(0.05)
            try:
                yield
            finally:
                if locked:
                    self._release(key)
        finally:
            local.release()


LOCKS = _Locks()
WAIT_SECONDS = 30.0


def held(host_uri: str, uuid: str, *, timeout: float | None = None, what: str = ""):
    """``with held(uri, uuid): ...`` serializes operations on that machine across instances."""
    return LOCKS.held(host_uri, uuid, WAIT_SECONDS if timeout is None else timeout, what)


async def call_locked(host, uuid: str, what: str, operation: str, fn):
    """Run ``fn(conn)`` on ``host`` (a HostConnection) holding the machine's lock; libvirt
    failures become the one error type, with the host's versions (``host.call``)."""
    def locked(conn):
        with held(host.uri, uuid, what=what):
            return fn(conn)
    return await host.call(locked, operation=operation, machine=what)


@asynccontextmanager
async def holding(executor: Executor, host_uri: str, uuid: str, what: str = ""):
    """Hold the machine's lock while inside (for work that runs on the event loop). Waiting
    and releasing run in ``executor``, never on the loop's thread; a lock won after the
    waiter was cancelled is released at once."""
    lock = held(host_uri, uuid, what=what)
    loop = asyncio.get_running_loop()
    won = loop.run_in_executor(executor, lock.__enter__)
    try:
        await asyncio.shield(won)
    except asyncio.CancelledError:
        won.add_done_callback(lambda f: f.cancelled() or f.exception() or executor.submit(
            lock.__exit__, None, None, None))
        raise
    try:
        yield
    finally:
        await loop.run_in_executor(executor, lock.__exit__, None, None, None)
