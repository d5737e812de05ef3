"""Host → Enter Maintenance…: the evacuation plan before anything moves, then one flow.

The plan comes from the maintenance service (the migration service's negotiations, one per
machine and destination); this dialog only shows it: per machine the destination, the
method, or why it cannot move (the checks in its tooltip), in the order it would run. The
user picks destinations, the policy on failure, how many migrations at a time per
destination and what happens to shut-off machines; *Enter Maintenance* runs the flow (the
tasks pane follows it) and the table then says where each machine is now. Every name and
reason is plain text.
"""
from __future__ import annotations

import logging

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHeaderView, QMessageBox, QSpinBox,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ...services.core.aio import spawn
from ...services.core.errors import HypervisorError
from ...services.maintenance.evacuate import EvacuationRefused, EvacuationService, HostsUnreachable, Outcome
from ...services.maintenance.plan import LEAVE, MOVE_OFFLINE, Plan
from ...services.maintenance.watch import MarkWatch
from .destination_list import DestinationList, beside_the_plan
from ..common.plain import message_box, plain_label, tooltip

COLUMNS = ["Machine", "State", "Memory", "Destination", "Method", "Why", "Now on"]


def _checks_text(move) -> str:
    if move.negotiation is None:
        return "\n".join(f"{uri}: {why}" for uri, why in sorted(move.refusals.items()))
    return "\n".join(f"{r.name}: {r.verdict}" + (f" ({r.note})" if r.note else "")
                     for r in move.negotiation.decision.results)


log = logging.getLogger(__name__)

