"""Host → Rename…: the name every pane shows for a host (empty: its URI's short name)."""
from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLineEdit, QWidget

from ...services.actions.host_actions import HostActions
from ...services.core.aio import spawn
from ...services.core.errors import Refusal
from ...services.core.names import MAX_LABEL, label_problem
from ...services.hosts.connection import HostConnection
from ...services.hosts.uri import display_name
from ..common.plain import plain_label
from ..common.discard_guard import AsksBeforeDiscarding


class LabelDialog(AsksBeforeDiscarding, QDialog):
    def __init__(self, parent: QWidget | None, host_actions: HostActions, host: HostConnection) -> None:
        super().__init__(parent)
        self.host_actions, self.host = host_actions, host
        self.setWindowTitle("Rename Host")
        self.label = QLineEdit(host.label)
        self.label.setMaxLength(MAX_LABEL + 1)  # one more: the check says the limit in words
        self.label.setPlaceholderText(display_name(host.uri))
        self.label.selectAll()
        self.status = plain_label(wrap=True)  # the check's words, or the database's
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._save)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Host:", plain_label(host.uri, selectable=True))
        form.addRow("Name:", self.label)
        form.addRow(self.status)
        form.addRow(self.buttons)
        self.label.textChanged.connect(self._check)
        self.task = None
        self._check()

    def _check(self) -> None:
        problem = label_problem(self.label.text().strip())
        self.status.setText(problem or "")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)

    def _save(self) -> None:
        self.buttons.setEnabled(False)
        self.task = spawn(self._run(self.label.text()))

    async def _run(self, label: str) -> None:
        try:
            await self.host_actions.set_label(self.host, label)
        except Refusal as refusal:
            self.status.setText(str(refusal))
        except Exception as exc:  # noqa: BLE001 (the database's words, the label kept as it was)
            self.status.setText(f"The label could not be saved: {exc}")
        else:
            self.accept()
            return
        self.buttons.setEnabled(True)


def open_label_dialog(parent: QWidget, host_actions: HostActions, host: HostConnection) -> LabelDialog:
    dialog = LabelDialog(parent, host_actions, host)
    dialog.open()  # not exec(): a nested loop would stall the asyncio loop
    return dialog
