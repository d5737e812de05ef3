"""Locks held across app instances that share one inventory (blocking: run in a worker).

On PostgreSQL a session advisory lock on a connection of its own, so that operators'
apps on different machines exclude each other; on SQLite (one machine) an exclusive
``flock`` on a file beside the database. Used so that, e.g., one host is restored by
exactly one instance: the others wait, then find its machines running.
"""
from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from ecp_desktop.models.db import database
from ecp_desktop.models.dialect import Dialect


class LockTimeout(TimeoutError):
    """Another instance held the lock for longer than we were willing to wait."""


def _key(name: str) -> int:
    # A signed 64-bit key for pg_advisory_lock, stable across processes and machines.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def exclusive(name: str, timeout: float = 120.0):
    """Hold the lock named ``name`` (e.g. ``restore:qemu+ssh://host/system``) while inside."""
    db = database.obj
    if Dialect(db).advisory_locks:
        with _advisory(db, _key(name), timeout):
            yield
    else:
        with _file_lock(db, name, timeout):
            yield


class Taken:
    """A named lock taken from async code (``take``); ``release`` lets it go."""

    def __init__(self, lock, pool) -> None:
        self._lock, self._pool = lock, pool

    async def release(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, self._lock.__exit__, None, None, None)


async def take(name: str, pool, timeout: float = 120.0) -> Taken:
    """``exclusive`` from async code: taken (and later let go) on ``pool``'s threads, so the
    event loop never waits on the database. Raises LockTimeout when another instance keeps it."""
    lock = exclusive(name, timeout=timeout)
    await asyncio.get_running_loop().run_in_executor(pool, lock.__enter__)
    return Taken(lock, pool)


@contextmanager
def _advisory(db, key: int, timeout: float):
    conn = Dialect(db).own_session(db)
    try:
        with conn.cursor() as cur:
            deadline = time.monotonic() + timeout
            while True:
                cur.execute("SELECT pg_try_advisory_lock(%s)", (key,))
                if cur.fetchone()[0]:
                    break
                if time.monotonic() > deadline:
                    raise LockTimeout(f"another instance holds the lock {key} since over {timeout:.0f} s")
                time.sleep(0.1)
        yield
    finally:
        conn.close()  # ends the session: the lock goes with it, even after a crash


@contextmanager
def _file_lock(db, name: str, timeout: float):
    path = Path(urlparse(f"sqlite:///{db.database}").path)
    folder = path.parent / f".{path.name}.locks"
    folder.mkdir(mode=0o700, exist_ok=True)
    lock_file = folder / hashlib.sha256(name.encode()).hexdigest()[:24]
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeout(f"another instance holds {name} since over {timeout:.0f} s") from None
                time.sleep(0.1)
        yield
    finally:
        os.close(fd)  # releases the flock (and the kernel releases it if we crash)