class MaintenanceDialog(QDialog):
    ran = Signal()  # an evacuation ended: the host's mark may have changed

    def __init__(self, inventory, evacuation: EvacuationService, host_uri: str, in_maintenance: set[str] = frozenset(),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inventory, self.evacuation, self.host_uri = inventory, evacuation, host_uri
        self.plan: Plan | None = None
        self.outcome: Outcome | None = None
        self.job = None
        host = inventory.hosts.get(host_uri)
        self.setWindowTitle(f"Enter Maintenance: {host.label if host else host_uri}")
        self.resize(1100, 560)

        self.destinations = DestinationList(inventory, host_uri, in_maintenance)
        self.destinations.setMaximumWidth(self.fontMetrics().averageCharWidth() * 32)  # the plan gets the width
        self.policy = QComboBox()
        self.policy.addItem("Move back the machines already moved", "move-back")
        self.policy.addItem("Keep going: the failed machine stays", "keep-going")
        self.parallel = QSpinBox()
        self.parallel.setRange(1, 16)
        self.parallel.setValue(2)
        self.shut_off = QComboBox()
        self.shut_off.addItem("Move their definition (offline)", MOVE_OFFLINE)
        self.shut_off.addItem("Leave them on the host", LEAVE)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.addRow("On failure:", self.policy)
        form.addRow("Migrations at a time per destination:", self.parallel)
        form.addRow("Shut-off machines:", self.shut_off)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS)):  # the reasons get the capacity, the rest their contents
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch if column == 5
                                        else QHeaderView.ResizeMode.ResizeToContents)
        self.table.setWordWrap(True)
        self.status = plain_label("Choose the destinations, then Plan.", wrap=True)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.plan_button = self.buttons.addButton("Plan", QDialogButtonBox.ButtonRole.ActionRole)
        self.run_button = self.buttons.addButton("Enter Maintenance", QDialogButtonBox.ButtonRole.AcceptRole)
        self.run_button.setEnabled(False)
        self.stop_button = self.buttons.addButton("Stop…", QDialogButtonBox.ButtonRole.ActionRole)
        self.stop_button.setToolTip("No new migration starts; you choose whether the running ones finish or abort")
        self.stop_button.hide()
        self.stop_button.clicked.connect(self.ask_stop)
        self.buttons.rejected.connect(self.reject)
        self.plan_button.clicked.connect(self.make_plan)
        self.run_button.clicked.connect(self.enter)
        for widget in (self.destinations, self.shut_off):
            (widget.itemChanged if widget is self.destinations else widget.currentIndexChanged).connect(
                lambda *_: self.run_button.setEnabled(False))

        top = beside_the_plan(self.destinations, self.table, self.status, 4)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addLayout(form)  # below: the plan's table keeps the width
        layout.addWidget(self.buttons)

    def chosen(self) -> list[str]:
        return self.destinations.chosen()

    def make_plan(self) -> None:
        self.plan_button.setEnabled(False)
        self.status.setText("Checking every machine with every destination…")
        self.job = spawn(self._plan())

    async def _plan(self) -> None:
        try:
            self.plan = await self.evacuation.plan(self.host_uri, self.chosen(), shut_off=self.shut_off.currentData())
        except (HostsUnreachable, HypervisorError) as exc:
            self.status.setText(f"Cannot plan: {exc}")
            return
        except Exception as exc:  # noqa: BLE001  (the database away, a host removed meanwhile)
            log.exception("maintenance plan failed")
            self.status.setText(f"Cannot plan: {exc}")
            return
        finally:
            self.plan_button.setEnabled(True)
        self._show()
        refused = self.plan.refused
        self.status.setText(f"{len(refused)} machine(s) cannot move: see Why (the checks are in its tooltip)."
                            if refused else f"{sum(m.moves for m in self.plan.moves)} machine(s) will move, "
                            "largest memory first." if self.plan.moves else "The host has no machines.")
        self.run_button.setEnabled(self.plan.possible)

    def _show(self) -> None:
        moves = self.plan.moves if self.plan else []
        now = {w.uuid: ", ".join(map(self._label, w.now_on)) or "nowhere"
               for w in self.outcome.machines} if self.outcome else {}
        self.table.setRowCount(len(moves))
        for row, move in enumerate(moves):
            m = move.machine
            cells = [m.name, m.state, f"{m.memory_kib // 1024} MiB", self._label(move.destination) or "—",
                     move.method or ("left" if move.left else "—"), move.reason, now.get(m.uuid, "")]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)  # plain text: names and reasons are data
                if column == 5:
                    item.setToolTip(tooltip(_checks_text(move)))
                elif column == 3 and move.destination:
                    item.setToolTip(tooltip(move.destination))
                self.table.setItem(row, column, item)
        self.table.resizeRowsToContents()  # a reason is read whole, wrapped

    def _label(self, uri: str) -> str:
        """A host as the hosts pane names it (its URI in the Destination cell's tooltip)."""
        host = self.inventory.hosts.get(uri)
        return host.label if host is not None else uri

    def running_flow(self):
        """The evacuation's task while it runs (None before it started or once it ended)."""
        return next((t for t in reversed(self.evacuation.engine.tasks.tasks) if t.parent is None
                     and t.kind == "evacuate" and t.host_uri == self.host_uri and not t.finished), None)

    def ask_stop(self) -> QMessageBox:
        box = message_box(QMessageBox.Icon.Question, "Stop the evacuation",
                          "No new migration will start. What of the migrations running now? Either way the plan's "
                          "policy on failure then applies (move back: what moved goes back; keep going: it stays).",
                          QMessageBox.StandardButton.NoButton, self)
        finish = box.addButton("Let Them Finish", QMessageBox.ButtonRole.AcceptRole)
        abort = box.addButton("Abort Them", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Go On Evacuating", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(finish)

        def chosen(button) -> None:
            root = self.running_flow()
            if root is None:
                return
            if button is finish and root.drain is not None:
                root.drain()
                self.status.setText("Stopping: the running migrations finish, no new one starts…")
            elif button is abort and root.cancel is not None:
                root.cancel()
                self.status.setText("Stopping: the running migrations are aborted…")
        box.buttonClicked.connect(chosen)
        box.open()  # never exec(): a nested loop breaks qasync
        self.stop_question = box
        return box

    def enter(self) -> None:
        self.stop_button.show()
        self.run_button.setEnabled(False)
        self.plan_button.setEnabled(False)
        self.status.setText("Evacuating… (the tasks pane shows each machine)")
        self.job = spawn(self._run())

    async def _run(self) -> None:
        try:
            await self._evacuate()
        finally:
            self.stop_button.hide()

    async def _evacuate(self) -> None:
        try:
            self.outcome = await self.evacuation.run(self.plan, policy=self.policy.currentData(),
                                                     parallel=self.parallel.value())
        except EvacuationRefused as exc:
            self.status.setText(f"Refused: {exc}")
            self.plan_button.setEnabled(True)
            return
        except Exception as exc:  # noqa: BLE001  (the database away, a host removed: say it, stay usable)
            log.exception("evacuation failed")
            self.status.setText(f"The evacuation could not run: {exc}")
            self.plan_button.setEnabled(True)
            return
        self._show()
        self.ran.emit()  # the mark changed
        state = "in maintenance" if self.outcome.maintenance else "not in maintenance (the evacuation was undone)"
        done = "Done" if self.outcome.done else "Not every machine is where the plan said (see Now on)"
        self.status.setText(f"{done}. The host is {state}.")
        self.plan_button.setEnabled(True)


async def open_maintenance_dialog(parent: QWidget, inventory, evacuations: EvacuationService, marks: MarkWatch,
                                  host_uri: str) -> MaintenanceDialog:
    """Host → Enter Maintenance… for ``host_uri``; the marks are read on the database thread
    (the GUI thread never waits on the database) and again after the dialog ran."""
    in_maintenance = set(await marks.refresh())
    dialog = MaintenanceDialog(inventory, evacuations, host_uri, in_maintenance, parent)
    dialog.ran.connect(lambda: spawn(marks.refresh()))
    dialog.open()
    return dialog
