"""What the setup wizard's pages share: the wizard's choices so far, its worker threads and
the bridge back to the GUI thread. Pages depend on this, never on the wizard itself, so the
wizard can import its pages without a circle."""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QVBoxLayout, QWizardPage

from ecp_desktop.models.db import DatabaseUrlError
from ecp_desktop.services.hosts.opening import SharedConnections
from ecp_desktop.services.setup.steps import SetupOptions


class WizardContext(QObject):
    """``setup_finished(report)`` is emitted when the run ends (None if it could not start).

    ``chosen_database``, ``chosen_connections`` and ``options`` answer from the pages; the
    wizard sets them once its pages exist. ``connections``: what the probes opened, kept for the
    preview and the setup run, so that each host is opened once; the run closes them when it
    ends, and closing the wizard does (off the GUI thread) when it never ran.
    """

    setup_finished = Signal(object)
    post = Signal(object)  # a callable posted from a worker thread, run on the GUI thread

    def __init__(self, *, database_url: str, database_locked: bool, typed_connections: list[str],
                 configured: list[str], probe_timeout: float, parent: QObject) -> None:
        super().__init__(parent)
        self.database_url = database_url
        self.database_locked = database_locked
        self.typed_connections = list(typed_connections)
        self.configured = set(configured)
        self.probe_timeout = probe_timeout
        self.chosen_database: Callable[[], str] = lambda: database_url
        self.chosen_connections: Callable[[], list[str]] = list
        self.options: Callable[[], SetupOptions] = SetupOptions
        self.connections = SharedConnections()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="setup")
        self._shut = False
        self.post.connect(self._run_posted, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def _run_posted(self, fn: Callable[[], None]) -> None:
        fn()

    def in_worker(self, fn: Callable, on_done: Callable[[object, BaseException | None], None]) -> None:
        """Run ``fn`` on a worker; ``on_done(result, error)`` runs on the GUI thread. Nothing
        once the wizard has closed (a start deferred to the next turn of the event loop)."""
        if self._shut:
            return
        post = self.post.emit

        def run() -> None:
            try:
                result = fn()
            except (Exception, DatabaseUrlError) as exc:  # shown on the page, in words
                post(partial(on_done, None, exc))
            else:
                post(partial(on_done, result, None))
        self._pool.submit(run)

    def shutdown(self) -> None:
        self._shut = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        # A remote close is a message to the host: never on the GUI thread. A preview or a run
        # still reading holds the connections; the last of them closes them.
        threading.Thread(target=self.connections.close, name="setup-close", daemon=True).start()


class WizardPage(QWizardPage):
    """A page with a title, a subtitle, a vertical layout and the shared context."""

    def __init__(self, context: WizardContext, title: str, subtitle: str) -> None:
        super().__init__()
        self.setup = context
        self.setTitle(title)
        self.setSubTitle(subtitle)
        self.layout_ = QVBoxLayout(self)
