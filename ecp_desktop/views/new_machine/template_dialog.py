"""Machine → New Machines from Template: template, count, name, start or not.

Every machine of the inventory is listed; one that cannot be a template is greyed with the
reason (running, crashed, its host not connected, a disk that cannot be copied), as the
migration dialog greys destinations. The machine selected in the window is preselected even
then, so the user sees why. Disks are checked on the host in the background when the dialog
opens (the chosen machine first; reads only) with the same rules the plan applies, so a
refusal comes before Create, never after. Names are previewed and checked as they are typed.
"""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit,
                               QSpinBox, QWidget)

from ...services.core.aio import spawn
from ...services.inventory.live import Inventory
from ...services.inventory.machines import MachineInfo
from ...services.tasks.records import SUCCEEDED
from ...services.actions.templates import (MAX_COUNT, PlanError, Template, TemplateService, clone_pattern,
                                           expand_names, state_problem)
from ...services.maintenance.watch import MarkWatch
from ...services.core.names import pattern_from_name
from ...services.hosts.states import STATE_LABELS
from ..common.plain import problem_style, plain_label, tooltip
from ...services.tasks.tree import what_failed
from ..common.discard_guard import AsksBeforeDiscarding

MACHINE_ROLE = Qt.ItemDataRole.UserRole
CHECK_BATCH = 25  # machines read per host call in the background (a host's other calls go between)
GREY = QColor("#8a8a8a")


def _state(state: str) -> str:
    return STATE_LABELS.get(state, state)


class TemplateRows(QAbstractListModel):
    """The machines, in a fixed order; what a row says is asked of ``describe`` when Qt draws
    it (a fleet's 100,000 rows cost nothing until shown). ``changed`` after a row's facts do."""

    def __init__(self, machines: list[MachineInfo], describe, parent=None) -> None:
        super().__init__(parent)
        self.machines = machines
        self.describe = describe  # machine -> (text, reason it cannot be used or "")
        self.row_of = {m.key: row for row, m in enumerate(machines)}

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.machines)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.machines):
            return None
        machine = self.machines[index.row()]
        if role == MACHINE_ROLE:
            return machine
        if role == Qt.ItemDataRole.DisplayRole:
            return self.describe(machine)[0]  # a list row's text is never markup
        if role == Qt.ItemDataRole.ToolTipRole:
            return tooltip(self.describe(machine)[1]) or None
        if role == Qt.ItemDataRole.ForegroundRole:
            return QBrush(GREY) if self.describe(machine)[1] else None
        return None

    def all_changed(self) -> None:
        """Every row may read differently (the dialog's choices changed what can be copied)."""
        if self.machines:
            self.dataChanged.emit(self.index(0), self.index(len(self.machines) - 1))

    def changed(self, keys) -> None:
        for key in keys:
            row = self.row_of.get(key)
            if row is not None:
                index = self.index(row)
                self.dataChanged.emit(index, index)


