"""What Host → Storage… and Host → Networks… share: a dialog over one host's objects read
through a service (``read(uri)``, ``last_known``, ``changes(uri)``, ``host_state(uri)``).

It reads on opening, after each change it runs, and when libvirt says the objects changed or
the host came or went; the window never waits (each read and change runs on the loop, the
host's calls on its worker). A host that does not answer leaves its last known objects on
screen, greyed and dated, with every change disabled (``stale``). One change runs at a time
(``busy``); its outcome, or the refusal, is said in the status line."""
from __future__ import annotations

import asyncio

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QSplitter, QVBoxLayout, QWidget

from ...services.core.aio import spawn
from ...services.core.errors import HypervisorError, Refusal
from ...services.tasks.records import SUCCEEDED, TaskRecord
from .follow import read_again_on
from .plain import problem_style, last_known_words, plain_label


class HostObjectsDialog(QDialog):
    def __init__(self, parent: QWidget | None, service, host_uri: str, what: str) -> None:
        """``what``: the objects in words ("storage", "networks"), for "The storage cannot be read"."""
        super().__init__(parent)
        self.service, self.uri, self.what = service, host_uri, what
        self.stale = False  # the host does not answer: its last known objects are shown, greyed
        self.status = plain_label(wrap=True)  # what runs, what happened, what was refused
        self.loading: asyncio.Task | None = None
        self.running: asyncio.Task | None = None
        self.form = None  # the form or question open now (tests fill it)
        self._closed = False
        self.finished.connect(self._on_finished)

    def arrange(self, top: QWidget, bottom: QWidget) -> None:
        """The dialog's layout: ``top`` over ``bottom`` (a splitter), the status line, Close."""
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        box = QVBoxLayout(self)
        box.addWidget(splitter)
        box.addWidget(self.status)
        box.addWidget(close)

    def follow_host(self) -> None:
        """Read again when libvirt says the objects changed (anyone's change) or the host came
        or went (then: its last known objects). Call once the views exist."""
        for event in (self.service.changes(self.uri), self.service.host_state(self.uri)):
            if event is not None:
                read_again_on(event, self, self._read_if_idle)

    # ----- reading ---------------------------------------------------------------------------
    def reload(self) -> None:
        self.loading = spawn(self._load())

    async def _load(self) -> None:
        try:
            rows = await self.service.read(self.uri)
            if self.stale and not self._closed:
                self.say("")
            self.stale = False
        except HypervisorError as err:
            last = self.service.last_known.of(self.uri)
            if self._closed:
                return
            if last is None:
                self.say(f"The {self.what} cannot be read: {err.one_line()}", error=True)
                return
            rows, when = last
            self.stale = True
            self.say(last_known_words(when, err.one_line()), error=True)
        if not self._closed:
            self.show_rows(rows)

    def show_rows(self, rows: list) -> None:
        """Put a reading on screen, keeping the user's selection where it still is."""
        raise NotImplementedError

    def _read_if_idle(self) -> None:
        """(A change of this dialog's own reads again when it ends.)"""
        if not self._closed and not self.changing():
            self.reload()

    # ----- changing --------------------------------------------------------------------------
    def changing(self) -> bool:
        return self.running is not None and not self.running.done()

    def busy(self) -> bool:
        """No change can start: one runs, or the host does not answer."""
        return self.stale or self.changing()

    def enable(self, *_args) -> None:
        """Enable what the selection and ``busy()`` allow."""
        raise NotImplementedError

    def run(self, change) -> None:
        """Run ``change`` (a coroutine making one task); say what happened; read again."""
        self.running = spawn(self._running(change))
        self.enable()

    async def _running(self, change) -> None:
        self.say("Working…")
        try:
            record: TaskRecord = await change
        except Refusal as refusal:
            self.say(str(refusal), error=True)
        except HypervisorError as err:
            self.say(err.one_line(), error=True)
        else:
            ok = record.status == SUCCEEDED
            self.say(f"{record.title}: {record.outcome if ok else record.error_message or record.outcome}",
                     error=not ok)
        self.change_ended()
        if not self._closed:
            await self._load()
            self.enable()

    def change_ended(self) -> None:
        """After a change, before the lists are read again."""

    def say(self, text: str, *, error: bool = False) -> None:
        if not self._closed:
            self.status.setText(text)
            self.status.setStyleSheet(problem_style() if error else "")

    def closed(self) -> bool:
        return self._closed

    def _on_finished(self, _result: int) -> None:
        self._closed = True  # answers still running change no widget
