"""Machine → Delete… (the Delete key): what each selected machine's deletion takes, read from
its host first (services/actions/deletion.py): every disk with its storage and size, ticked
only when no other machine uses it; a running machine needs a second, explicit choice. Then
one flow per machine; a failure opens the error dialog."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QTreeWidget, QTreeWidgetItem, QVBoxLayout,
                               QWidget)

from ...services.actions.deletion import DeletePlan, Deleter
from ...services.core.aio import spawn
from ...services.core.errors import HypervisorError, Refusal
from ...services.inventory.machines import MachineInfo
from ...services.tasks.records import SUCCEEDED
from ...services.tasks.tree import what_failed
from ..common.plain import plain_label, tooltip

GIB = 2**30


class DeleteDialog(QDialog):
    def __init__(self, parent: QWidget | None, deleter: Deleter, machines: list[MachineInfo], show_errors) -> None:
        super().__init__(parent)
        self.deleter, self.machines, self.show_errors = deleter, machines, show_errors
        self.setWindowTitle(f"Delete {machines[0].name}" if len(machines) == 1 else f"Delete {len(machines)} machines")
        self.resize(720, 360)
        self.status = plain_label("Reading what deleting takes…", wrap=True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Machine / disk", "Storage", "Size", "Delete its volume"])
        self.force_off = QCheckBox("Force off the running machines first (what they have not saved is lost)")
        self.force_off.hide()
        self.force_off.toggled.connect(self._enable)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.delete_button = self.buttons.addButton("Delete", QDialogButtonBox.ButtonRole.DestructiveRole)
        self.delete_button.setEnabled(False)
        self.delete_button.clicked.connect(self._delete)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(plain_label("The machines are undefined (with their snapshot metadata, saved state and "
                                     "UEFI variables); then the ticked volumes are deleted. Deleted data does "
                                     "not come back.", wrap=True))
        layout.addWidget(self.tree)
        layout.addWidget(self.force_off)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.plans: list[DeletePlan] = []
        self._disk_items: dict[str, list[tuple[QTreeWidgetItem, str]]] = {}  # machine UUID -> (item, target)
        self.task = spawn(self._read())

    async def _read(self) -> None:
        problems = []
        for machine in self.machines:
            try:
                self.plans.append(await self.deleter.plan(machine))
            except HypervisorError as error:
                problems.append(f"{machine.name}: {error.one_line()}")
        for plan in self.plans:
            top = QTreeWidgetItem([plan.machine.name + (" (running)" if plan.running else ""), "",
                                   "", f"{plan.snapshots} snapshot(s) go with it" if plan.snapshots else ""])
            self.tree.addTopLevelItem(top)
            for disk in plan.disks:
                item = QTreeWidgetItem([f"{disk.target} ({disk.device})", disk.source,
                                        f"{disk.size / GIB:.1f} GiB" if disk.size else "", ""])
                flags = item.flags() | Qt.ItemFlag.ItemIsUserCheckable
                if disk.why_kept:
                    flags &= ~Qt.ItemFlag.ItemIsEnabled
                    item.setText(3, f"kept: {disk.why_kept}")
                    item.setToolTip(3, tooltip(disk.why_kept))
                item.setFlags(flags)
                item.setCheckState(3, Qt.CheckState.Checked if disk.ticked else Qt.CheckState.Unchecked)
                top.addChild(item)
                self._disk_items.setdefault(plan.machine.uuid, []).append((item, disk.target))
            top.setExpanded(True)
        for column in range(3):
            self.tree.resizeColumnToContents(column)
        self.force_off.setVisible(any(p.running for p in self.plans))
        self.status.setText("; ".join(problems))
        self._enable()

    def _enable(self) -> None:
        running = any(p.running for p in self.plans)
        self.delete_button.setEnabled(bool(self.plans) and (not running or self.force_off.isChecked()))

    def chosen(self, plan: DeletePlan) -> set[str]:
        return {target for item, target in self._disk_items.get(plan.machine.uuid, [])
                if item.checkState(3) == Qt.CheckState.Checked and item.flags() & Qt.ItemFlag.ItemIsEnabled}

    def _delete(self) -> None:
        self.delete_button.setEnabled(False)
        self.task = spawn(self._run())

    async def _run(self) -> None:
        failed = []
        for plan in self.plans:
            try:
                record = await self.deleter.delete(plan, self.chosen(plan), force_off=self.force_off.isChecked())
            except Refusal as refusal:
                failed.append((plan.machine.name, str(refusal)))
                continue
            if record.status != SUCCEEDED:
                failed += what_failed(record)
        if failed:
            self.show_errors("Delete: not everything was deleted", failed)
        self.accept()


def open_delete_dialog(parent: QWidget, deleter: Deleter, machines: list[MachineInfo], show_errors) -> DeleteDialog:
    dialog = DeleteDialog(parent, deleter, machines, show_errors)
    dialog.open()  # not exec(): a nested loop would stall the asyncio loop
    return dialog
