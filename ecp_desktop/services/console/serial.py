"""The serial console through libvirt: ``openConsole`` on a non-blocking stream.

The open is a call to the daemon and runs on the host's worker thread (``HostConnection.call``).
Reading and writing never block: the stream's callback runs on libvirt's event loop (the
GUI thread's GLib loop in the app), takes what is there with ``recv`` and hands it on;
``send`` queues what the stream cannot take yet and waits for it to be writable.
A serial line carries no window size: the guest learns one only from ``stty``.
"""
from __future__ import annotations

import asyncio
import enum
import threading
import logging
from typing import Any

import libvirt

from ..core.aio import spawn
from ..core.errors import HypervisorError
from ..core.events import Event
from ..hosts.connection import HostConnection

log = logging.getLogger(__name__)

CHUNK = 64 * 1024          # most bytes read per recv
MAX_PENDING = 1024 * 1024  # keys queued for a guest that reads nothing: beyond this, dropped
RECHECK_AFTER = 1.0        # seconds after an end of stream before asking whether the machine runs
_EAGAIN = -2               # what libvirt-python's recv/send return on a non-blocking stream
_NO_DRIVER_SUPPORT = object()  # the host's driver has no openConsole (libvirt's test driver)
NO_DRIVER_CONSOLE = "This host's driver offers no serial console."


class ConsoleState(enum.Enum):
    IDLE = "not connected"
    CONNECTING = "connecting…"
    CONNECTED = "connected"
    NOT_RUNNING = "the machine is not running"
    HELD = "another client holds the console"
    UNAVAILABLE = "no serial console"
    HOST_DOWN = "the host is not connected"
    FAILED = "failed"


def _console_is_held(err: HypervisorError) -> bool:
    return "active console session" in err.message.lower()


