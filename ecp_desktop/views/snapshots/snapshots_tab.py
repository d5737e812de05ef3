"""The Snapshots tab: the selected machine's snapshot tree, Take Snapshot…, Revert…, Delete….

Every libvirt call runs in the host's worker (``services.snapshots``); results come back on
the loop. Each action is a task in the tasks pane (with libvirt's error when it fails); the
tree is read again after it. Revert and Delete ask first, with what they throw away."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QHeaderView, QMessageBox, QPushButton, QTreeView, QVBoxLayout, QWidget

from ...services.core.aio import spawn
from ...services.core.errors import HypervisorError
from ...services.hosts.states import ACTIVE_STATES
from ...services.inventory.live import Inventory
from ...services.inventory.machines import MachineInfo
from ...services.snapshots.info import SnapshotInfo, current_of, descendants
from ...services.snapshots.service import Snapshots, revert_loses
from ...services.tasks.records import SUCCEEDED, TaskRecord
from ..common.plain import message_box, plain_label
from .snapshot_dialog import TakeSnapshotDialog
from .snapshot_model import SnapshotTreeModel
from ..common.follow import follow


class SnapshotsTab(QWidget):
    loaded = Signal()               # the tree was read (or could not be)
    action_done = Signal(object)    # (TaskRecord) an action's task ended; the tree is read again

    def __init__(self, inventory: Inventory, snapshots: Snapshots, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inventory = inventory
        self.service = snapshots
        self.machine: MachineInfo | None = None
        self._request = 0
        self.busy = False
        self.dialog: TakeSnapshotDialog | None = None
        self.question: QMessageBox | None = None
        self._after_load: Callable[[], None] | None = None  # once the next reading is shown

        self.model = SnapshotTreeModel(self)
        self.tree = QTreeView()
        self.tree.setModel(self.model)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(True)
        self.tree.selectionModel().selectionChanged.connect(self._enable)
        self.tree.doubleClicked.connect(lambda _index: self.ask_revert())
        self.take_button = QPushButton("Take Snapshot…")
        self.revert_button = QPushButton("Revert…")
        self.delete_button = QPushButton("Delete…")
        self.refresh_button = QPushButton("Refresh")
        self.take_button.clicked.connect(self.ask_take)
        self.revert_button.clicked.connect(self.ask_revert)
        self.delete_button.clicked.connect(self.ask_delete)
        self.refresh_button.clicked.connect(self.reload)
        buttons = QHBoxLayout()
        for button in (self.take_button, self.revert_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        self.status = plain_label("Select a machine to see its snapshots.", wrap=True, selectable=True)
        box = QVBoxLayout(self)
        box.addLayout(buttons)
        box.addWidget(self.tree, 1)
        box.addWidget(self.status)
        follow(inventory.machines_changed, self, self._on_changed)
        self._enable()

    # ----- which machine ---------------------------------------------------------------------
    def show_machine(self, machine: MachineInfo | None) -> None:
        if machine is not None and self.machine is not None and machine.key == self.machine.key:
            self.machine = machine
            self._enable()
            return
        self.machine = machine
        self.model.set_snapshots([])
        self.reload()

    def _on_changed(self, machines: list[MachineInfo]) -> None:
        if self.machine is not None:
            for m in machines:
                if m.key == self.machine.key:
                    self.machine = m
                    self._enable()

    def selected(self) -> SnapshotInfo | None:
        rows = self.tree.selectionModel().selectedRows()
        return self.model.snapshot(rows[0]) if rows else None

    def select(self, name: str) -> None:
        index = self.model.index_of(name)
        if index.isValid():
            self.tree.setCurrentIndex(index)

    def _enable(self, *_args) -> None:
        machine, chosen = self.machine, self.selected()
        ready = machine is not None and not self.busy and self._connected(machine)
        self.take_button.setEnabled(ready)
        self.revert_button.setEnabled(ready and chosen is not None)
        self.delete_button.setEnabled(ready and chosen is not None)
        self.refresh_button.setEnabled(machine is not None and not self.busy)

    def _connected(self, machine: MachineInfo) -> bool:
        host = self.inventory.hosts.get(machine.host_uri)
        return host is not None and host.connected

    # ----- reading ------------------------------------------------------------------------------
    def reload(self) -> None:
        self._request += 1
        if self.machine is None:
            self.status.setText("Select a machine to see its snapshots.")
            self._loaded()
            return
        if not self._connected(self.machine):
            self.status.setText("The host is not connected; its snapshots cannot be read.")
            self._loaded()
            return
        self.status.setText("Reading snapshots…")
        spawn(self._load(self.machine, self._request))

    async def _load(self, machine: MachineInfo, request: int) -> None:
        keep = self.selected()
        try:
            found = await self.service.list(machine)
        except HypervisorError as err:
            if request == self._request:
                self.model.set_snapshots([])
                self.status.setText(f"Could not read the snapshots: {err.one_line()}")
                self._loaded()
            return
        if request != self._request:
            return  # the selection moved on meanwhile
        self.model.set_snapshots(found)
        self.tree.expandAll()
        current = current_of(found)
        if keep is not None and any(s.name == keep.name for s in found):
            self.select(keep.name)
        elif current is not None:
            self.select(current.name)
        if not found:
            self.status.setText("No snapshots yet.")
        else:
            self.status.setText(f"{len(found)} snapshot{'s' if len(found) != 1 else ''}; current: "
                                + (current.name if current is not None else "none"))
        self._loaded()

    # ----- actions ------------------------------------------------------------------------------
    def ask_take(self) -> None:
        machine = self.machine
        if machine is None or self.busy:
            return
        self.dialog = TakeSnapshotDialog(machine.name, {s.name for s in self.model.snapshots()},
                                         running=machine.state in ACTIVE_STATES,
                                         external_ok=self.service.external_supported(machine), parent=self)
        self.dialog.accepted.connect(lambda: self._take(machine, self.dialog))
        self.dialog.open()

    def _take(self, machine: MachineInfo, dialog: TakeSnapshotDialog) -> None:
        name, description, memory, external = dialog.values()
        self._start(self.service.create(machine, name, description=description, memory=memory,
                                        external=external), select=name)

    def ask_revert(self) -> None:
        machine, chosen = self.machine, self.selected()
        if machine is None or chosen is None or self.busy:
            return
        self.question = message_box(QMessageBox.Icon.Question, "Revert to Snapshot",
                                    f"Revert {machine.name} to snapshot {chosen.name}?\n\n"
                                    f"{revert_loses(machine, chosen)}",
                                    QMessageBox.StandardButton.Cancel, self)
        revert = self.question.addButton("Revert", QMessageBox.ButtonRole.DestructiveRole)
        self.question.setDefaultButton(QMessageBox.StandardButton.Cancel)
        self.question.finished.connect(
            lambda _r, box=self.question: box.clickedButton() is revert
            and self._start(self.service.revert(machine, chosen.name), select=chosen.name))
        self.question.open()

    def ask_delete(self) -> None:
        machine, chosen = self.machine, self.selected()
        if machine is None or chosen is None or self.busy:
            return
        below = descendants(self.model.snapshots(), chosen.name)
        text = f"Delete snapshot {chosen.name} of {machine.name}? It cannot be reverted to afterwards."
        if below:
            text += (f"\n\nIt has {len(below)} snapshot{'s' if len(below) != 1 else ''} below it "
                     f"({', '.join(below)}): delete only this one (they move up to its parent), "
                     "or it with them all.")
        self.question = message_box(QMessageBox.Icon.Question, "Delete Snapshot", text,
                                    QMessageBox.StandardButton.Cancel, self)
        one = self.question.addButton("Delete This One" if below else "Delete",
                                      QMessageBox.ButtonRole.DestructiveRole)
        every = self.question.addButton(f"Delete with {len(below)} Below", QMessageBox.ButtonRole.DestructiveRole) \
            if below else None
        self.question.setDefaultButton(QMessageBox.StandardButton.Cancel)

        def answered(_result: int, box: QMessageBox = self.question) -> None:
            clicked = box.clickedButton()
            if clicked is one or (every is not None and clicked is every):
                self._start(self.service.delete(machine, chosen.name, children=clicked is every))
        self.question.finished.connect(answered)
        self.question.open()

    def _start(self, work, *, select: str = "") -> None:
        self.busy = True
        self._enable()
        spawn(self._finish(work, select))

    async def _finish(self, work, select: str) -> None:
        try:
            record: TaskRecord = await work
        finally:
            self.busy = False
        if record.status != SUCCEEDED:  # libvirt's words stay in view once the tree is back
            message = f"{record.title} failed: {record.error_message}"
            self.status.setText(message)
            self._after_load = lambda: self.status.setText(message)
        elif select:
            self._after_load = lambda: self.select(select)
        self.reload()
        self.action_done.emit(record)

    def _loaded(self) -> None:
        after, self._after_load = self._after_load, None
        if after is not None:
            after()
        self._enable()
        self.loaded.emit()
