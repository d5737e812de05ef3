"""The Qt process around the window: the application object, signals that close it
cleanly, uncaught errors routed to the log and the crash dialog, libvirt's event delivery
on Qt's loop, and the heap settled after start-up."""
from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import sys

import libvirt
from PySide6.QtCore import QSocketNotifier, Qt, QTimer
from PySide6.QtWidgets import QApplication

from ... import APP_ID, APP_NAME, __version__
from ...services.hosts.libvirt_loop import start_event_thread

log = logging.getLogger(__name__)


def ensure_event_delivery() -> None:
    """libvirt's GLib loop normally runs on Qt's GLib dispatcher; if a probe timer does not
    fire (e.g. QT_NO_GLIB=1), iterate it on a thread instead."""
    fired: list[bool] = []

    def on_timeout(timer: int, _opaque) -> None:
        fired.append(True)
        libvirt.virEventRemoveTimeout(timer)

    libvirt.virEventAddTimeout(0, on_timeout, None)

    def check() -> None:
        if not fired:
            log.warning("Qt does not drive libvirt's event loop here; using an event thread")
            start_event_thread()

    QTimer.singleShot(500, check)


def make_qt_app(argv: list[str]) -> QApplication:
    # Worker threads (listing domains, writing their rows) run Python too: a 1 ms switch
    # interval hands the interpreter lock back to the GUI thread sooner than the default
    # 5 ms (bench/responsiveness.py: the longest GUI gap while loading).
    sys.setswitchinterval(0.001)
    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName("ECP")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)
    return app


def quit_on_signals(app: QApplication) -> None:
    """Ctrl+C or SIGTERM closes the window normally (layout saved, connections closed).

    Python runs signal handlers only when the interpreter gets control; the wake-up fd
    makes Qt hand it control at once, with no polling timer.
    """
    read_fd, write_fd = socket.socketpair()
    read_fd.setblocking(False)
    write_fd.setblocking(False)
    signal.set_wakeup_fd(write_fd.fileno())
    notifier = QSocketNotifier(read_fd.fileno(), QSocketNotifier.Type.Read, app)

    def drain() -> None:
        try:
            read_fd.recv(64)
        except OSError:
            pass

    notifier.activated.connect(drain)
    app._signal_sockets = (read_fd, write_fd, notifier)  # keep them alive with the app

    def close_all(_signum, _frame) -> None:
        for window in app.topLevelWidgets():
            window.close()
        app.quit()

    signal.signal(signal.SIGINT, close_all)
    signal.signal(signal.SIGTERM, close_all)


def log_unexpected(loop: asyncio.AbstractEventLoop, log_path=None) -> None:
    """Route uncaught exceptions (Qt slots and asyncio tasks) to the log and a crash
    dialog; never a silent failure, never a bare traceback."""
    def show(exc: BaseException) -> None:
        from .error_dialog import CrashDialog
        dialog = CrashDialog(exc, log_path=log_path, parent=QApplication.activeWindow())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def excepthook(kind, value, tb) -> None:
        log.critical("unexpected error", exc_info=(kind, value, tb))
        if isinstance(value, Exception):
            show(value)

    def loop_handler(_loop, context) -> None:
        exc = context.get("exception")
        log.error("unexpected error in a background task: %s", context.get("message"), exc_info=exc)
        if isinstance(exc, Exception):
            show(exc)

    sys.excepthook = excepthook
    loop.set_exception_handler(loop_handler)


def settle_heap() -> None:
    """Move what start-up created (modules, Qt wrappers: hundreds of thousands of objects
    that live as long as the app) out of the garbage collector's sight. A full collection
    holds the interpreter lock, and re-scanning them all stalls the GUI thread whenever a
    worker allocates a lot, as an import does (bench/import_domains.py)."""
    gc.collect()
    gc.freeze()
