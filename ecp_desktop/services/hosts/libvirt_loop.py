"""Process-wide libvirt set-up: the event implementation.

libvirt needs an event implementation registered before any connection opens
(keepalive, close callbacks and domain events run through it). libvirt 9's
default implementation is GLib-based; PySide6 runs the same GLib main context on
its GUI thread, so events need no extra thread there. Where nothing iterates
GLib (QT_NO_GLIB, or a plain asyncio program), :func:`start_event_thread` runs
the loop on a daemon thread instead. Callbacks are always handed to the asyncio
loop with ``call_soon_threadsafe``, so it does not matter which one runs them.
"""
from __future__ import annotations

import threading

import libvirt

from ..core.errors import install_quiet_error_handler

_registered = False
_thread: threading.Thread | None = None


def register_event_impl() -> None:
    """Register libvirt's default event implementation once per process."""
    global _registered
    if not _registered:
        install_quiet_error_handler()
        libvirt.virEventRegisterDefaultImpl()
        _registered = True


def start_event_thread() -> None:
    """Fallback: iterate libvirt's event loop on a daemon thread."""
    global _thread
    register_event_impl()
    if _thread is None:
        def run() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()
        _thread = threading.Thread(target=run, name="libvirt-events", daemon=True)
        _thread.start()
