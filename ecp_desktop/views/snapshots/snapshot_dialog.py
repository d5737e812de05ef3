"""Take Snapshot…: name, description, memory or not, internal or external (where the host
makes external ones). Opened with ``open()``; the tab reads ``values()`` when it is accepted."""
from __future__ import annotations

import datetime as dt

from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QDialog, QDialogButtonBox, QFormLayout, QLineEdit,
                               QPlainTextEdit, QRadioButton, QVBoxLayout, QWidget)

from ...services.tasks.operations import snapshot_problem
from ..common.plain import plain_label, problem_style
from ..common.discard_guard import AsksBeforeDiscarding


class TakeSnapshotDialog(AsksBeforeDiscarding, QDialog):
    def __init__(self, machine_name: str, taken: set[str], *, running: bool, external_ok: bool,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Take Snapshot")
        self._taken = taken
        self.heading = plain_label(f"Take a snapshot of {machine_name}", wrap=True, bold=True)
        self.name = QLineEdit(dt.datetime.now().strftime("snapshot-%Y%m%d-%H%M%S"))
        self.description = QPlainTextEdit()
        self.description.setPlaceholderText("What this snapshot is for (optional)")
        self.description.setFixedHeight(80)
        self.memory = QCheckBox("Include the memory (running programs come back as they were)")
        self.memory.setChecked(running)
        self.memory.setEnabled(running)
        if not running:
            self.memory.setToolTip("The machine is not running: there is no memory to save")
        self.internal = QRadioButton("Internal (inside the disk images)")
        self.external = QRadioButton("External (disks only, into new overlay files)")
        self.internal.setChecked(True)
        self.external.setEnabled(external_ok)
        if not external_ok:
            self.external.setToolTip("This host's hypervisor does not make external snapshots")
        kinds = QButtonGroup(self)
        kinds.addButton(self.internal)
        kinds.addButton(self.external)
        self.external.toggled.connect(lambda on: (self.memory.setChecked(False) if on else None,
                                                  self.memory.setEnabled(running and not on)))
        self.problem = plain_label(wrap=True)  # quotes the name typed
        self.problem.setStyleSheet(problem_style())
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Take Snapshot")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout()
        form.addRow("Name:", self.name)
        form.addRow("Description:", self.description)
        form.addRow("", self.memory)
        form.addRow("Kind:", self.internal)
        form.addRow("", self.external)
        box = QVBoxLayout(self)
        box.addWidget(self.heading)
        box.addLayout(form)
        box.addWidget(self.problem)
        box.addWidget(self.buttons)
        self.name.textChanged.connect(self._check)
        self.description.textChanged.connect(self._check)
        self._check()

    def _check(self) -> None:
        name = self.name.text()
        problem = snapshot_problem(name, self.description.toPlainText())
        if problem is None and name in self._taken:
            problem = f"{name!r} is the name of another snapshot of this machine"
        self.problem.setText(problem or "")
        self.problem.setVisible(bool(problem))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)

    def values(self) -> tuple[str, str, bool, bool]:
        """(name, description, memory, external)."""
        return (self.name.text(), self.description.toPlainText(), self.memory.isChecked(),
                self.external.isChecked())
