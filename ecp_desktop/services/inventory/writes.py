"""The inventory's writes, queued on the database thread and written again until they land.

Every write that matters (machine rows, desired states, restore policies, a host removed) is
put in a coalesced queue (``pending``) and written by one job on the database thread. When
the database cannot be written (a full or read-only disk, a server gone: see
``core.database_faults``) what did not land goes back in front of what was queued since and
is written again every ``RETRY_SECONDS``, the same way as the task history
(``tasks/service.py``); meanwhile ``away`` says why, in words, for the status bar. So the
promise "nothing recorded is lost" holds for machine state as it does for tasks: after the
outage the rows equal what libvirt runs and what the user asked for.

The loop thread only puts values in the queue (under a short lock) and schedules the job:
it never waits on the database.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from ..core import database_faults
from ..core.events import Event
from . import store
from .machines import MachineInfo
from .pending import HostWrites, MachineWrite, merge

log = logging.getLogger(__name__)
UNNAMED_RETRIES = 3  # tries of a write failing for a cause database_faults cannot name


class InventoryWrites:
    """``gate()``: on the database thread, whether the inventory may be written (setup has
    run); what is queued before is dropped, as every write before setup is.
    ``host_id(uri)``: the host's row id (recorded if need be), or None.
    ``write_listing(uri, listing)``: writes a host's full listing."""

    def __init__(self, executor: Executor, *, gate: Callable[[], bool], host_id: Callable[[str], int | None],
                 write_listing: Callable[[str, Any], None]) -> None:
        self._executor = executor
        self._gate, self._host_id, self._write_listing = gate, host_id, write_listing
        self._lock = threading.Lock()
        self._pending: dict[str, HostWrites] = {}  # host URI -> its coalesced writes
        self._scheduled = False
        self._last: Future | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.retry_seconds = database_faults.RETRY_SECONDS
        # "" while writes land; else why the inventory cannot be written now (plain words).
        self.away = ""
        self.fault: database_faults.DatabaseFault | None = None  # the same, as kind and detail
        # Failures in a row whose cause has no name: after a few, taken for a mistake in what
        # is written (it would fail for ever and hold up every other write), not the place.
        self._unnamed_failures = 0
        self.database_changed = Event("inventory_database_changed")  # (reason, or "" when back)

    # ----- what the inventory queues (loop thread) ------------------------------------------
    def listing(self, uri: str, listing: Any) -> None:
        self._put(uri, HostWrites(listing=listing))

    def machine(self, uri: str, uuid: str, info: MachineInfo | None) -> None:
        """The machine's latest facts; ``None``: it is gone (its row is marked missing)."""
        write = MachineWrite(info=info) if info is not None else MachineWrite(missing=True)
        self._put(uri, HostWrites(machines={uuid: write}))

    def forget(self, uri: str, uuids: list[str]) -> None:
        """Delete the rows (machines a flow made and undid, or moved away)."""
        self._put(uri, HostWrites(machines={uuid: MachineWrite(forget=True) for uuid in uuids}))

    def desired(self, uri: str, uuids: list[str], desired: str) -> None:
        self._put(uri, HostWrites(desired=dict.fromkeys(uuids, desired)))

    def policy(self, keys: list[tuple[str, str]], restore: str = "", paused: str = "") -> None:
        by_host: dict[str, dict[str, tuple[str, str]]] = {}
        for uri, uuid in keys:
            by_host.setdefault(uri, {})[uuid] = (restore, paused)
        for uri, policies in by_host.items():
            self._put(uri, HostWrites(policy=policies))

    def forget_host(self, uri: str) -> None:
        self._put(uri, HostWrites(forget_host=True))

    def holds(self, uri: str) -> bool:
        """Whether something for this host waits: a direct write now could land before it."""
        with self._lock:
            return uri in self._pending

    def waiting(self) -> int:
        """How many rows' worth waits to be written (bounded by the machines: coalesced)."""
        with self._lock:
            return sum(h.size() for h in self._pending.values())

    async def written(self) -> None:
        """Wait for the job scheduled last (it may fail: the retry writes it, ``away`` says why)."""
        if self._last is not None:
            try:
                await asyncio.wrap_future(self._last)
            except Exception:  # noqa: BLE001  (reported as ``away``, and retried)
                pass

    def _put(self, uri: str, writes: HostWrites) -> None:
        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                pass
        with self._lock:
            if uri in self._pending:
                self._pending[uri].absorb(writes)
            else:
                self._pending[uri] = writes
            if not self._scheduled and not self.away:  # while away, the retry timer writes
                self._schedule()

    def _schedule(self) -> None:  # with the lock held
        try:
            future = self._executor.submit(self.write_pending)
        except RuntimeError:  # the app is exiting: the database thread is gone
            log.warning("inventory writes not written at exit: %d",
                        sum(h.size() for h in self._pending.values()))  # the lock is held: not waiting()
            return
        self._scheduled = True
        self._last = future

    # ----- the database thread -----------------------------------------------------------
    def write_pending(self) -> None:
        """Write what is queued (on the database thread; also called directly at exit)."""
        with self._lock:
            batch, self._pending, self._scheduled = self._pending, {}, False
        if not batch:
            return
        try:
            allowed = self._gate()
        except Exception as exc:  # noqa: BLE001  (sorted below: retried, or dropped in words)
            if not database_faults.retryable(exc):
                log.error("inventory writes dropped: whether setup has run cannot be read", exc_info=exc)
                self._report(None)
                return
            self._failed(exc, batch, "checking setup")
            return
        if not allowed:
            log.debug("inventory writes dropped before setup: %d", sum(h.size() for h in batch.values()))
            self._report(None)
            return
        for uri in list(batch):
            try:
                self._write_host(uri, batch[uri])
                self._unnamed_failures = 0
            except Exception as exc:  # noqa: BLE001
                self._failed(exc, {u: w for u, w in batch.items() if not w.empty()}, uri)
                return
            del batch[uri]
        self._report(None)

    def _failed(self, exc: Exception, unwritten: dict[str, HostWrites], where: str) -> None:
        unnamed = database_faults.fault_of(exc).kind == database_faults.UNKNOWN
        self._unnamed_failures = self._unnamed_failures + 1 if unnamed else 0
        if not database_faults.retryable(exc) or self._unnamed_failures > UNNAMED_RETRIES:
            self._unnamed_failures = 0
            # A mistake in what was written, not a fault of the place: writing it again would fail
            # again. The rest of the host's writes are kept (they are independent of it).
            log.error("inventory write for %s failed; dropped", where, exc_info=exc)
            if where in unwritten:  # only that host's part failed now (others may name an older one)
                _drop_failed_part(unwritten[where])
            unwritten = {u: w for u, w in unwritten.items() if not w.empty()}
            if unwritten:
                with self._lock:
                    self._pending = merge(unwritten, self._pending)
                    if not self._scheduled and not self.away:
                        self._schedule()
            return
        with self._lock:  # in front of what was queued since: that is newer
            self._pending = merge(unwritten, self._pending)
        self._report(database_faults.fault_of(exc))

    def _write_host(self, uri: str, w: HostWrites) -> None:
        """In the module's order; each part is cleared once written, so a retry after a
        failure in the middle writes only what did not land (never a removal twice)."""
        w.failing = "forget host"
        if w.forget_host:
            store.forget_host(uri)
            w.forget_host = False
        w.failing = "forget machines"
        if w.forgets_before:
            store.forget_machines(uri, sorted(w.forgets_before))
            w.forgets_before = set()
        w.failing = "listing"
        if w.listing is not None:
            self._write_listing(uri, w.listing)
            w.listing = None
        w.failing = "machines"
        if w.machines:
            gone = sorted(uuid for uuid, m in w.machines.items() if m.forget)
            if gone:
                store.forget_machines(uri, gone)
                for uuid in gone:
                    w.machines[uuid].forget = False
            host_id = self._host_id(uri)
            if host_id is not None:
                seen = [m.info for m in w.machines.values() if m.info is not None]
                if seen:
                    store.upsert_machines(host_id, seen)
                missing = sorted(uuid for uuid, m in w.machines.items() if m.missing)
                if missing:
                    store.mark_missing(host_id, missing)
            w.machines = {}
        w.failing = "desired states"
        for value in sorted(set(w.desired.values())):
            store.set_desired(uri, [uuid for uuid, d in w.desired.items() if d == value], value)
        w.desired = {}
        w.failing = "restore policies"
        for restore, paused in sorted(set(w.policy.values())):
            store.set_restore_policy([(uri, u) for u, p in w.policy.items() if p == (restore, paused)],
                                     restore, paused)
        w.policy = {}

    # ----- away and back ------------------------------------------------------------------
    def _report(self, fault: database_faults.DatabaseFault | None) -> None:
        """From the database thread: tell the loop (state, event, and the next retry)."""
        if fault is None and self.fault is None:
            return
        if self._loop is None:
            self._set_away(fault)  # no loop (a command's database thread alone): a timer retries
            return
        if self._loop.is_closed():
            # The loop ended (exit): the state only, no event (its listeners are the window's,
            # which must not be touched from this thread) and no retry.
            self.fault = fault
            self.away = str(fault) if fault is not None else ""
            if fault is not None:
                log.warning("inventory writes not made (%s): %d waiting", fault, self.waiting())
            return
        try:
            self._loop.call_soon_threadsafe(self._set_away, fault)
        except RuntimeError:
            pass  # the loop closed meanwhile (exit)

    def _set_away(self, fault: database_faults.DatabaseFault | None) -> None:
        away = str(fault) if fault is not None else ""
        changed = away != self.away
        self.away, self.fault = away, fault
        if changed:
            if away:
                log.warning("inventory database away: %s; %d writes kept, retried every %g s",
                            away, self.waiting(), self.retry_seconds)
            else:
                log.info("inventory database back: queued writes written")
            self.database_changed.emit(away)
        if not away:
            with self._lock:  # what was put while the last retry ran waited for the retry: write it now
                if self._pending and not self._scheduled:
                    self._schedule()
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_later(self.retry_seconds, self._retry)
        else:  # no loop (a command): a timer thread schedules the retry instead
            timer = threading.Timer(self.retry_seconds, self._retry)
            timer.daemon = True
            timer.start()

    def _retry(self) -> None:
        with self._lock:
            if self._pending and not self._scheduled:
                self._schedule()
                return
            idle = not self._pending and not self._scheduled
        if idle:  # nothing to write: the next write will tell
            self._set_away(None)


def _drop_failed_part(writes: HostWrites) -> None:
    """After a write that cannot succeed: drop the part that failed (``failing``), keep the rest."""
    part = writes.failing
    if part == "forget host":
        writes.forget_host = False
    elif part == "forget machines":
        writes.forgets_before = set()
    elif part == "listing":
        writes.listing = None
    elif part == "machines":
        writes.machines = {}
    elif part == "desired states":
        writes.desired = {}
    elif part == "restore policies":
        writes.policy = {}
