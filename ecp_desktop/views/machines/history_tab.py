"""The History tab: the selected machine's definition versions, newest first (when, by whom,
what changed), and the selected version's diff against the one before it. Revert to This
Version… (a version older than the newest selected) hands the version to ``revert``, which
opens Edit Hardware's review of the revert.

The versions are read from the inventory on the database thread; the view only shows them.
A reading the selection has moved on from is dropped."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (QHBoxLayout, QPlainTextEdit, QPushButton, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)
from PySide6.QtCore import Qt

from ...services.core.aio import spawn
from ...services.history import versions as history
from ...services.inventory.live import Inventory
from ...services.inventory.machines import MachineInfo
from ..common.follow import follow
from ..common.plain import plain_label, tooltip

COLUMNS = ("Version", "Recorded (UTC)", "By", "What changed")


class HistoryTab(QWidget):
    loaded = Signal()  # the versions were read (or could not be)
    diff_shown = Signal()  # the selected version's diff is on screen

    def __init__(self, inventory: Inventory, parent: QWidget | None = None, *,
                 revert: Callable[[MachineInfo, history.Version], object] | None = None) -> None:
        super().__init__(parent)
        self.inventory = inventory
        self._revert = revert
        self.machine: MachineInfo | None = None
        self.versions: list[history.Version] = []
        self._request = 0
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._show_diff)
        self.diff = QPlainTextEdit()
        self.diff.setReadOnly(True)
        self.diff.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.diff.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.diff.setPlaceholderText("Select a version to see what it changed.")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.reload)
        self.revert_button = QPushButton("Revert to This Version…")
        self.revert_button.setToolTip("Review the changes that give the machine this version's settings back, "
                                      "then apply them as a task")
        self.revert_button.clicked.connect(self.revert_selected)
        self.revert_button.setEnabled(False)
        self.revert_button.setVisible(revert is not None)
        self.status = plain_label("Select a machine to see its configuration history.", wrap=True, selectable=True)
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.revert_button)
        top.addWidget(self.refresh_button)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.diff)
        box = QVBoxLayout(self)
        box.addLayout(top)
        box.addWidget(split, 1)
        follow(inventory.machines_changed, self, self._on_changed)

    def show_machine(self, machine: MachineInfo | None) -> None:
        same = machine is not None and self.machine is not None and machine.key == self.machine.key
        self.machine = machine
        if not same:
            self.reload()

    def _on_changed(self, machines: list[MachineInfo]) -> None:
        # A change to the shown machine may be a new definition: read its versions again.
        if self.machine is not None and any(m.key == self.machine.key for m in machines) and self.isVisible():
            self.reload()

    def reload(self) -> None:
        self._request += 1
        self.refresh_button.setEnabled(self.machine is not None)
        if self.machine is None:
            self._show([], "Select a machine to see its configuration history.")
            self.loaded.emit()
            return
        spawn(self._load(self.machine, self._request))

    async def _load(self, machine: MachineInfo, request: int) -> None:
        try:
            found = await self.inventory.executors.on_database(history.versions, machine.host_uri, machine.uuid)
        except Exception as exc:  # noqa: BLE001  (the database away: said, and Refresh tries again)
            if request == self._request:
                self._show([], f"The history cannot be read now: {exc}")
                self.loaded.emit()
            return
        if request != self._request:
            return  # the selection moved on meanwhile
        if not found:
            words = "No definition recorded yet: the next import or change records one."
        else:
            words = f"{len(found)} version{'s' * (len(found) != 1)}, newest first; select one to see what it changed."
        self._show(found, words)
        self.loaded.emit()

    def _show(self, versions: list[history.Version], words: str) -> None:
        keep = self.selected()
        self.versions = versions
        self.status.setText(words)
        self.table.blockSignals(True)
        self.table.setRowCount(len(versions))
        for row, version in enumerate(versions):
            values = (str(version.number), version.recorded_at.strftime("%Y-%m-%d %H:%M:%S"),
                      version.origin_text(), version.summary)
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(tooltip(value))
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        self.table.blockSignals(False)
        rows = [i for i, v in enumerate(versions) if keep is not None and v.id == keep.id]
        if rows:
            self.table.selectRow(rows[0])
        else:
            self.table.clearSelection()
            self.diff.setPlainText("")
        self.revert_button.setEnabled(self._revertible(self.selected()))

    def selected(self) -> history.Version | None:
        rows = self.table.selectionModel().selectedRows()
        return self.versions[rows[0].row()] if rows and rows[0].row() < len(self.versions) else None

    def revert_selected(self) -> object:
        """Revert to This Version…: the selected version, older than the newest, to ``revert``."""
        version = self.selected()
        if self._revert is None or self.machine is None or not self._revertible(version):
            return None
        return self._revert(self.machine, version)

    def _revertible(self, version: history.Version | None) -> bool:
        """A version other than the newest (the newest is what the machine has)."""
        return version is not None and bool(self.versions) and version != self.versions[0]

    def _show_diff(self) -> None:
        version = self.selected()
        self.revert_button.setEnabled(self._revertible(version))
        if version is None:
            self.diff.setPlainText("")
            return
        self._request += 1
        spawn(self._load_diff(version, self._request))

    async def _load_diff(self, version: history.Version, request: int) -> None:
        try:
            text = await self.inventory.executors.on_database(history.diff_with_previous, version.id)
        except Exception as exc:  # noqa: BLE001  (trimmed meanwhile, or the database away)
            text = f"This version cannot be read now: {exc}"
        if request != self._request:
            return
        self.diff.setPlainText(text or "The same definition as the version before it.")
        self.diff_shown.emit()
