"""Host → Exit Maintenance…: the mark cleared and, if the user wants, the machines the host's
last evacuation moved away migrated back, after a plan that says per machine where it is
now, how it would go home or why it cannot. Every name and reason is plain text."""
from __future__ import annotations

import logging

from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QHeaderView, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from ...services.core.aio import spawn
from ...services.maintenance.evacuate import HostsUnreachable
from ...services.maintenance.return_home import ReturnHome, ReturnPlan
from ...services.maintenance.watch import MarkWatch
from ..common.plain import plain_label

log = logging.getLogger(__name__)
COLUMNS = ["Machine", "Now on", "Method", "Why not"]


class ExitMaintenanceDialog(QDialog):
    def __init__(self, inventory, return_home: ReturnHome, host_uri: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inventory, self.return_home, self.host_uri = inventory, return_home, host_uri
        self.plan: ReturnPlan | None = None
        self.root = None
        host = inventory.hosts.get(host_uri)
        self.label = host.label if host else host_uri
        self.setWindowTitle(f"Exit Maintenance: {self.label}")
        self.resize(760, 420)
        self.bring_back = QCheckBox("Migrate back the machines its last evacuation moved away")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.status = plain_label("Reading which machines came from this host…", wrap=True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.exit_button = self.buttons.addButton("Exit Maintenance", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.rejected.connect(self.reject)
        self.exit_button.clicked.connect(self.leave)
        layout = QVBoxLayout(self)
        layout.addWidget(self.bring_back)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        # Nothing to choose until the plan is read: Exit pressed before it would only clear the mark.
        self.bring_back.setEnabled(False)
        self.exit_button.setEnabled(False)
        self.job = spawn(self._plan())

    async def _plan(self) -> None:
        try:
            await self._read_plan()
        finally:
            self.exit_button.setEnabled(True)

    async def _read_plan(self) -> None:
        try:
            self.plan = await self.return_home.plan(self.host_uri)
        except HostsUnreachable as exc:
            self.status.setText(f"{self.label} is not connected ({exc}): Exit Maintenance only clears the mark.")
            return
        except Exception as exc:  # noqa: BLE001  (the database away, a host removed: say it, stay usable)
            log.exception("return plan failed")
            self.status.setText(f"Cannot plan the way back: {exc}. Exit Maintenance only clears the mark.")
            return
        returns = self.plan.returns
        self.table.setRowCount(len(returns))
        for row, back in enumerate(returns):
            method = back.negotiation.decision.method if back.moves else "—"
            for column, text in enumerate((back.name, back.now_on or "—", method, back.reason)):
                self.table.setItem(row, column, QTableWidgetItem(text))  # plain text: names are data
        moving = len(self.plan.moving)
        self.bring_back.setChecked(moving > 0)
        self.bring_back.setEnabled(moving > 0)
        self.status.setText(f"{moving} of {len(returns)} machine(s) can go back to {self.label}." if returns else
                            "No machine to bring back: the host's last evacuation moved none, or none is recorded.")

    def leave(self) -> None:
        self.exit_button.setEnabled(False)
        self.status.setText("Leaving maintenance… (the tasks pane shows each migration)")
        self.job = spawn(self._leave())

    async def _leave(self) -> None:
        plan = self.plan if self.bring_back.isChecked() else None
        try:
            self.root = await self.return_home.leave(self.host_uri, plan)
        except Exception as exc:  # noqa: BLE001
            log.exception("exit maintenance failed")
            self.status.setText(f"Could not leave maintenance: {exc}")
            self.exit_button.setEnabled(True)
            return
        back = "" if self.root is None else (" Every machine is back." if self.root.status == "succeeded" else
                                             f" Not every machine went back: {self.root.outcome}")
        self.status.setText(f"{self.label} is out of maintenance.{back}")


def open_exit_maintenance_dialog(parent: QWidget, inventory, return_home: ReturnHome, marks: MarkWatch,
                                 host_uri: str) -> ExitMaintenanceDialog:
    """Host → Exit Maintenance… for ``host_uri``; the marks are read again once it closes."""
    dialog = ExitMaintenanceDialog(inventory, return_home, host_uri, parent)
    dialog.finished.connect(lambda *_: spawn(marks.refresh()))
    dialog.open()
    return dialog
