"""The bounded thread pools every blocking call runs in (libvirt calls and the database)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


def _hold_database_connection() -> None:
    """Keep one SQLite connection open on the database thread for its whole life.

    Every write enters ``connection_context()``; with no outer context, each one opened
    and closed a connection (pragmas and all): a bulk action of 1,000 machines queued
    6,000 of them, and the thread stayed busy for seconds after the window looked idle.
    An outer context that never exits keeps the connection. (PostgreSQL keeps per-call
    connections for now: a dropped server connection must not stick.)
    """
    import peewee

    from ecp_desktop.models.db import database
    if isinstance(database.obj, peewee.SqliteDatabase):
        database.connection_context().__enter__()


@dataclass
class Executors:
    """The bounded pools every blocking call runs in.

    ``connect`` is separate from ``calls`` so that hosts that hang on open (a dead
    TCP peer) cannot occupy the workers the reachable hosts need. ``database`` has
    one worker: SQLite has one writer anyway, and writes stay in order.
    """

    connect: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(8, "libvirt-open"))
    calls: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(12, "libvirt-call"))
    database: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(
        1, "database", initializer=_hold_database_connection))
    # waits for machine locks held by other instances (bounded by the lock's wait)
    locks: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(4, "machine-locks"))

    def shutdown(self, database_grace: float = 5.0) -> None:
        # Never wait on libvirt: a call stuck on a dead host must not hang the app's exit.
        for pool in (self.connect, self.calls, self.locks):
            pool.shutdown(wait=False, cancel_futures=True)
        # Let queued inventory and task-history writes land (bounded: a database across
        # the network may be gone), so a finished task is not left "running" on disk.
        try:
            self.database.submit(lambda: None).result(timeout=database_grace)
        except Exception:  # noqa: BLE001  (timeout or a pool already shut down: exit anyway)
            pass
        self.database.shutdown(wait=False, cancel_futures=True)