class TemplateDialog(AsksBeforeDiscarding, QDialog):
    # host URI, template UUID, count, name pattern, start, leave out the disks that cannot be
    # copied, linked clones
    requested = Signal(str, str, int, str, bool, bool, bool)

    def __init__(self, inventory: Inventory, preselect: MachineInfo | None = None,
                 parent: QWidget | None = None, *, templates=None, maintenance: dict | None = None) -> None:
        super().__init__(parent)
        self.inventory = inventory
        self.templates = templates  # TemplateService: reads the disks; None: the plan checks them
        self.maintenance = maintenance or {}  # hosts in maintenance (maintenance.mark.Mark by URI)
        self.checks: dict[tuple[str, str], Template | str] = {}  # by machine key: read, or why not
        self._checking = None
        self._scan = 0  # where the background checks have got to in the list
        self._auto = preselect is None  # the choice is ours until the user makes one
        self._closed = False
        self.setWindowTitle("New Machines from Template")
        self.resize(560, 320)

        self.reason = plain_label(wrap=True)  # why the chosen machine cannot be used, or what is copied
        self.leave_out = QCheckBox()
        self.leave_out.hide()  # shown for a template with disks that cannot be copied
        self.linked = QCheckBox("Linked clones: each disk an overlay reading the template's disk")
        self.linked.setToolTip("Made in an instant and holding only what the new machine writes. The template "
                               "becomes their base: it must be shut off, and stay so (starting it would change "
                               "what the clones read).")
        machines = list(inventory.machines.values())
        if preselect is not None and preselect.key not in inventory.machines:
            machines.append(preselect)
        # Usable ones first (as far as the inventory tells), each group by name.
        machines.sort(key=lambda m: (self._static_problem(m) is not None, m.name.casefold(), m.host_uri))
        self.rows = TemplateRows(machines, self._describe, self)
        self.template = QComboBox()
        self.template.setModel(self.rows)
        self.template.setMaxVisibleItems(20)
        self.template.view().setUniformItemSizes(True)
        # Sized by a length, not by measuring every row (a fleet's would take seconds).
        self.template.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.template.setMinimumContentsLength(48)
        if preselect is not None:
            self.template.setCurrentIndex(self.rows.row_of[preselect.key])

        self.count = QSpinBox()
        self.count.setRange(1, MAX_COUNT)
        self.count.setValue(3)
        self.pattern = QLineEdit()
        self.pattern.setToolTip("{n} is the machine's number, from 1; {n:03} pads it to three digits. "
                                "One machine can have a plain name.")
        self.start = QCheckBox("Start each machine once it is defined")
        self.preview = plain_label(wrap=True)  # names, and refusals quoting them
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.create_button = self.buttons.addButton("Create", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)

        form = QFormLayout(self)
        form.addRow("Template:", self.template)
        form.addRow("", self.reason)
        form.addRow("", self.leave_out)
        form.addRow("How many:", self.count)
        form.addRow("Name:", self.pattern)
        form.addRow("", self.start)
        form.addRow("", self.linked)
        form.addRow("Names:", self.preview)
        self.note = QLabel()
        self.note.setWordWrap(True)
        form.addRow(self.note)
        form.addRow(self.buttons)

        self.template.currentIndexChanged.connect(self._template_changed)
        self.leave_out.toggled.connect(self._leave_out_toggled)
        self.linked.toggled.connect(self._linked_toggled)
        self.count.valueChanged.connect(self._check)
        self.pattern.textChanged.connect(self._check)
        self.finished.connect(self._on_finished)
        self.template.activated.connect(self._user_chose)
        self.pattern.textEdited.connect(self._user_chose)
        self._say_what_each_gets()
        self._template_changed()

    # ----- what each machine is ------------------------------------------------------------
    def chosen(self) -> MachineInfo | None:
        return self.template.currentData(MACHINE_ROLE)

    def _static_problem(self, machine: MachineInfo) -> tuple[str, str] | None:
        """(short, reason) from what the inventory knows, without asking the host."""
        host = self.inventory.hosts.get(machine.host_uri)
        if not machine.live or host is None or not host.connected:
            label = host.label if host is not None else machine.host_uri
            why = (host.reason if host is not None else "") or "not connected"
            return ("host not connected", f"its host {label} is not connected ({why}); "
                    f"“{_state(machine.state)}” is only its last known state")
        maintenance = self.maintenance.get(machine.host_uri)
        if maintenance is not None:  # no new machines on a host being emptied
            return ("host in maintenance", f"{host.label} is {maintenance.words().removeprefix('its host is ')}")
        problem = state_problem(machine.name, machine.state, linked=self.linked.isChecked())
        return (_state(machine.state), problem) if problem else None

    def problem_of(self, machine: MachineInfo) -> tuple[str, str] | None:
        """(short, reason) this machine cannot be a template for, as far as known now."""
        problem = self._static_problem(machine)
        if problem is not None:
            return problem
        checked = self.checks.get(machine.key)
        if isinstance(checked, str):
            return ("cannot be read", f"{machine.name} {checked}")
        if isinstance(checked, Template):
            # As the host says now.
            state = state_problem(checked.name, checked.state, linked=self.linked.isChecked())
            if state is not None:
                return (_state(checked.state), state)
            linked = checked.problem(leave_out_disks=True, linked=True) if self.linked.isChecked() else None
            if linked is not None:
                return ("no linked clone", linked)
            if checked.uncopyable and not self.leave_out.isChecked():
                return ("; ".join(u.short for u in checked.uncopyable), checked.problem())
        return None

    def _needs_check(self, machine: MachineInfo) -> bool:
        return self.templates is not None and machine.key not in self.checks \
            and self._static_problem(machine) is None

    def _describe(self, machine: MachineInfo) -> tuple[str, str]:
        """A row: its text, and why it cannot be used ("" when it can)."""
        host = self.inventory.hosts.get(machine.host_uri)
        text = f"{machine.name}  ({host.label if host else machine.host_uri})"
        problem = self.problem_of(machine)
        checked = self.checks.get(machine.key)
        if problem is not None:
            return f"{text} — {problem[0]}", problem[1]
        if isinstance(checked, Template) and checked.uncopyable:
            text += f" — without disk {', '.join(u.target for u in checked.uncopyable)}"
        return text, ""

    # ----- checking the disks on the host ------------------------------------------------------
    def checking(self) -> bool:
        return self._checking is not None and not self._checking.done()

    def _want_checks(self) -> None:
        if not self._closed and not self.checking() and self._next_batch() is not None:
            self._checking = spawn(self._check_loop())

    def _next_batch(self) -> tuple[str, list[MachineInfo]] | None:
        current = self.chosen()
        if current is not None and self._needs_check(current):
            return current.host_uri, [current]
        batch: list[MachineInfo] = []
        machines = self.rows.machines
        while self._scan < len(machines) and not self._needs_check(machines[self._scan]):
            self._scan += 1  # the background pass goes down the list once
        for machine in machines[self._scan:self._scan + CHECK_BATCH * 4]:
            if self._needs_check(machine) and (not batch or machine.host_uri == batch[0].host_uri):
                batch.append(machine)
                if len(batch) == CHECK_BATCH:
                    break
        return (batch[0].host_uri, batch) if batch else None

    async def _check_loop(self) -> None:
        while not self._closed:
            batch = self._next_batch()
            if batch is None:
                return
            uri, machines = batch
            try:
                read = await self.templates.check(uri, [m.uuid for m in machines])
            except Exception as exc:  # noqa: BLE001 (shown as the reason, never left "checking")
                read = {m.uuid: f"cannot be checked: {exc}" for m in machines}
            if self._closed:
                return
            for machine in machines:
                self.checks[machine.key] = read.get(machine.uuid, "cannot be read: the host did not say")
            self.rows.changed([m.key for m in machines])
            if self.chosen() in machines:
                if self._auto and self.problem_of(self.chosen()) is not None:
                    self._choose_another()
                self._show_template()
                self._check()

    def _user_chose(self, *_args) -> None:
        self._auto = False

    def as_clone(self) -> None:
        """Machine → Clone…: one copy of the chosen machine, named NAME-clone (the next free name)."""
        machine = self.chosen()
        if machine is None:
            return
        self.setWindowTitle(f"Clone {machine.name}")
        self.start.setText("Start the copy once it is defined")
        self.linked.setText("Linked clone: each disk an overlay reading this machine's disk")
        self.count.setValue(1)
        taken = {m.name for m in self.inventory.machines_of(machine.host_uri)}
        self.pattern.setText(clone_pattern(machine.name, 1, taken))
        self._user_chose()

    def _choose_another(self) -> None:
        """Nothing was selected and our first choice turned out unusable: the next that may be."""
        current = self.template.currentIndex()
        for row, machine in enumerate(self.rows.machines):
            if row != current and self.problem_of(machine) is None:
                self.template.setCurrentIndex(row)  # checked next, first
                return

    # ----- the form ----------------------------------------------------------------------------
    def _template_changed(self) -> None:
        machine = self.chosen()
        if machine is not None:
            self.pattern.setText(pattern_from_name(machine.name))
        self._show_template()
        self._check()
        self._want_checks()

    def _leave_out_toggled(self) -> None:
        self.rows.changed([key for key, checked in self.checks.items()
                           if isinstance(checked, Template) and checked.uncopyable])
        self._show_template()
        self._check()

    def _say_what_each_gets(self) -> None:
        disks = ("an overlay on each of the template's disks in the same storage pool (the template stays "
                 "their base: keep it shut off)" if self.linked.isChecked()
                 else "copies of the template's disks in the same storage pool")
        self.note.setText(f"Each machine gets {disks}, a new UUID and new MAC addresses. If a step fails, "
                          "everything created so far is removed.")

    def _linked_toggled(self) -> None:
        self._say_what_each_gets()
        self.rows.all_changed()
        self._show_template()
        self._check()

    def _show_template(self) -> None:
        """The line under the template: why it cannot be used, or what each machine gets."""
        machine = self.chosen()
        checked = self.checks.get(machine.key) if machine is not None else None
        uncopyable = checked.uncopyable if isinstance(checked, Template) else []
        # Leaving disks out would make it usable.
        disk_only = bool(uncopyable) and self._static_problem(machine) is None \
            and state_problem(checked.name, checked.state, linked=self.linked.isChecked()) is None
        them = "them" if len(uncopyable) > 1 else "it"
        if disk_only:
            disks = ", ".join(u.target for u in uncopyable).replace("&", "&&")  # & is no shortcut here
            self.leave_out.setText(f"Leave out disk {disks}: the new machines get no copy of {them}")
        self.leave_out.setVisible(disk_only)
        problem = self.problem_of(machine) if machine is not None else None
        if problem is not None:
            self.reason.setText(problem[1] + (f", or leave {them} out below." if disk_only else ""))
            self.reason.setStyleSheet(problem_style())
            return
        self.reason.setStyleSheet("")
        if isinstance(checked, Template):
            copied = ", ".join(f"{d.target} (pool {d.pool})" for d in checked.disks)
            verb = "Makes an overlay on disk" if self.linked.isChecked() else "Copies disk"
            self.reason.setText((f"{verb} {copied}" if copied else "No disk to copy")
                                + (f"; leaves out disk {', '.join(u.target for u in uncopyable)}"
                                   if uncopyable else "") + ".")
        elif machine is not None and self._needs_check(machine):
            self.reason.setText(f"Checking the disks of {machine.name}…")
        else:
            self.reason.setText("")

    def leaves_out_disks(self) -> bool:
        checked = self.checks.get(self.chosen().key) if self.chosen() is not None else None
        return self.leave_out.isChecked() and isinstance(checked, Template) and bool(checked.uncopyable)

    def names(self) -> list[str]:
        """The names to create, or PlanError saying why not."""
        machine = self.chosen()
        if machine is None:
            raise PlanError("no machine to use as a template")
        names = expand_names(self.pattern.text(), self.count.value())
        taken = {m.name for m in self.inventory.machines_of(machine.host_uri)} & set(names)
        if taken:
            raise PlanError(f"already on this host: {', '.join(sorted(taken)[:5])}")
        return names

    def refusal(self) -> str | None:
        """Why Create is disabled, or None when it is enabled."""
        machine = self.chosen()
        if machine is None:
            return "There is no machine to use as a template."
        problem = self.problem_of(machine)
        if problem is not None:
            return f"{machine.name} cannot be used as a template: {problem[1]}"
        if self._needs_check(machine):
            return f"Checking the disks of {machine.name}…"
        try:
            self.names()
        except PlanError as exc:
            return f"The names cannot be used: {exc}"
        return None

    def _check(self) -> None:
        try:
            names = self.names()
        except PlanError as exc:
            self.preview.setText(str(exc))
            self.preview.setStyleSheet(problem_style())
        else:
            shown = ", ".join(names[:4]) + (f", … {names[-1]}" if len(names) > 4 else "")
            self.preview.setText(shown)
            self.preview.setStyleSheet("")
        refusal = self.refusal()
        self.create_button.setEnabled(refusal is None)
        self.create_button.setToolTip(tooltip(refusal or ""))

    def _accept(self) -> None:
        machine = self.chosen()
        if machine is None or self.refusal() is not None:
            return
        self.requested.emit(machine.host_uri, machine.uuid, self.count.value(), self.pattern.text(),
                            self.start.isChecked(), self.leaves_out_disks(), self.linked.isChecked())
        self.accept()

    def _on_finished(self, _result: int) -> None:
        self._closed = True  # a check still running drops its answer


