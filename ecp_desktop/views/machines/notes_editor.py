"""The Notes tab: an operator's notes on the selected machine, shared through the inventory.

A save is made against the version that was read; if someone else saved first, it is
refused and their text is shown beside ours, which stays in the editor: saving again
then replaces theirs on purpose.
"""
from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from ...services.core.aio import spawn
from ...services.inventory.notes import NotesNotSaved, StaleEdit, UnknownMachine
from ...services.inventory.machines import MachineInfo
from ..common.palette_colours import FAILURE, tone
from ..common.plain import esc, rich_label


class NotesEditor(QWidget):
    def __init__(self, inventory, parent=None) -> None:
        super().__init__(parent)
        self._inventory = inventory
        self._machine: MachineInfo | None = None
        self._version: int | None = None
        self._request = 0
        self.editor = QPlainTextEdit()
        self.editor.setPlaceholderText("Notes for everyone who manages this machine (owner, purpose, "
                                       "do not stop before …)")
        self.save_button = QPushButton("Save Notes")
        self.status = rich_label(wrap=True)  # someone else's notes in it are escaped: see _store
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.editor, 1)
        layout.addLayout(row)
        self.save_button.clicked.connect(self._save)
        self.show_machine(None)

    def show_machine(self, machine: MachineInfo | None) -> None:
        if machine is not None and self._machine is not None and machine.key == self._machine.key:
            return  # the same machine, refreshed: keep what is being typed
        self._machine, self._version = machine, None
        self._request += 1
        self.editor.setPlainText("")
        self.editor.setEnabled(False)
        self.save_button.setEnabled(False)
        if machine is None:
            self.status.setText("Select a machine to see its notes.")
        elif not self._inventory.persist:
            self.status.setText("Notes are kept in the inventory database, which is not in use.")
        else:
            self.status.setText("Reading…")
            self.loading = spawn(self._load(machine, self._request))

    async def _load(self, machine: MachineInfo, request: int) -> None:
        try:
            notes = await self._inventory.read_notes(machine.key)
        except UnknownMachine:
            if request == self._request:
                self.status.setText("This machine is not in the inventory yet.")
            return
        if request != self._request:
            return
        self._version = notes.version
        self.editor.setPlainText(notes.text)
        self.editor.setEnabled(True)
        self.save_button.setEnabled(True)
        self.status.setText(f"Version {notes.version}" if notes.version else "No notes yet")

    def _save(self) -> None:
        if self._machine is None or self._version is None:
            return
        self.save_button.setEnabled(False)
        self.saving = spawn(self._store(self._machine, self.editor.toPlainText(), self._version, self._request))

    async def _store(self, machine: MachineInfo, text: str, version: int, request: int) -> None:
        try:
            notes = await self._inventory.save_notes(machine.key, text, version)
        except StaleEdit as stale:
            if request != self._request:
                return
            self._version = stale.current.version  # a second Save replaces theirs, knowingly
            theirs = stale.current.text or "(empty)"
            failure = tone(FAILURE).name()
            self.status.setText(f"<span style='color:{failure}'><b>Not saved:</b> someone else changed these "
                                f"notes since you opened them. Theirs now: “{esc(theirs)}”. Your text is still "
                                "here; Save again to replace theirs.</span>")
            self.save_button.setEnabled(True)
            return
        except NotesNotSaved as refused:  # the database is away: nothing was written, the text stays
            if request == self._request:
                failure = tone(FAILURE).name()
                self.status.setText(f"<span style='color:{failure}'><b>Not saved:</b> {esc(refused.why)}. "
                                    "Your text is still here; Save again once the database is back.</span>")
                self.save_button.setEnabled(True)
            return
        if request == self._request:
            self._version = notes.version
            self.status.setText(f"Saved (version {notes.version})")
            self.save_button.setEnabled(True)