class SerialConsole:
    """One machine's serial console. ``data`` emits (bytes) as they arrive; ``state_changed``
    emits (state, message); both on the loop's thread. It reconnects by itself when the
    machine starts again or its host comes back, unless the user closed it."""

    def __init__(self, host: HostConnection, uuid: str, name: str) -> None:
        self.host, self.uuid, self.name = host, uuid, name
        self.state, self.message = ConsoleState.IDLE, ""
        self.data = Event("console data")
        self.state_changed = Event("console state")
        self._stream: Any = None
        self._pending = bytearray()
        self._watching = False     # the stream's callback also waits for "writable"
        self._wanted = False       # the user wants it attached (reconnect after a restart)
        self._generation = 0       # a callback of a stream since replaced is ignored
        self._loop: asyncio.AbstractEventLoop | None = None
        host.domain_event.connect(self._on_domain_event)
        host.state_changed.connect(self._on_host_state)

    # ----- opening and closing --------------------------------------------------------------
    async def open(self, force: bool = False) -> ConsoleState:
        """Attach to the console. ``force``: take it from the client holding it (its session
        ends). Without it, a held console is refused (state HELD) and left alone."""
        self._wanted = True
        self._loop = asyncio.get_running_loop()
        self._drop_stream()
        self._generation += 1
        generation = self._generation
        if not self.host.connected:
            return self._set(ConsoleState.HOST_DOWN, self.host.reason or "not connected")
        self._set(ConsoleState.CONNECTING, "")
        flags = libvirt.VIR_DOMAIN_CONSOLE_SAFE | (libvirt.VIR_DOMAIN_CONSOLE_FORCE if force else 0)
        uuid = self.uuid

        def attach(conn: libvirt.virConnect) -> Any:  # on the host's worker thread
            dom = conn.lookupByUUIDString(uuid)
            if not dom.isActive():
                return None
            stream = conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
            try:
                dom.openConsole(None, stream, flags)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
                    raise  # a real failure: logged as one
                _abort(stream)
                return _NO_DRIVER_SUPPORT  # what the driver cannot do is no failure: not logged
            return stream
        try:
            stream = await self.host.call(attach, operation="open serial console", machine=self.name)
        except HypervisorError as err:
            if generation != self._generation:
                return self.state
            if _console_is_held(err):
                return self._set(ConsoleState.HELD, "Another client (virsh console, virt-manager or another "
                                 "operator) holds this console. Take Console ends its session.")
            if err.code == libvirt.VIR_ERR_CONFIG_UNSUPPORTED:
                return self._set(ConsoleState.UNAVAILABLE, err.message)
            if err.code == libvirt.VIR_ERR_INTERNAL_ERROR and "no console" in err.message.lower():
                return self._set(ConsoleState.UNAVAILABLE, "This machine has no serial console device.")
            return self._set(ConsoleState.FAILED, err.one_line())
        if generation != self._generation:  # closed or reopened meanwhile
            if stream is not None and stream is not _NO_DRIVER_SUPPORT:
                _abort(stream)
            return self.state
        if stream is None:
            return self._set(ConsoleState.NOT_RUNNING, "It attaches by itself when the machine starts.")
        if stream is _NO_DRIVER_SUPPORT:
            log.debug("%s: the driver of %s has no openConsole", self.name, self.host.uri)
            return self._set(ConsoleState.UNAVAILABLE, NO_DRIVER_CONSOLE)
        self._stream = stream
        self._watching = False
        loop = self._loop
        stream.eventAddCallback(self._events(), lambda *args: _tell(loop, self._on_stream, generation, *args), None)
        self._set(ConsoleState.CONNECTED, "")
        self._flush()
        return self.state

    def close(self) -> None:
        """Detach on purpose: no reconnect follows."""
        self._wanted = False
        self._generation += 1
        self._drop_stream()
        self._pending.clear()
        self._set(ConsoleState.IDLE, "")

    def dispose(self) -> None:
        """Close and stop following the host (the view is done with this machine)."""
        self.close()
        self.host.domain_event.disconnect(self._on_domain_event)
        self.host.state_changed.disconnect(self._on_host_state)

    def _drop_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.eventRemoveCallback()
            except libvirt.libvirtError:
                pass
            _abort(stream)

    # ----- writing ----------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Queue keys for the guest; sent as the stream takes them (never blocking)."""
        if self._stream is None:
            return
        room = MAX_PENDING - len(self._pending)
        self._pending += data[:max(room, 0)]
        self._flush()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _flush(self) -> None:
        stream = self._stream
        while stream is not None and self._pending:
            try:
                sent = stream.send(bytes(self._pending[:CHUNK]))
            except libvirt.libvirtError as exc:
                self._ended(f"sending failed: {exc.get_error_message() or exc}")
                return
            if sent == _EAGAIN or sent is None:
                break
            del self._pending[:sent]
        want = bool(self._pending) and stream is not None
        if stream is not None and want != self._watching:
            self._watching = want
            try:
                stream.eventUpdateCallback(self._events())
            except libvirt.libvirtError:
                pass

    def _events(self) -> int:
        events = (libvirt.VIR_STREAM_EVENT_READABLE | libvirt.VIR_STREAM_EVENT_ERROR
                  | libvirt.VIR_STREAM_EVENT_HANGUP)
        return events | (libvirt.VIR_STREAM_EVENT_WRITABLE if self._watching else 0)

    # ----- reading (on the loop's thread, handed over by _tell) --------------------------------
    def _on_stream(self, generation: int, _stream: Any, events: int, _opaque: Any) -> None:
        if generation != self._generation or self._stream is None:
            return
        if events & libvirt.VIR_STREAM_EVENT_READABLE and not self._read():
            return
        if events & libvirt.VIR_STREAM_EVENT_WRITABLE:
            self._flush()
        if events & (libvirt.VIR_STREAM_EVENT_ERROR | libvirt.VIR_STREAM_EVENT_HANGUP) and self._stream is not None:
            self._ended("the console was closed")

    def _read(self) -> bool:
        """Take what the stream holds now. False when the stream has ended."""
        received = bytearray()
        while self._stream is not None and len(received) < 4 * CHUNK:
            try:
                chunk = self._stream.recv(CHUNK)
            except libvirt.libvirtError as exc:
                self._deliver(received)
                self._ended(exc.get_error_message() or str(exc))
                return False
            if chunk == _EAGAIN or isinstance(chunk, int):
                break
            if not chunk:  # end of stream
                self._deliver(received)
                self._ended("the console was closed")
                return False
            received += chunk
        self._deliver(received)
        return True

    def _deliver(self, received: bytearray) -> None:
        if received:
            self.data.emit(bytes(received))

    def _ended(self, why: str) -> None:
        """The stream ended under us: the machine stopped, another client took the console,
        or the host went away. Which one decides the state (and whether it comes back)."""
        self._drop_stream()
        self._generation += 1
        if self.state is ConsoleState.CONNECTED:
            self._set(ConsoleState.CONNECTING, why)
        if self._wanted:
            spawn(self._after_end(self._generation, why))

    async def _after_end(self, generation: int, why: str) -> None:
        await asyncio.sleep(RECHECK_AFTER)  # a stop's lifecycle event comes with or soon after the end
        if generation != self._generation or not self._wanted:
            return
        if not self.host.connected:
            self._set(ConsoleState.HOST_DOWN, self.host.reason or why)
            return
        uuid = self.uuid
        try:
            active = await self.host.call(lambda conn: bool(conn.lookupByUUIDString(uuid).isActive()),
                                          operation="check machine", machine=self.name)
        except HypervisorError as err:
            active, why = False, err.one_line()
        if generation != self._generation:
            return
        if active:
            self._set(ConsoleState.HELD, "The console was closed while the machine runs: another client "
                      "probably took it. Take Console takes it back.")
        else:
            self._set(ConsoleState.NOT_RUNNING, "It attaches again by itself when the machine starts.")

    # ----- following the machine and its host --------------------------------------------------
    def _on_domain_event(self, _host: Any, uuid: str, event: int, _detail: int) -> None:
        if uuid != self.uuid or not self._wanted:
            return
        if event == libvirt.VIR_DOMAIN_EVENT_STARTED and self._stream is None:
            spawn(self.open())
        elif event in (libvirt.VIR_DOMAIN_EVENT_STOPPED, libvirt.VIR_DOMAIN_EVENT_CRASHED):
            self._drop_stream()
            self._generation += 1
            self._set(ConsoleState.NOT_RUNNING, "It attaches again by itself when the machine starts.")

    def _on_host_state(self, host: HostConnection) -> None:
        if not self._wanted:
            return
        if host.connected and self._stream is None and self.state is ConsoleState.HOST_DOWN:
            spawn(self.open())
        elif not host.connected and self.state is not ConsoleState.HOST_DOWN:
            self._drop_stream()
            self._generation += 1
            self._set(ConsoleState.HOST_DOWN, host.reason or "not connected")

    def _set(self, state: ConsoleState, message: str) -> ConsoleState:
        self.state, self.message = state, message
        self.state_changed.emit(state, message)
        return state


def _abort(stream: Any) -> None:
    """End ``stream`` off the calling thread: on a remote connection libvirt waits for the
    host to confirm an abort, a round trip on a far host and until keepalive gives up on a
    hung one; the GUI thread must not wait (a daemon thread: it never holds up the exit)."""
    def abort() -> None:
        try:
            stream.abort()
        except libvirt.libvirtError:
            pass
    threading.Thread(target=abort, name="console-abort", daemon=True).start()


def _tell(loop: asyncio.AbstractEventLoop | None, callback: Any, *args: Any) -> None:
    """Hand a stream callback to the loop's thread (it already is, with the GLib loop; with
    the fallback event thread it is not). After the loop's end nobody is left to tell."""
    if loop is None:
        return
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        pass
