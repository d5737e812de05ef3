"""Machine → Rename… (F2): the new name, checked as you type (services/actions/rename.py says
why not), then the rename as a task; its failure opens the error dialog."""
from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLineEdit, QVBoxLayout, QWidget

from ...services.actions.rename import Renamer
from ...services.core.aio import spawn
from ...services.core.errors import Refusal
from ...services.inventory.machines import MachineInfo
from ...services.tasks.records import SUCCEEDED
from ...services.tasks.tree import what_failed
from ..common.plain import plain_label
from ..common.discard_guard import AsksBeforeDiscarding


class RenameDialog(AsksBeforeDiscarding, QDialog):
    def __init__(self, parent: QWidget | None, renamer: Renamer, machine: MachineInfo, show_errors) -> None:
        super().__init__(parent)
        self.renamer, self.machine, self.show_errors = renamer, machine, show_errors
        self.setWindowTitle(f"Rename {machine.name}")
        self.name = QLineEdit(machine.name)
        self.name.selectAll()
        self.status = plain_label(wrap=True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Rename")
        self.buttons.accepted.connect(self._rename)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(plain_label(f"New name of {machine.name}:"))
        layout.addWidget(self.name)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.name.textChanged.connect(self._check)
        self.task = None  # the rename's task, once run
        self._check()

    def _check(self) -> None:
        problem = self.renamer.problem(self.machine, self.name.text())
        same = self.name.text() == self.machine.name
        self.status.setText("" if same else (problem or ""))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)

    def _rename(self) -> None:
        self.buttons.setEnabled(False)
        self.task = spawn(self._run(self.name.text()))

    async def _run(self, new_name: str) -> None:
        try:
            record = await self.renamer.rename(self.machine, new_name)
        except Refusal as refusal:  # (the machine changed since the name was checked)
            self.status.setText(str(refusal))
            self.buttons.setEnabled(True)
            return
        if record.status != SUCCEEDED:
            self.show_errors(f"{record.title}: {record.status}", what_failed(record))
        self.accept()


def open_rename_dialog(parent: QWidget, renamer: Renamer, machine: MachineInfo, show_errors) -> RenameDialog:
    dialog = RenameDialog(parent, renamer, machine, show_errors)
    dialog.open()  # not exec(): a nested loop would stall the asyncio loop
    return dialog
