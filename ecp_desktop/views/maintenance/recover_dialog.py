"""Host → Recover Machines Elsewhere…: a dead host's machines defined and started on other hosts.

The dialog says first, plainly, what happens if the host is not really down (each machine
would run twice, two copies writing the same disks), then shows the recovery service's plan:
per machine where it will start, or why it cannot (its disks on the dead host's own storage,
no stored definition, no capacity). *Recover* stays disabled until the user ticks "the host is
down" and the plan has something to start; it runs the flow (the tasks pane follows it) and
the table then says where each machine is now. Every read is awaited off the GUI thread;
every name and reason is plain text.
"""
from __future__ import annotations

import logging

from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QHeaderView, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from ...services.core.aio import spawn
from ...services.core.errors import HypervisorError
from ...services.maintenance.recover import (DestinationUnreachable, Outcome, RecoveryPlan, RecoveryRefused,
                                             RecoveryService)
from .destination_list import DestinationList, beside_the_plan
from ..common.plain import plain_label, tooltip

log = logging.getLogger(__name__)
COLUMNS = ["Machine", "Last state", "Memory", "Will start on", "Why not", "Now on"]
WHY = 4


def warning_text(label: str) -> str:
    return (f"Use this only if {label} is really down: powered off, or cut off from its disks for good. "
            f"If it is still running its machines, every machine recovered here runs twice, and two copies "
            f"writing the same disks destroy the data on them. When {label} comes back, its own copies are "
            "still defined there: this app never starts them again, but remove them before anyone else does.")


class RecoverDialog(QDialog):
    def __init__(self, inventory, recovery: RecoveryService, host_uri: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inventory, self.recovery, self.host_uri = inventory, recovery, host_uri
        self.plan: RecoveryPlan | None = None
        self.outcome: Outcome | None = None
        self.job = None
        self.busy = False  # a check or the recovery is under way
        host = inventory.hosts.get(host_uri)
        label = host.label if host else host_uri
        self.setWindowTitle(f"Recover Machines Elsewhere: {label}")
        self.resize(900, 560)
        self.warning = plain_label(warning_text(label), wrap=True, bold=True)

        self.destinations = DestinationList(inventory, host_uri)
        self.destinations.itemChanged.connect(lambda *_: self._stale())

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(WHY, QHeaderView.ResizeMode.Stretch)
        self.status = plain_label("Checking what can start where…", wrap=True)
        self.confirm = QCheckBox(f"{label} is down: it runs none of these machines any more")
        self.confirm.toggled.connect(lambda *_: self._enable())

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.check_button = self.buttons.addButton("Check Again", QDialogButtonBox.ButtonRole.ActionRole)
        self.run_button = self.buttons.addButton("Recover", QDialogButtonBox.ButtonRole.AcceptRole)
        self.run_button.setEnabled(False)
        self.buttons.rejected.connect(self.reject)
        self.check_button.clicked.connect(self.make_plan)
        self.run_button.clicked.connect(self.recover)

        middle = beside_the_plan(self.destinations, self.table, self.status, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(self.warning)
        layout.addLayout(middle, 1)
        layout.addWidget(self.confirm)
        layout.addWidget(self.buttons)

    def chosen(self) -> list[str]:
        return self.destinations.chosen()

    def _stale(self) -> None:
        self.plan = None
        self.status.setText("The destinations changed: Check Again.")
        self._enable()

    def _enable(self) -> None:
        self.run_button.setEnabled(bool(self.plan and self.plan.possible and self.confirm.isChecked()
                                        and not self.busy and self.outcome is None))

    def make_plan(self) -> None:
        self.check_button.setEnabled(False)
        self.outcome, self.busy = None, True
        self._enable()
        self.status.setText("Checking what can start where…")
        self.job = spawn(self._plan())

    async def _plan(self) -> None:
        try:
            self.plan = await self.recovery.plan(self.host_uri, self.chosen())
        except (RecoveryRefused, DestinationUnreachable, HypervisorError) as exc:
            self.plan = None
            self.status.setText(f"Cannot recover: {exc}")
        except Exception as exc:  # noqa: BLE001  (the database away, a host removed meanwhile)
            log.exception("recovery plan failed")
            self.plan = None
            self.status.setText(f"Cannot check: {exc}")
        else:
            self._show()
            plan = self.plan
            words = [f"{len(plan.moving)} machine(s) will start elsewhere" if plan.possible
                     else "No machine can be recovered"]
            if plan.refused:
                words.append(f"{len(plan.refused)} cannot (see Why not)")
            words += plan.notes
            self.status.setText("; ".join(words) + ".")
        finally:
            self.busy = False
            self.check_button.setEnabled(True)
            self._enable()

    def _show(self) -> None:
        rows = self.plan.machines if self.plan else []
        now = self.outcome.now_on if self.outcome else {}
        self.table.setRowCount(len(rows))
        for row, recovery in enumerate(rows):
            m = recovery.machine
            where = ", ".join(self._label(u) for u in now.get(m.uuid, [])) if self.outcome and recovery.moves else ""
            why = recovery.reason or (f"not carried over: {', '.join(recovery.left_out)}" if recovery.left_out else "")
            cells = [m.name, m.state, f"{m.memory_kib // 1024} MiB",
                     self._label(recovery.destination) if recovery.moves else ("left" if recovery.left else "—"),
                     why, where or ("nowhere" if self.outcome and recovery.moves else "")]
            tips = {3: recovery.destination, WHY: "\n".join([why] + [
                f"{u}: {w}" for u, w in sorted(recovery.refusals.items())])}
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)  # plain text: names and reasons are data
                if tips.get(column):
                    item.setToolTip(tooltip(tips[column]))
                self.table.setItem(row, column, item)

    def _label(self, uri: str) -> str:
        host = self.inventory.hosts.get(uri)
        return host.label if host is not None else uri

    def recover(self) -> None:
        if not (self.plan and self.plan.possible and self.confirm.isChecked()):
            return
        self.check_button.setEnabled(False)
        self.busy = True
        self._enable()
        self.status.setText("Recovering… (the tasks pane shows each machine)")
        self.job = spawn(self._run())

    async def _run(self) -> None:
        try:
            self.outcome = await self.recovery.run(self.plan)
        except RecoveryRefused as exc:
            self.status.setText(f"Refused: {exc}")
        except Exception as exc:  # noqa: BLE001  (the database away, a host removed: say it, stay usable)
            log.exception("recovery failed")
            self.status.setText(f"The recovery could not run: {exc}")
        else:
            self._show()
            done = ("Done: the machines run on their new hosts." if self.outcome.done else
                    "Not recovered: the steps that ran were undone (see Now on and the tasks pane).")
            self.status.setText(" ".join([done, *self.outcome.warnings]))
        finally:
            self.busy = False
            self.check_button.setEnabled(True)
            self._enable()


def open_recover_dialog(parent: QWidget, inventory, recovery: RecoveryService, host_uri: str) -> RecoverDialog:
    """Host → Recover Machines Elsewhere… for ``host_uri``: the dialog opens at once and checks
    in the background (the GUI thread never waits on a host or the database)."""
    dialog = RecoverDialog(inventory, recovery, host_uri, parent)
    dialog.open()
    dialog.make_plan()
    return dialog
