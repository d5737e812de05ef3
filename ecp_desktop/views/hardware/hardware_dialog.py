"""Machine → Edit Hardware…: sections that edit a pending change set (CPU & memory and boot &
options here, the disk and interface lists in ``hardware_pages``), a Review with the diff of
the definition and, per change, whether it applies now or at the next boot, and Apply, which
runs the edit as one task (the tasks pane shows it; a failure puts the previous definition
back). The machine is read in the host's worker when the dialog opens; the plan is computed
from that reading (no libvirt call) as the user edits; Apply runs on the task engine. The
GUI thread never waits on libvirt or the database. The dialog is deleted when it closes: an
answer that comes later touches none of its widgets (a failed Apply is still reported by the
window's error dialog).

Opened to revert to a recorded version (``revert_to``), the dialog reads that version too and
shows, instead of the sections, Edit Hardware's review of the revert (``hardware.revert``):
the same diff, the same "now" or "next boot" per change, the same Apply; or why the version
cannot be reverted."""
from __future__ import annotations

from collections.abc import Callable

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QFormLayout, QLineEdit, QListWidget,
                               QListWidgetItem, QPlainTextEdit, QPushButton, QSpinBox, QTabWidget, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from ...services.core.aio import spawn
from ...services.core.errors import HypervisorError
from ...services.hardware.changes import MAX_TITLE, MIN_MEMORY_MIB, ChangeSet
from ...services.hardware.facts import HardwareFacts
from ...services.hardware.hotplug import NEXT_BOOT
from ...services.hardware.revert import plan_revert
from ...services.hardware.service import HardwareOutcome, HardwarePlan, HardwareService, PlanError, plan
from ...services.history import versions as history
from ...services.actions.rename import state_problem
from ...services.inventory.machines import MachineInfo
from .hardware_pages import KEY, DisksPage, NetworkPage, row_of
from ..common.plain import problem_style, plain_label, tooltip
from ...services.tasks.tree import what_failed
from ..common.discard_guard import AsksBeforeDiscarding

log = logging.getLogger(__name__)


