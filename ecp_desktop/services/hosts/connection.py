"""One libvirt connection: open, facts, events, keepalive and reconnect with backoff.

Each host stands alone: its open runs on a thread of its own, within a time limit, after a
cheap check that its daemon is there (reachability); nothing it does waits on another host."""
from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import libvirt

from ..core.aio import spawn
from ..core.errors import HypervisorError, logged
from ..core.executors import Executors
from .facts import HostFacts
from .lease import Lease, Registration, releasing
from .libvirt_loop import register_event_impl
from .opening import open_for_use
from .reachability import check_reachable, daemon_address
from .reconnect import OPENS_LEFT_RUNNING_PER_HOST, RetrySchedule, TransitionLog, open_time_limit
from ..core.events import Event
from .uri import display_name

log = logging.getLogger(__name__)
T = TypeVar("T")

CALLS_PER_HOST = 4  # calls in flight on one host; each has a thread of its own
# Connection generations, unique in the process: a callback registered by an open that was
# abandoned (past its limit) or superseded carries one no host holds, and is ignored.
_GENERATIONS = itertools.count(1)


class HostState(enum.Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    RECONNECTING = "reconnecting"


CLOSE_REASONS = {
    libvirt.VIR_CONNECT_CLOSE_REASON_ERROR: "connection error",
    libvirt.VIR_CONNECT_CLOSE_REASON_EOF: "the daemon closed the connection",
    libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE: "no answer to keepalive (host hung or unreachable)",
    libvirt.VIR_CONNECT_CLOSE_REASON_CLIENT: "closed by the client",
}


def not_connected(uri: str, why: str, *, label: str = "", operation: str = "", machine: str = "") -> HypervisorError:
    """The one error for "that host cannot be used now", wherever it is noticed: one code
    (INVALID_CONN), so the user reads one summary and one remedy for one condition. Logged
    like libvirt's own errors."""
    return logged(HypervisorError(f"{label or uri} is not connected ({why})", code=libvirt.VIR_ERR_INVALID_CONN,
                                  domain=libvirt.VIR_FROM_NONE, operation=operation, machine=machine, host_uri=uri))


def connected_host(host: HostConnection | None, uri: str, *, operation: str, machine: str = "") -> HostConnection:
    """``host`` when it is connected; else the one "not connected" error."""
    if host is None:
        raise not_connected(uri, "not configured in this session", operation=operation, machine=machine)
    if not host.connected:
        raise not_connected(uri, host.reason or host.state.value, label=host.label, operation=operation,
                            machine=machine)
    return host


def _tell(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    """Hand a libvirt callback (on libvirt's event thread) to the loop; after the loop's end
    (the app exiting) nobody is left to tell, and raising into libvirt would print a traceback."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        pass


class HostConnection:
    """A configured host and its live connection. All events are emitted on the loop thread."""

    def __init__(self, uri: str, executors: Executors, *, label: str = "", is_demo: bool = False,
                 keepalive: bool = True, events: bool = True, reconnect: bool = True,
                 open_timeout: float | None = None, call_timeout: float | None = None) -> None:
        """``open_timeout``: seconds an open may take (None: ``reconnect.open_time_limit()``,
        15 s unless ECP_DESKTOP_OPEN_TIMEOUT says otherwise; 0 there: no limit).
        ``call_timeout``: seconds a call may take (None: as long as it takes; keepalive still
        notices a dead peer on an open connection). A thread left inside libvirt past its
        limit is abandoned, never joined."""
        self.uri = uri
        self.label = label or display_name(uri)
        self.is_demo = is_demo
        self.state = HostState.DISCONNECTED
        self.reason = ""
        self.facts = HostFacts()
        self.last_error: HypervisorError | None = None
        self.events_error = ""
        self._reconnect = reconnect
        self.state_changed = Event("state_changed")      # (host)
        self.domain_event = Event("domain_event")        # (host, uuid, event, detail)
        self.agent_event = Event("agent_event")          # (host, uuid): a guest agent came or went
        self.storage_event = Event("storage_event")      # (host, pool name): defined, started, stopped, gone...
        self.network_event = Event("network_event")      # (host, network name): the same for a network
        self._executors = executors
        self._use_keepalive = keepalive
        self._use_events = events
        if keepalive or events:
            register_event_impl()  # libvirt needs it before the open; idempotent
        self._lease: Lease | None = None
        self._callback_ids: list[Registration] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._attempt = 0
        self._closing = False
        self._attempt_in_flight: asyncio.Future[bool] | None = None
        self._generation = 0  # the connection's (_GENERATIONS); callbacks of any other are ignored
        self._open_timeout = open_timeout or open_time_limit()
        self._call_timeout = call_timeout
        self._address = daemon_address(uri)  # where its daemon listens, when that is certain
        self._retries = RetrySchedule(self._address, self._retry)
        self._opens_left_running: set[Any] = set()  # opens past their limit, still in libvirt
        self._transitions = TransitionLog(self.label, uri)

    # ----- state -------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.state is HostState.CONNECTED

    @property
    def closed_on_purpose(self) -> bool:
        """Disconnected by the user (``close``): nothing reconnects it by itself."""
        return self._closing

    def _set_state(self, state: HostState, reason: str = "") -> None:
        self.state, self.reason = state, reason
        self.state_changed.emit(self)

    # ----- opening and closing ------------------------------------------------------------
    async def connect(self) -> bool:
        """Open the connection; on failure record why and schedule a retry. True if connected.

        Idempotent: connected already is success, and concurrent callers (a retry timer and
        a click) share the one attempt in flight instead of opening two connections.
        """
        if self._lease is not None:
            return True
        if self._attempt_in_flight is None:
            self._attempt_in_flight = asyncio.ensure_future(self._connect_once())
            self._attempt_in_flight.add_done_callback(lambda _f: setattr(self, "_attempt_in_flight", None))
        return await asyncio.shield(self._attempt_in_flight)

    async def _connect_once(self) -> bool:
        self._loop = asyncio.get_running_loop()
        self._slots = self._slots or asyncio.Semaphore(CALLS_PER_HOST)
        self._closing = False
        self._cancel_retry()
        self._transitions.connecting(first=self._attempt == 0)
        self._set_state(HostState.CONNECTING if self._attempt == 0 else HostState.RECONNECTING, self.reason)
        started = time.monotonic()
        generation = next(_GENERATIONS)
        try:
            conn, facts, callback_ids = await self._open_in_time(generation)
        except HypervisorError as err:
            if self._closing:
                return False
            self.last_error = err
            self._went_down(err.one_line())
            return False
        if self._closing:  # closed while opening
            self._release_later(releasing(conn, callback_ids))
            return False
        self._lease, self.facts, self._attempt, self.last_error = Lease(conn), facts, 0, None
        self._callback_ids, self._generation = callback_ids, generation
        self._transitions.connected(time.monotonic() - started)
        self._set_state(HostState.CONNECTED)
        return True

    async def _open_in_time(self, generation: int) -> tuple[libvirt.virConnect, HostFacts, list[int]]:
        """The open and the callbacks' registration (calls to the daemon: never on the loop's
        thread, where 100 hosts' registrations stalled the GUI for seconds), within the time
        limit, on a thread of its own. A TCP daemon is checked first (that check ends within the
        limit by itself), so a host that drops packets never leaves a thread inside libvirt's
        uncancellable open."""
        limit = self._open_timeout
        deadline = None if limit is None else time.monotonic() + limit
        if self._address is not None and not self._address.is_local:
            await asyncio.wrap_future(self._executors.connect.submit(check_reachable, self.uri, self._address, limit))
        if len(self._opens_left_running) >= OPENS_LEFT_RUNNING_PER_HOST:
            raise self._no_answer("connect", limit, why="earlier connects are still waiting for it")
        opening = self._executors.connect.submit(self._open_and_register, generation)
        try:
            left = None if deadline is None else max(1.0, deadline - time.monotonic())
            return await asyncio.wait_for(asyncio.wrap_future(opening), left)
        except asyncio.TimeoutError:
            # Still inside libvirt: counted until it ends; a connection it opens late is closed.
            self._opens_left_running.add(opening)

            def ended(f) -> None:  # on the worker thread; a set's discard is atomic
                self._opens_left_running.discard(f)
                if not f.cancelled() and f.exception() is None:
                    conn, _facts, callback_ids = f.result()
                    releasing(conn, callback_ids)()
            opening.add_done_callback(ended)
            raise self._no_answer("connect", limit) from None

    def _no_answer(self, operation: str, seconds: float | None, machine: str = "", why: str = "") -> HypervisorError:
        message = f"{self.label} did not answer within {seconds:g} s" + (f" ({why})" if why else "")
        return logged(HypervisorError(message, domain=libvirt.VIR_FROM_RPC, code=libvirt.VIR_ERR_OPERATION_TIMEOUT,
                                      operation=operation, machine=machine, host_uri=self.uri))

    def _open_and_register(self, generation: int) -> tuple[libvirt.virConnect, HostFacts, list[int]]:
        conn, facts = open_for_use(self.uri, keepalive=self._use_keepalive)  # on a worker thread
        return conn, facts, self._register_callbacks(conn, generation)

    def _register_callbacks(self, conn: libvirt.virConnect, generation: int) -> list[Registration]:
        """On a worker thread. The event callbacks' registrations (the close callback has none)."""
        loop = self._loop
        assert loop is not None
        if self._use_keepalive:
            def on_close(_conn: Any, reason: int, _opaque: Any) -> None:
                _tell(loop, self._on_closed, generation, reason)
            try:
                conn.registerCloseCallback(on_close, None)
            except libvirt.libvirtError:
                log.debug("no close callback on %s", self.uri)
        if not self._use_events:
            return []
        return self._register_domain_events(conn, generation) + self._register_object_events(conn, generation)

    def _register_object_events(self, conn: libvirt.virConnect, generation: int) -> list[Registration]:
        """Pools' lifecycle and refresh events and networks' lifecycle events: the Storage and
        Networks views read again on them (without them, those views read on opening and after
        their own changes only)."""
        loop = self._loop
        assert loop is not None

        def on_pool(_conn: Any, pool: libvirt.virStoragePool, _event: int, _detail: int, _opaque: Any) -> None:
            _tell(loop, self._on_object_event, generation, self.storage_event, pool.name())

        def on_refresh(_conn: Any, pool: libvirt.virStoragePool, _opaque: Any) -> None:
            _tell(loop, self._on_object_event, generation, self.storage_event, pool.name())

        def on_network(_conn: Any, network: libvirt.virNetwork, _event: int, _detail: int, _opaque: Any) -> None:
            _tell(loop, self._on_object_event, generation, self.network_event, network.name())
        ids: list[Registration] = []
        for kind, register, event_id, callback in (
                ("pool", conn.storagePoolEventRegisterAny, libvirt.VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE, on_pool),
                ("pool", conn.storagePoolEventRegisterAny, libvirt.VIR_STORAGE_POOL_EVENT_ID_REFRESH, on_refresh),
                ("network", conn.networkEventRegisterAny, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE, on_network)):
            try:
                ids.append((kind, register(None, event_id, callback, None)))
            except libvirt.libvirtError as exc:
                log.debug("no %s events from %s: %s", kind, self.uri, exc)
        return ids

    def _on_object_event(self, generation: int, event: Event, name: str) -> None:
        if generation == self._generation and self.connected:
            event.emit(self, name)

    def _register_domain_events(self, conn: libvirt.virConnect, generation: int) -> list[Registration]:
        loop = self._loop
        assert loop is not None

        def on_lifecycle(_conn: Any, dom: libvirt.virDomain, event: int, detail: int, _opaque: Any) -> None:
            _tell(loop, self._on_domain_event, generation, dom.UUIDString(), event, detail)
        def on_agent(_conn: Any, dom: libvirt.virDomain, _state: int, _reason: int, _opaque: Any) -> None:
            _tell(loop, self._on_agent_event, generation, dom.UUIDString())
        try:
            ids = [("domain", conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_lifecycle,
                                                          None))]
        except libvirt.libvirtError as exc:
            # Still usable, only without live updates; say so rather than fail the connection.
            self.events_error = str(exc)
            log.warning("no live events from %s: %s", self.uri, exc)
            return []
        try:
            ids.append(("domain", conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_AGENT_LIFECYCLE,
                                                              on_agent, None)))
        except libvirt.libvirtError as exc:  # addresses are then read on the interval only
            log.debug("no guest agent events from %s: %s", self.uri, exc)
        return ids

    def _on_agent_event(self, generation: int, uuid: str) -> None:
        if generation == self._generation and self.connected:
            self.agent_event.emit(self, uuid)

    def _on_domain_event(self, generation: int, uuid: str, event: int, detail: int) -> None:
        if generation == self._generation and self.connected:
            self.domain_event.emit(self, uuid, event, detail)

    def _on_closed(self, generation: int, reason: int) -> None:
        if generation != self._generation or self._closing:
            return
        self._went_down(CLOSE_REASONS.get(reason, f"closed (reason {reason})"))

    def keep_closed(self, reason: str) -> None:
        """Listed but not to be connected (e.g. not approved on this workstation): say why."""
        self._cancel_retry()
        self._set_state(HostState.DISCONNECTED, reason)

    def lost(self, reason: str) -> None:
        """A call found the connection dead before the close callback did."""
        if self.connected and not self._closing:
            self._went_down(reason)

    def _went_down(self, reason: str) -> None:
        """The one way a host goes down: release its connection (if it had one), schedule
        the retry, then announce the state, so views see the countdown with it."""
        was_connected = self._lease is not None
        self._release_later(self._drop_connection())
        self._attempt += 1
        self._schedule_retry()
        self._transitions.down(reason, was_connected, self._retries.describe())
        self._set_state(HostState.DISCONNECTED, reason)

    def _drop_connection(self) -> Callable[[], None] | None:
        """Forget the connection now. Returns the blocking release to run in a worker, or
        None when calls still use it (the last of them hands the release to a worker)."""
        lease, self._lease, ids, self._callback_ids = self._lease, None, self._callback_ids, []
        self._generation = next(_GENERATIONS)
        if lease is None:
            return None
        release = releasing(lease.conn, ids)
        if lease.users:
            lease.release = release
            return None
        return release

    def _release_later(self, release: Callable[[], None] | None) -> None:
        if release is not None:
            try:
                self._executors.connect.submit(release)
            except RuntimeError:
                pass  # the app is exiting: the process end closes the socket

    @property
    def next_attempt_at(self) -> float | None:
        """When the next timed try starts (time.monotonic()), None when none is scheduled."""
        return self._retries.next_attempt_at

    @property
    def watching_daemon(self) -> bool:
        """Down, and its local daemon's socket is watched: it is tried the moment it is back."""
        return self._retries.watching_daemon

    def _schedule_retry(self) -> None:
        if not (self._closing or self._loop is None or not self._reconnect):
            self._retries.start(self._loop, self._attempt)

    def _retry(self, daemon_back: bool = False) -> None:
        if daemon_back:
            self._attempt = 1  # if it is not ready yet, the next try is soon (backoff from 1 s)
        spawn(self.connect())

    def _cancel_retry(self) -> None:
        self._retries.cancel()

    async def close(self) -> None:
        """Disconnect on purpose: no reconnect follows."""
        self._closing = True
        self._cancel_retry()
        had = self._lease is not None
        release = self._drop_connection()
        if release is not None and self._loop is not None:
            # Awaited, not queued: a queued release could be cancelled by an exiting pool.
            await self._loop.run_in_executor(self._executors.connect, release)
        if had or self.state is not HostState.DISCONNECTED:
            self._transitions.closed("disconnected by the user")
            self._set_state(HostState.DISCONNECTED, "disconnected by the user")

    def close_now(self) -> None:
        """Close at exit without waiting (no reconnect): the release runs on a thread of its
        own (a remote close waits for the host's answer), abandoned if the host never gives
        one. A connection still in use by a call is left to that call's end, or to the process end."""
        self._closing = True
        self._cancel_retry()
        self._release_later(self._drop_connection())

    # ----- calls --------------------------------------------------------------------------
    async def call(self, fn: Callable[[libvirt.virConnect], T], *, operation: str = "", machine: str = "",
                   unbounded: bool = False) -> T:
        """Run ``fn(conn)`` on a worker thread; libvirt errors become HypervisorError.
        ``unbounded``: no call time limit (a transfer of many gigabytes; keepalive still finds
        a dead host).

        A failure leaves with no link to libvirt's exception or to any frame that held the
        connection or a domain: such an object kept in a reference cycle lives until the
        interpreter's exit, and freeing it there sends a close to a host that may be gone
        (the process then waits minutes for TCP to give up)."""
        lease = self._lease
        if lease is None or self._loop is None or self._slots is None:
            raise not_connected(self.uri, self.reason or self.state.value, label=self.label, operation=operation,
                                machine=machine)
        lease.users += 1
        try:
            return await self._call_on(lease, fn, operation, machine, unbounded)
        except HypervisorError as err:
            if err.code == libvirt.VIR_ERR_INVALID_CONN or "client socket is closed" in err.message:
                self.lost(err.message)
            traceback.clear_frames(err.__traceback__)  # the finished frames let go of conn and domains
            failure = err
        finally:
            self._done_with(lease)
            lease = None
        raise failure.with_traceback(None)

    async def _call_on(self, lease: Lease, fn: Callable[[libvirt.virConnect], T], operation: str,
                       machine: str, unbounded: bool = False) -> T:
        conn = lease.conn

        def run() -> T:
            try:
                return fn(conn)
            except libvirt.libvirtError as exc:  # logged, with the host's versions
                error = HypervisorError.from_libvirt(exc, operation=operation, machine=machine, host_uri=self.uri)
            raise error  # outside the except block: no link to libvirt's exception and its frames

        async with self._slots:
            calling = self._loop.run_in_executor(self._executors.calls, run)
            if not self._call_timeout or unbounded:
                return await calling
            try:
                return await asyncio.wait_for(asyncio.shield(calling), self._call_timeout)
            except asyncio.TimeoutError:
                # The call is still inside libvirt on its thread: the connection must stay
                # open under it (freeing it would crash the process), so the lease is kept.
                lease.users += 1
                error = self._no_answer(operation, self._call_timeout, machine)
                self.lost(error.message)
                raise error from None

    async def call_with(self, other: HostConnection, fn: Callable[[libvirt.virConnect, libvirt.virConnect], T],
                        *, operation: str = "", machine: str = "") -> T:
        """Run ``fn(conn, other_conn)`` as one of this host's calls (a managed migration needs both)."""
        lease = other._lease
        if lease is None:
            raise not_connected(other.uri, other.reason or other.state.value, label=other.label,
                                operation=operation, machine=machine)
        lease.users += 1
        try:
            return await self.call(lambda conn: fn(conn, lease.conn), operation=operation, machine=machine)
        finally:
            other._done_with(lease)

    def _done_with(self, lease: Lease) -> None:
        lease.users -= 1
        if lease.users == 0 and lease.release is not None:
            release, lease.release = lease.release, None
            self._release_later(release)
