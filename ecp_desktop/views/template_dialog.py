"""Machine → New Machines from Template: template, count, name pattern, start or not.

The names are previewed and checked as they are typed (pattern, clashes with the
host's machines); the host itself checks the template's disks when the plan is made.
"""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit,
                               QSpinBox, QWidget)

from ..services.core.aio import spawn
from ..services.inventory.live import Inventory
from ..services.hosts.states import ACTIVE_STATES
from ..services.inventory.machines import MachineInfo
from ..services.tasks.records import SUCCEEDED
from ..services.actions.templates import MAX_COUNT, PlanError, expand_names
from ..services.hosts.names import pattern_from_name
from .plain import plain_label
from .tasks_pane import failures_below


class TemplateDialog(QDialog):
    requested = Signal(str, str, int, str, bool)  # host URI, template UUID, count, pattern, start

    def __init__(self, inventory: Inventory, preselect: MachineInfo | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inventory = inventory
        self.setWindowTitle("New Machines from Template")
        self.resize(520, 260)
        self.template = QComboBox()
        candidates = sorted((m for m in inventory.machines.values() if m.live and m.state not in ACTIVE_STATES),
                            key=lambda m: (m.name.casefold(), m.host_uri))
        for machine in candidates:
            host = inventory.hosts.get(machine.host_uri)
            self.template.addItem(f"{machine.name}  ({host.label if host else machine.host_uri})", machine)
        if preselect is not None and preselect in candidates:
            self.template.setCurrentIndex(candidates.index(preselect))
        self.count = QSpinBox()
        self.count.setRange(1, MAX_COUNT)
        self.count.setValue(3)
        self.pattern = QLineEdit()
        self.pattern.setToolTip("{n} is the machine's number, from 1; {n:03} pads it to three digits")
        self.start = QCheckBox("Start each machine once it is defined")
        self.preview = plain_label(wrap=True)  # names, and refusals quoting them
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.create_button = self.buttons.addButton("Create", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout(self)
        form.addRow("Template (shut off):", self.template)
        form.addRow("How many:", self.count)
        form.addRow("Name pattern:", self.pattern)
        form.addRow("", self.start)
        form.addRow("Names:", self.preview)
        note = QLabel("Each machine gets copies of the template's disks in the same storage pool, a new "
                      "UUID and new MAC addresses. If a step fails, everything created so far is removed.")
        note.setWordWrap(True)
        form.addRow(note)
        form.addRow(self.buttons)

        self.template.currentIndexChanged.connect(self._template_changed)
        self.count.valueChanged.connect(self._check)
        self.pattern.textChanged.connect(self._check)
        self._template_changed()

    def chosen(self) -> MachineInfo | None:
        return self.template.currentData()

    def _template_changed(self) -> None:
        machine = self.chosen()
        if machine is not None:
            self.pattern.setText(pattern_from_name(machine.name))
        self._check()

    def names(self) -> list[str]:
        """The names to create, or PlanError saying why not."""
        machine = self.chosen()
        if machine is None:
            raise PlanError("no shut-off machine to use as a template")
        names = expand_names(self.pattern.text(), self.count.value())
        taken = {m.name for m in self.inventory.machines_of(machine.host_uri)} & set(names)
        if taken:
            raise PlanError(f"already on this host: {', '.join(sorted(taken)[:5])}")
        return names

    def _check(self) -> None:
        try:
            names = self.names()
        except PlanError as exc:
            self.preview.setText(str(exc))
            self.preview.setStyleSheet("color: #b3261e;")
            self.create_button.setEnabled(False)
            return
        shown = ", ".join(names[:4]) + (f", … {names[-1]}" if len(names) > 4 else "")
        self.preview.setText(shown)
        self.preview.setStyleSheet("")
        self.create_button.setEnabled(True)

    def _accept(self) -> None:
        machine = self.chosen()
        if machine is None or not self.create_button.isEnabled():
            return
        self.requested.emit(machine.host_uri, machine.uuid, self.count.value(), self.pattern.text(),
                            self.start.isChecked())
        self.accept()


def open_template_dialog(window, templates, preselect: MachineInfo | None) -> TemplateDialog:
    """Open the dialog over ``window`` (the main window); a request runs as a flow there."""
    dialog = TemplateDialog(window.inventory, preselect, window)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.requested.connect(lambda *request: spawn(create_from_template(window, templates, *request)))
    dialog.open()
    return dialog


async def create_from_template(window, templates, uri: str, uuid: str, count: int, pattern: str,
                               start: bool) -> None:
    try:
        flow = await templates.plan(uri, uuid, count, pattern, start=start)
    except PlanError as exc:
        window.show_errors("Cannot create machines from this template", [(pattern, str(exc))])
        return
    window.tasks_dock.show()
    root = await templates.run(flow)
    if root.status != SUCCEEDED:
        window.show_errors(f"{root.title}: {root.status}", failures_below(root) or [(root.title, root.outcome)])
