"""Machine → Migrate…: destinations (incompatible ones disabled, with the reason), the
negotiation table, options with short explanations, then progress and Abort.

Every destination is negotiated in the background when the dialog opens (reads only);
changing an option re-decides on the facts already read, without asking the hosts again.
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QGroupBox,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListWidget, QListWidgetItem, QProgressBar,
                               QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from ...services.core.aio import spawn
from ...services.core.errors import HypervisorError
from ...services.inventory.live import Inventory
from ...services.inventory.machines import MachineInfo
from ...services.maintenance.watch import MarkWatch
from ...services.migration.service import MigrationService, Negotiation
from ...services.tasks.service import TaskService
from ...services.migration.checks import METHODS, CheckResult, MigrationOptions, decide
from ...services.migration import ladder
from ...services.migration.ladder import MethodRow, as_check_rows, tried_rows
from ...services.tasks.records import SUCCEEDED, TaskRecord
from ..common.plain import esc, plain_label, rich_label, tooltip
from ...services.tasks.tree import what_failed
from ..common.follow import follow
from ..common.palette_colours import readable_text

VERDICT_COLOURS = {"ok": "#1b7f3b", "warn": "#9a6700", "fail": "#b3261e", "n/a": "#6b6b6b",
                   # a way of migrating, before and while it is tried (services/migration/ladder.py)
                   ladder.CANDIDATE: "#1b7f3b", ladder.RULED_OUT: "#6b6b6b", ladder.NOT_TRIED: "#6b6b6b",
                   ladder.TRYING: "#1a5fb4", ladder.REFUSED: "#9a6700", ladder.SUCCEEDED: "#1b7f3b",
                   ladder.FAILED: "#b3261e"}
URI_ROLE = Qt.ItemDataRole.UserRole


def _hint(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet("color: palette(mid); font-size: small;")
    return label


class MigrationDialog(QDialog):
    def __init__(self, inventory: Inventory, tasks: TaskService, migrations: MigrationService,
                 marks: MarkWatch | None, machine: MachineInfo, show_errors: Callable[[str, list], object],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.inventory, self.migrations, self.machine, self.show_errors = inventory, migrations, machine, show_errors
        self.negotiations: dict[str, Negotiation] = {}
        self.step: TaskRecord | None = None
        self.tried: list[MethodRow] | None = None  # the running step's ways of migrating, as tried so far
        source = inventory.hosts.get(machine.host_uri)
        self.setWindowTitle(f"Migrate {machine.name}")
        self.resize(980, 640)

        self.destinations = QListWidget()
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Check", "Source", "Destination", "Verdict"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.plan = rich_label("Checking the destinations…", wrap=True)  # reasons escaped: see _show_current
        self.plan.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.method = QComboBox()
        self.method.addItem("Best the hosts allow", "")
        for method in METHODS:
            self.method.addItem(method.capitalize(), method)
        self.persistent = QCheckBox("Define it on the destination")
        self.persistent.setChecked(True)
        self.undefine = QCheckBox("Remove its definition from the source")
        self.undefine.setChecked(True)
        self.auto_converge = QCheckBox("Auto-converge")
        self.postcopy = QCheckBox("Post-copy")
        self.tunnelled = QCheckBox("Tunnelled")
        self.bandwidth = QSpinBox()
        self.bandwidth.setRange(0, 100_000)
        self.bandwidth.setSpecialValueText("unlimited")
        self.bandwidth.setSuffix(" MiB/s")
        self.downtime = QSpinBox()
        self.downtime.setRange(0, 60_000)
        self.downtime.setSpecialValueText("hypervisor default")
        self.downtime.setSuffix(" ms")
        self.stall = QDoubleSpinBox()
        self.stall.setRange(0, 3600)
        self.stall.setValue(30)
        self.stall.setSpecialValueText("never")
        self.stall.setSuffix(" s")
        self.address = QLineEdit()
        self.address.setPlaceholderText("the destination's own choice")

        options = QGroupBox("Options")
        form = QFormLayout(options)
        form.addRow("Method:", self.method)
        form.addRow(self.persistent)
        form.addRow(_hint("Without it, the machine exists on the destination only while it runs."))
        form.addRow(self.undefine)
        form.addRow(self.auto_converge)
        form.addRow(_hint("Slows the machine's CPUs when its memory changes faster than it can be sent."))
        form.addRow(self.postcopy)
        form.addRow(_hint("After the first pass the machine runs on the destination and fetches the rest "
                          "on demand: it always finishes, but a network failure then loses the machine."))
        form.addRow(self.tunnelled)
        form.addRow(_hint("Sends the data through the libvirt connection (peer-to-peer only, slower)."))
        form.addRow("Bandwidth:", self.bandwidth)
        form.addRow("Max downtime:", self.downtime)
        form.addRow("Abort when stalled for:", self.stall)
        form.addRow("Migration address:", self.address)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.hide()  # until a migration runs
        self.progress_text = plain_label()  # a task's summary or outcome, naming machines
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.migrate_button = self.buttons.addButton("Migrate", QDialogButtonBox.ButtonRole.AcceptRole)
        self.abort_button = self.buttons.addButton("Abort", QDialogButtonBox.ButtonRole.ActionRole)
        self.abort_button.setEnabled(False)
        self.migrate_button.setEnabled(False)
        self.buttons.rejected.connect(self.reject)
        self.migrate_button.clicked.connect(self._migrate)
        self.abort_button.clicked.connect(self._abort)

        left = QVBoxLayout()
        left.addWidget(rich_label(f"<b>{esc(machine.name)}</b> on {esc(source.label if source else machine.host_uri)} "
                                  f"({esc(machine.state)})"))
        left.addWidget(QLabel("Destination:"))
        left.addWidget(self.destinations, 1)
        left.addWidget(options)
        right = QVBoxLayout()
        right.addWidget(QLabel("What both hosts support:"))
        right.addWidget(self.table, 1)
        right.addWidget(self.plan)
        right.addWidget(self.progress)
        right.addWidget(self.progress_text)
        top = QHBoxLayout()
        top.addLayout(left, 2)
        top.addLayout(right, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addWidget(self.buttons)

        for host in inventory.hosts.values():
            if host.uri == machine.host_uri:
                continue
            maintenance = marks.words(host.uri) if marks is not None else ""
            why = "not connected" if not host.connected else "in maintenance" if maintenance else ""
            item = QListWidgetItem(f"{host.label} — {why or 'checking…'}")
            item.setData(URI_ROLE, host.uri)
            if why:  # greyed, never negotiated: no destination
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip(tooltip(host.reason or "not connected" if not host.connected else maintenance))
            self.destinations.addItem(item)
        self.destinations.currentItemChanged.connect(lambda *_: self._show_current())
        for box in (self.persistent, self.undefine, self.auto_converge, self.postcopy, self.tunnelled):
            box.toggled.connect(self._redecide)
        self.method.currentIndexChanged.connect(self._redecide)
        follow(tasks.task_changed, self, self._on_task_changed)
        self.checking = spawn(self._negotiate_all())

    # ----- negotiation ---------------------------------------------------------------------
    def options(self) -> MigrationOptions:
        return MigrationOptions(
            persistent=self.persistent.isChecked(), undefine_source=self.undefine.isChecked(),
            bandwidth_mib=self.bandwidth.value(), max_downtime_ms=self.downtime.value(),
            auto_converge=self.auto_converge.isChecked(), postcopy=self.postcopy.isChecked(),
            tunnelled=self.tunnelled.isChecked(), migration_address=self.address.text().strip(),
            method=self.method.currentData() or "", stall_timeout_s=self.stall.value())

    async def _negotiate_all(self) -> None:
        for row in range(self.destinations.count()):
            item = self.destinations.item(row)
            uri = item.data(URI_ROLE)
            if not item.flags() & Qt.ItemFlag.ItemIsEnabled:
                continue
            try:
                self.negotiations[uri] = await self.migrations.negotiate(
                    self.machine.host_uri, self.machine.uuid, uri, self.options())
            except HypervisorError as error:
                item.setText(f"{self.inventory.hosts[uri].label} — cannot be checked")
                item.setToolTip(tooltip(error.one_line()))
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
        self._redecide()
        if self.destinations.currentItem() is None:
            for row in range(self.destinations.count()):
                if self.destinations.item(row).flags() & Qt.ItemFlag.ItemIsEnabled:
                    self.destinations.setCurrentRow(row)
                    break
        if not self.negotiations:
            self.plan.setText("No connected host to migrate to.")

    def _redecide(self, *_args) -> None:
        options = self.options()
        for row in range(self.destinations.count()):
            item = self.destinations.item(row)
            negotiation = self.negotiations.get(item.data(URI_ROLE))
            if negotiation is None:
                continue
            negotiation.facts.options = options
            negotiation.decision = decide(negotiation.facts)
            label = self.inventory.hosts[item.data(URI_ROLE)].label
            decision = negotiation.decision
            item.setText(f"{label} — {decision.method}" if decision.allowed else f"{label} — cannot migrate")
            item.setToolTip(tooltip(decision.reason() or f"method: {decision.method}"))
            # Refused destinations stay selectable, so their table says why, but show greyed.
            item.setForeground(QBrush(QColor("#000000" if decision.allowed else "#8a8a8a")))
        self._show_current()

    def current(self) -> Negotiation | None:
        item = self.destinations.currentItem()
        return self.negotiations.get(item.data(URI_ROLE)) if item is not None else None

    def _show_current(self) -> None:
        negotiation = self.current()
        self.table.setRowCount(0)
        if negotiation is None:
            self.migrate_button.setEnabled(False)
            return
        methods = self.tried if self.tried is not None else negotiation.methods()
        self._fill_table(negotiation.decision.results + as_check_rows(methods))
        decision = negotiation.decision
        if decision.allowed:
            fallbacks = [row.label for row in negotiation.methods() if row.verdict == ladder.CANDIDATE][1:]
            self.plan.setText(f"<b>Plan:</b> {esc(decision.method)} "
                              f"(both hosts checked in {negotiation.elapsed_ms:.0f} ms)"
                              + (f"; if libvirt refuses it: {esc(', then '.join(fallbacks))}" if fallbacks else ""))
        else:  # a check's note and remedy quote what the hosts said: data
            reasons = "".join(f"<li><b>{esc(r.name)}</b>: {esc(r.note)} <i>{esc(r.remedy)}</i></li>"
                              for r in decision.refused_because)
            self.plan.setText(f"<b>Cannot migrate:</b><ul>{reasons}</ul>")
        self.migrate_button.setEnabled(decision.allowed and self.step is None)

    def _fill_table(self, results: list[CheckResult]) -> None:
        """The checks, then a row per way of migrating: the CLI's rows. Every cell is plain text
        (a QTableWidgetItem never renders markup); tooltips through ``tooltip``."""
        self.table.setRowCount(0)
        for result in results:
            row = self.table.rowCount()
            self.table.insertRow(row)
            for column, text in enumerate((result.name, result.source, result.destination, result.verdict.upper())):
                cell = QTableWidgetItem(text)
                tip = " ".join(p for p in (result.note, result.remedy and f"Remedy: {result.remedy}") if p)
                cell.setToolTip(tooltip(tip or text))
                if column == 3:
                    cell.setForeground(QBrush(readable_text(VERDICT_COLOURS.get(result.verdict, "#6b6b6b"))))
                self.table.setItem(row, column, cell)

    # ----- running ---------------------------------------------------------------------------
    def _migrate(self) -> None:
        negotiation = self.current()
        if negotiation is None or not negotiation.decision.allowed:
            return
        negotiation.facts.options = self.options()
        self.migrate_button.setEnabled(False)
        self.destinations.setEnabled(False)
        self.progress.show()
        self.progress_text.setText("Starting…")
        self.tried = None
        self.running = spawn(self._run(negotiation))

    async def _run(self, negotiation: Negotiation) -> None:
        root = await self.migrations.run(negotiation)
        self.abort_button.setEnabled(False)
        if root.status == SUCCEEDED:
            self.progress.setValue(100)
            self.progress_text.setText(root.children[-1].summary)
        else:
            self.progress_text.setText(f"{root.status}: {root.outcome}")
            self.show_errors(f"{root.title}: {root.status}",
                                    what_failed(root))

    def _on_task_changed(self, record: TaskRecord) -> None:
        if record.op != "migrate_domain" or record.target_uuid != self.machine.uuid:
            return
        self.tried = tried_rows(record.params)  # live: each way of migrating as it is tried or refused
        self._show_current()
        if record.finished:
            return
        self.step = record
        self.abort_button.setEnabled(record.root().cancel is not None)
        self.progress.setValue(record.progress)
        self.progress_text.setText(record.summary or record.status)

    def _abort(self) -> None:
        if self.step is not None and self.step.root().cancel is not None:
            self.step.root().cancel()
            self.abort_button.setEnabled(False)
            self.progress_text.setText("Aborting…")


def open_migration_dialog(parent: QWidget, inventory: Inventory, tasks: TaskService, migrations: MigrationService,
                          marks: MarkWatch | None, machine: MachineInfo,
                          show_errors: Callable[[str, list], object]) -> MigrationDialog:
    dialog = MigrationDialog(inventory, tasks, migrations, marks, machine, show_errors, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