def open_template_dialog(parent: QWidget, inventory, templates: TemplateService, marks: MarkWatch | None,
                         preselect: MachineInfo | None, show_errors: Callable[[str, list], object],
                         show_tasks: Callable[[], object]) -> TemplateDialog:
    """Open the dialog; a request runs as a flow (its failures to ``show_errors``)."""
    dialog = TemplateDialog(inventory, preselect, parent, templates=templates,
                            maintenance=marks.marks if marks is not None else None)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.requested.connect(lambda *request: spawn(create_from_template(templates, show_errors, show_tasks,
                                                                         *request)))
    dialog.open()
    return dialog


async def create_from_template(templates: TemplateService, show_errors: Callable[[str, list], object],
                               show_tasks: Callable[[], object], uri: str, uuid: str, count: int, pattern: str,
                               start: bool, leave_out_disks: bool = False, linked: bool = False) -> None:
    try:
        flow = await templates.plan(uri, uuid, count, pattern, start=start, leave_out_disks=leave_out_disks,
                                    linked=linked)
    except PlanError as exc:
        show_errors("Cannot create machines from this template", [(pattern, str(exc))])
        return
    show_tasks()
    root = await templates.run(flow)
    if root.status != SUCCEEDED:
        show_errors(f"{root.title}: {root.status}", what_failed(root))
