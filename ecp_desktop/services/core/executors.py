"""Where every blocking call runs: libvirt calls in pools that never fill, the database on one thread."""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import queue
import sys
import threading
import time
import weakref
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from .gui_first import give_way


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


_POOLS: weakref.WeakSet = weakref.WeakSet()  # every NeverFullPool: leave_stuck_threads looks at their workers


class NeverFullPool(Executor):
    """A thread pool in which a job never waits for a worker: an idle daemon thread takes it,
    or a new one starts. Idle threads end after ``idle_seconds``.

    Why not a bounded pool: libvirt cannot cancel an open or a call, and a host that stops
    answering keeps its thread for as long as TCP waits (minutes). In a bounded pool such
    threads fill it and every other host waits behind them; here a stuck job holds only its
    own thread. Callers bound how many run at once per host (HostConnection's call slots,
    one open in flight per host), so the count stays small. Daemon threads: nothing joins
    them at exit (ThreadPoolExecutor's workers are joined, which kept the app alive).

    Invariant: the threads waiting for a job are ``_idle`` plus one per queued job. A submit
    claims an idle thread (``_idle -= 1``) or starts one; a thread gives up waiting only
    while ``_idle`` is above zero, taking one off it, so a queued job always has a taker."""

    def __init__(self, name: str, idle_seconds: float = 30.0) -> None:
        self._name = name
        self._idle_seconds = idle_seconds
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._idle = 0
        self._busy: set[threading.Thread] = set()
        self._shut = False
        # New workers are started by a thread of the pool's own: Thread.start() waits until the
        # new thread runs, which with a hundred busy threads (a fleet's opens) took the caller,
        # the GUI thread, ~5 ms a thread.
        self._spawns: queue.SimpleQueue = queue.SimpleQueue()
        self._spawner: threading.Thread | None = None
        _POOLS.add(self)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        with self._lock:
            if self._shut:
                raise RuntimeError(f"{self._name}: cannot run new work after shutdown")
            self._jobs.put((future, fn, args, kwargs))
            if self._idle:
                self._idle -= 1
                return future
            self._spawns.put(True)
            new = None
            if self._spawner is None:
                new = self._spawner = threading.Thread(target=self._spawn_workers, name=f"{self._name}-spawner",
                                                       daemon=True)
        if new is not None:
            new.start()
        return future

    def _spawn_workers(self) -> None:
        while True:
            try:
                if not self._spawns.get(timeout=self._idle_seconds):
                    return  # shut down
            except queue.Empty:
                with self._lock:  # submit asks under the lock: none can be missed
                    if self._spawns.empty():
                        self._spawner = None
                        return
                continue
            threading.Thread(target=self._work, name=f"{self._name}-{next(self._numbers)}", daemon=True).start()

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            try:
                job = self._jobs.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._idle:  # nobody counts on this thread: it may end
                        self._idle -= 1
                        return
                continue
            if job is None:  # shutdown
                return
            future, fn, args, kwargs = job
            give_way()  # the GUI thread first: it may be painting or applying a batch
            with self._lock:
                self._busy.add(me)
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        result = fn(*args, **kwargs)
                    except BaseException as exc:  # noqa: BLE001  (handed to the waiter, as a pool does)
                        future.set_exception(exc)
                    else:
                        future.set_result(result)
            finally:
                del future, fn, args, kwargs, job  # no reference to a connection kept while idle
                with self._lock:
                    self._busy.discard(me)
                    self._idle += 1

    def running(self) -> list[threading.Thread]:
        """The threads inside a job now (e.g. an open a dead host never answers)."""
        with self._lock:
            return list(self._busy)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No new work; idle threads end. ``wait`` joins the running jobs; at exit pass False:
        a job stuck in libvirt is abandoned, never waited for."""
        with self._lock:
            self._shut = True
            idle, self._idle = self._idle, 0
        for _ in range(idle):
            self._jobs.put(None)
        self._spawns.put(None)  # after the workers asked for so far
        if wait:
            for thread in self.running():
                thread.join()


@dataclass
class Executors:
    """Where blocking calls run.

    ``connect`` (opens, probes, the restore lock) and ``calls`` (everything on an open
    connection) never make a job wait for a worker: no pool a dead host can fill, so a host
    that hangs never delays another. ``database`` has one worker: SQLite has one writer anyway, and
    writes stay in order.
    """

    connect: NeverFullPool = field(default_factory=lambda: NeverFullPool("libvirt-open"))
    calls: NeverFullPool = field(default_factory=lambda: NeverFullPool("libvirt-call"))
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

    async def on_database(self, fn, *args):
        """``fn(*args)`` on the database thread, awaited (the event loop never waits on the database)."""
        return await asyncio.get_running_loop().run_in_executor(self.database, fn, *args)

    def stuck_in_libvirt(self) -> list[threading.Thread]:
        return self.connect.running() + self.calls.running()


def leave_stuck_threads(code: int, grace: float = 1.0, also: list[threading.Thread] | None = None) -> None:
    """End the process now if a thread would keep it alive or is still inside libvirt.

    Call it when the work is saved and the output written. Non-daemon threads (and
    ``also``, e.g. libvirt workers: a daemon thread that returns from libvirt while the
    interpreter is being torn down is not safe either) get ``grace`` seconds together to
    finish; if any is left, the logs are flushed and the process ends with ``code``
    without joining them (a host that stopped answering holds its thread for minutes).
    ``also`` defaults to every pool's threads inside a job now."""
    if also is None:
        also = [thread for pool in list(_POOLS) for thread in pool.running()]
    deadline = time.monotonic() + grace
    waited = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    waited += [t for t in also or [] if t not in waited]
    for thread in waited:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(t.is_alive() for t in waited):
        logging.shutdown()  # flushes the log file
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