class CpuMemoryPage(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.original: tuple[int, int, int, int] = (0, 0, 0, 0)
        self.vcpus, self.max_vcpus = QSpinBox(), QSpinBox()
        self.memory, self.max_memory = QSpinBox(), QSpinBox()
        for box in (self.memory, self.max_memory):
            box.setRange(MIN_MEMORY_MIB, 1 << 30)
            box.setSuffix(" MiB")
            box.setSingleStep(256)
        for box in (self.vcpus, self.max_vcpus, self.memory, self.max_memory):
            box.valueChanged.connect(self.changed)
        self.live = plain_label(wrap=True)
        form = QFormLayout(self)
        form.addRow("vCPUs:", self.vcpus)
        form.addRow("Maximum vCPUs:", self.max_vcpus)
        form.addRow("Memory:", self.memory)
        form.addRow("Maximum memory:", self.max_memory)
        form.addRow(self.live)

    def load(self, facts: HardwareFacts) -> None:
        d = facts.definition
        self.original = (d.vcpus, facts.max_vcpus or d.vcpus, (d.current_memory_kib or d.memory_kib) // 1024,
                         d.memory_kib // 1024)
        for box, value in zip((self.vcpus, self.max_vcpus, self.memory, self.max_memory), self.original, strict=True):
            box.blockSignals(True)
            if box in (self.vcpus, self.max_vcpus):
                box.setRange(1, max(facts.host_max_vcpus, value))
            box.setValue(value)
            box.blockSignals(False)
        self.live.setText(f"Running now with {facts.live_vcpus} vCPUs (at most {facts.live_max_vcpus}) and "
                          f"{facts.live_memory_kib // 1024} MiB (at most {facts.live_max_memory_kib // 1024} MiB) "
                          "until it restarts." if facts.running else f"{facts.name} is shut off.")

    def contribute(self, changes: ChangeSet) -> None:
        now = (self.vcpus.value(), self.max_vcpus.value(), self.memory.value(), self.max_memory.value())
        names = ("vcpus", "max_vcpus", "memory_mib", "max_memory_mib")
        for name, value, before in zip(names, now, self.original, strict=True):
            if value != before:
                setattr(changes, name, value)


class OptionsPage(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.facts: HardwareFacts | None = None
        self.boot_touched = False
        self.boot = QListWidget()
        self.boot.itemChanged.connect(self._boot_changed)
        up, down = QPushButton("Up"), QPushButton("Down")
        up.clicked.connect(lambda: self._move(-1))
        down.clicked.connect(lambda: self._move(1))
        self.boot_note = plain_label(wrap=True)
        self.autostart = QCheckBox("Start this machine when its host starts")
        self.title = QLineEdit()
        self.title.setMaxLength(MAX_TITLE)
        self.description = QPlainTextEdit()
        self.autostart.toggled.connect(self.changed)
        self.title.textChanged.connect(self.changed)
        self.description.textChanged.connect(self.changed)
        form = QFormLayout(self)
        form.addRow("Boot from (ticked, in order):", self.boot)
        form.addRow("", row_of(up, down, None))
        form.addRow("", self.boot_note)
        form.addRow(self.autostart)
        form.addRow("Title:", self.title)
        form.addRow("Description:", self.description)

    def load(self, facts: HardwareFacts) -> None:
        self.facts, self.boot_touched = facts, False
        boot_order = facts.definition.boot_order
        boot_types = [boot.dev for boot in facts.definition.boot_devices]
        keys = [d.target for d in facts.disks] + [n.mac.lower() for n in facts.definition.interfaces]
        ordered = [k for k in boot_order if k in keys] + [k for k in keys if k not in boot_order]
        self.boot.blockSignals(True)
        self.boot.clear()
        for key in ordered:
            item = QListWidgetItem(key)
            item.setData(KEY, key)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if key in boot_order else Qt.CheckState.Unchecked)
            self.boot.addItem(item)
        self.boot.blockSignals(False)
        self.boot_note.setText("Now: by device type (" + ", ".join(boot_types) + "); ticking devices "
                               "replaces it." if boot_types else "")
        for widget in (self.autostart, self.title, self.description):
            widget.blockSignals(True)
        self.autostart.setChecked(facts.autostart)
        self.title.setText(facts.definition.title)
        self.description.setPlainText(facts.definition.description)
        for widget in (self.autostart, self.title, self.description):
            widget.blockSignals(False)

    def _boot_changed(self, *_args) -> None:
        self.boot_touched = True
        self.changed.emit()

    def _move(self, step: int) -> None:
        row = self.boot.currentRow()
        if row < 0 or not 0 <= row + step < self.boot.count():
            return
        item = self.boot.takeItem(row)
        self.boot.insertItem(row + step, item)
        self.boot.setCurrentRow(row + step)
        self._boot_changed()

    def contribute(self, changes: ChangeSet) -> None:
        if self.boot_touched:
            changes.boot_order = [self.boot.item(i).data(KEY) for i in range(self.boot.count())
                                  if self.boot.item(i).checkState() == Qt.CheckState.Checked]
        if self.autostart.isChecked() != self.facts.autostart:
            changes.autostart = self.autostart.isChecked()
        if self.title.text() != self.facts.definition.title:
            changes.title = self.title.text()
        if self.description.toPlainText() != self.facts.definition.description:
            changes.description = self.description.toPlainText()


class HardwareDialog(AsksBeforeDiscarding, QDialog):
    loaded = Signal()            # the machine was read (or could not be: ``status`` says why)
    applied = Signal(object)     # HardwareOutcome, when Apply has run

    def __init__(self, hardware: HardwareService, machine: MachineInfo, parent: QWidget | None = None, *,
                 show_errors: Callable[[str, list], object] | None = None,
                 show_tasks: Callable[[], object] | None = None,
                 rename: Callable[[MachineInfo], QDialog] | None = None,
                 revert_to: history.Version | None = None) -> None:
        """``rename``: opens the window's Rename dialog (F2's) for a machine; ``revert_to``:
        the recorded version the dialog reverts the machine to (no sections to edit then)."""
        super().__init__(parent)
        self.hardware, self.machine = hardware, machine
        self.revert_to = revert_to
        self.revert_xml = ""  # the version's stored definition, once read
        self._rename = rename
        self.facts: HardwareFacts | None = None
        self.planned: HardwarePlan | None = None
        self.outcome: HardwareOutcome | None = None
        self._running = None
        self._show_errors, self._show_tasks = show_errors, show_tasks  # the window's, closed dialog or not
        self._closed = False   # set when it closes (and is deleted): late answers touch no widget
        self.finished.connect(self._on_finished)
        self.setWindowTitle(f"Edit Hardware: {machine.name}" if revert_to is None else
                            f"Revert {machine.name} to Version {revert_to.number}")
        self.resize(760, 600)

        self.cpu, self.disks, self.network, self.options = CpuMemoryPage(), DisksPage(), NetworkPage(), OptionsPage()
        self.effects = QTreeWidget()
        self.effects.setHeaderLabels(["Change", "When", "Why"])
        self.effects.setRootIsDecorated(False)
        self.effects.setColumnWidth(0, 330)
        self.effects.setColumnWidth(1, 80)
        self.diff = QPlainTextEdit()
        self.diff.setReadOnly(True)  # plain text: the definition is shown, never interpreted
        self.diff.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.diff.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.warning = plain_label(wrap=True)
        self.warning.setStyleSheet(problem_style())
        review = QWidget()
        review_box = QVBoxLayout(review)
        review_box.addWidget(self.effects, 1)
        review_box.addWidget(self.warning)
        review_box.addWidget(self.diff, 2)

        self.tabs = QTabWidget()
        for page, title in ((self.cpu, "CPU && Memory"), (self.disks, "Disks"), (self.network, "Network"),
                            (self.options, "Boot && Options"), (review, "Review")):
            self.tabs.addTab(page, title)
        self.review_tab = review
        self.status = plain_label(wrap=True)  # what is wrong, what runs, what happened
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.apply_button = self.buttons.addButton("Apply", QDialogButtonBox.ButtonRole.ApplyRole)
        self.apply_button.clicked.connect(self.apply)
        self.buttons.rejected.connect(self.reject)
        self.name = plain_label(machine.name, selectable=True)  # a name is data
        self.rename_button = QPushButton("Rename…")
        self.rename_button.clicked.connect(self.open_rename)
        why_not = state_problem(machine) if rename is not None else "renaming is not offered here"
        self.rename_button.setEnabled(why_not is None)
        self.rename_button.setToolTip(tooltip(why_not or f"Rename {machine.name} (F2 in the machine list)"))
        name_row = QFormLayout()
        name_row.addRow("Name:", row_of(self.name, self.rename_button, None))
        box = QVBoxLayout(self)
        box.addLayout(name_row)
        box.addWidget(self.tabs)
        box.addWidget(self.status)
        box.addWidget(self.buttons)

        for page in (self.cpu, self.disks, self.network, self.options):
            page.changed.connect(self.review)
        self.tabs.setEnabled(False)
        self.apply_button.setEnabled(False)
        self.status.setText(f"Reading the hardware of {machine.name}…")

    # ----- reading ---------------------------------------------------------------------------
    def start(self) -> None:
        self._running = spawn(self.read())

    def _on_finished(self, _result: int) -> None:
        self._closed = True

    async def read(self) -> None:
        try:
            facts = await self.hardware.read(self.machine)
            if self.revert_to is not None:
                self.revert_xml = await self.hardware.inventory.executors.on_database(history.text,
                                                                                      self.revert_to.id)
        except Exception as error:  # noqa: BLE001  (said in the status line: never "Reading…" for ever)
            if isinstance(error, HypervisorError):
                words = error.one_line()
            else:
                log.warning("reading the hardware of %s failed", self.machine.name, exc_info=True)
                words = str(error) or type(error).__name__
            if self._closed:
                return
            self.status.setText(f"Cannot read the hardware of {self.machine.name}: {words}")
            self.status.setStyleSheet(problem_style())
            self.loaded.emit()
            return
        if self._closed:
            return
        self.show_facts(facts)
        self.loaded.emit()

    def show_facts(self, facts: HardwareFacts) -> None:
        self.facts = facts
        for page in (self.cpu, self.disks, self.network, self.options):
            page.load(facts)
            page.setEnabled(self.revert_to is None)  # a revert's changes come from the version
        self.tabs.setEnabled(True)
        if self.revert_to is not None:
            self.tabs.setCurrentWidget(self.review_tab)
        self.review()

    # ----- the pending change set and its review ------------------------------------------
    def changes(self) -> ChangeSet:
        changes = ChangeSet()
        for page in (self.cpu, self.disks, self.network, self.options):
            page.contribute(changes)
        return changes

    def has_unsaved_input(self) -> bool:
        """Changes entered and not applied, however entered (a disk added with its defaults,
        the boot order moved); none once Apply ran (applied or not, editing has ended)."""
        return self.facts is not None and self.outcome is None and self.tabs.isEnabled() \
            and self.revert_to is None and not self.changes().is_empty()

    def review(self) -> None:
        """Plan the pending changes (from the reading: no libvirt call) and show the result."""
        if self.facts is None or self.outcome is not None:
            return
        self.planned = None
        self.effects.clear()
        self.warning.setText("")
        changes = self.changes()
        if changes.is_empty() and self.revert_to is None:
            self.diff.setPlainText("")
            self._say("No changes yet.")
            return
        try:
            self.planned = plan(self.facts, changes) if self.revert_to is None else \
                plan_revert(self.facts, self.revert_xml, self.revert_to.number)
        except PlanError as exc:
            self.diff.setPlainText("")
            self._say(("Cannot apply: " if self.revert_to is None else "Cannot revert: ") + "; ".join(exc.problems),
                      error=True)
            return
        for effect in self.planned.effects:
            item = QTreeWidgetItem([effect.change, "now" if effect.when != NEXT_BOOT else "next boot", effect.why])
            item.setToolTip(0, tooltip(effect.change))
            self.effects.addTopLevelItem(item)
        deleted = self.planned.deleted_volumes
        if deleted:
            self.warning.setText(f"Deletes volume {', '.join(deleted)} after the rest succeeded: its data cannot "
                                 "be brought back, not even by an undo.")
        self.diff.setPlainText(self.planned.diff)
        waiting = len(self.planned.schedule.waiting)
        self._say(f"{len(self.planned.effects)} change(s)" + (f", {waiting} waiting for the next boot" if waiting
                                                               else "") + ". See Review.")

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(problem_style() if error else "")
        self.apply_button.setEnabled(self.planned is not None and not error)
        self.apply_button.setToolTip(tooltip("" if self.planned is not None else text))

    # ----- applying ----------------------------------------------------------------------------
    def apply(self) -> None:
        if self.planned is None or (self._running is not None and not self._running.done()):
            return
        self.tabs.setEnabled(False)
        self.apply_button.setEnabled(False)
        self.status.setText(f"Applying… (the tasks pane shows “{self.planned.flow.title}”)")
        if self._show_tasks is not None:
            self._show_tasks()
        self._running = spawn(self._apply(self.planned))

    async def _apply(self, planned: HardwarePlan) -> None:
        outcome = await self.hardware.run(planned)
        self.outcome = outcome
        if not outcome.applied and self._show_errors is not None:
            record = outcome.record
            self._show_errors(f"{record.title}: {record.status}", what_failed(record))
        if self._closed:
            return
        self.status.setText(outcome.words())
        self.status.setStyleSheet("" if outcome.applied else problem_style())
        self.applied.emit(outcome)


    def open_rename(self) -> QDialog | None:
        """Name: Rename… — the window's Rename dialog; once it renames, this dialog says the new name."""
        if self._rename is None or self._closed:
            return None
        dialog = self._rename(self.machine)

        def renamed() -> None:
            if not self._closed:
                new = dialog.name.text()
                self.name.setText(new)
                self.setWindowTitle(f"Edit Hardware: {new}")
        dialog.accepted.connect(renamed)
        return dialog


def open_hardware_dialog(parent: QWidget | None, hardware: HardwareService, machine: MachineInfo, *,
                         show_errors: Callable[[str, list], object] | None = None,
                         show_tasks: Callable[[], object] | None = None,
                         rename: Callable[[MachineInfo], QDialog] | None = None,
                         revert_to: history.Version | None = None) -> HardwareDialog:
    """Open Edit Hardware for ``machine`` (``show_tasks`` when Apply runs, ``show_errors`` when the
    edit fails, ``rename`` for its Rename… button, ``revert_to`` to review and apply a revert
    to that version)."""
    dialog = HardwareDialog(hardware, machine, parent, show_errors=show_errors, show_tasks=show_tasks,
                            rename=rename, revert_to=revert_to)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    dialog.start()
    return dialog
