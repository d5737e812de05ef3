"""Host → Storage…'s forms: New Pool (the fields each type needs, checked as you type), New
Volume (name, size, format, an optional base) and Resize. Each says what is wrong under its
fields and enables OK only when nothing is; the dialog runs the change."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QHBoxLayout,
                               QLineEdit, QPushButton, QWidget)

from ...services.core.aio import spawn
from ...services.core.errors import HypervisorError, Refusal
from ...services.storage.pools import POOL_KINDS, PoolRow, VolumeRow
from ...services.storage.service import (CREATABLE_KINDS, SEARCHABLE_KINDS, VOLUME_FORMATS, FoundSource, PoolSpec,
                                          resize_problem, volume_problem)
from ..common.plain import problem_style, plain_label
from ..common.discard_guard import AsksBeforeDiscarding

GIB = 1 << 30


class _Form(AsksBeforeDiscarding, QDialog):
    """A form whose OK is enabled only when ``problem()`` says nothing."""
    chosen = Signal(object)

    def _finish_layout(self, form: QFormLayout) -> None:
        self.status = plain_label(wrap=True)
        self.status.setStyleSheet(problem_style())
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._ok)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.status)
        form.addRow(self.buttons)
        self.check()

    def problem(self) -> str | None:
        raise NotImplementedError

    def value(self):
        raise NotImplementedError

    def check(self) -> None:
        problem = self.problem()
        self.status.setText(problem or "")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)

    def _ok(self) -> None:
        if self.problem() is None:
            self.chosen.emit(self.value())
            self.accept()


class NewPoolForm(_Form):
    def __init__(self, parent: QWidget | None, taken: set[str],
                 finder: Callable[[str, str], Awaitable[list[FoundSource]]] | None = None) -> None:
        """``finder(kind, server)``: what the host can see to make such a pool from."""
        super().__init__(parent)
        self.taken, self.finder = taken, finder
        self.setWindowTitle("New Storage Pool")
        self.name = QLineEdit()
        self.kind = QComboBox()
        for kind in CREATABLE_KINDS:
            self.kind.addItem(POOL_KINDS[kind], kind)
        self.path = QLineEdit("/var/lib/libvirt/images")
        self.source_host, self.source_dir = QLineEdit(), QLineEdit()
        self.source_device, self.volume_group = QLineEdit(), QLineEdit()
        self.form = form = QFormLayout(self)
        form.addRow("Name:", self.name)
        form.addRow("Type:", self.kind)
        form.addRow("Target folder:", self.path)
        form.addRow("Server:", self.source_host)
        form.addRow("Export:", self.source_dir)
        form.addRow("Device or IQN:", self.source_device)
        form.addRow("Volume group:", self.volume_group)
        # NFS exports, volume groups, iSCSI targets the host can see, to pick instead of typing
        self.find = QPushButton("Find…")
        self.find.clicked.connect(self.find_sources)
        self.found = QComboBox()
        self.found.activated.connect(self._found_chosen)
        self.found_words = plain_label(wrap=True)
        self.found_row = QHBoxLayout()
        self.found_row.addWidget(self.find)
        self.found_row.addWidget(self.found, 1)
        self.searching = None
        self.gone = False  # closed: a late answer touches no widget
        self.finished.connect(lambda _result: setattr(self, "gone", True))
        form.addRow("Sources:", self.found_row)
        form.addRow("", self.found_words)
        for field in (self.name, self.path, self.source_host, self.source_dir, self.source_device, self.volume_group):
            field.textChanged.connect(self.check)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self._finish_layout(form)
        self._kind_changed()

    def _kind_changed(self) -> None:
        kind = self.kind.currentData()
        shown = {"dir": (self.path,), "fs": (self.path, self.source_device),
                 "netfs": (self.path, self.source_host, self.source_dir), "logical": (self.volume_group,),
                 "iscsi": (self.source_host, self.source_device)}[kind]
        for field in (self.path, self.source_host, self.source_dir, self.source_device, self.volume_group):
            self.form.setRowVisible(field, field in shown)
        searchable = self.finder is not None and kind in SEARCHABLE_KINDS
        self.form.setRowVisible(self.found_row, searchable)
        self.form.setRowVisible(self.found_words, searchable)
        self.found.clear()
        self.found_words.setText("")
        self.check()

    def find_sources(self) -> None:
        kind, server = self.kind.currentData(), self.source_host.text().strip()
        self.find.setEnabled(False)
        self.found_words.setText("Asking the host…")
        self.searching = spawn(self._find(kind, server))

    async def _find(self, kind: str, server: str) -> None:
        try:
            found = await self.finder(kind, server)
            words = f"{len(found)} found; pick one to fill the fields" if found else "nothing found"
        except Refusal as refusal:
            found, words = [], str(refusal)
        except HypervisorError as err:
            found, words = [], err.one_line()
        if self.gone or kind != self.kind.currentData():
            return  # closed, or another type chosen meanwhile
        self.find.setEnabled(True)
        self.found.clear()
        for source in found:
            self.found.addItem(source.words, source)
        self.found_words.setText(words)
        if found:
            self._found_chosen(0)

    def _found_chosen(self, row: int) -> None:
        source = self.found.itemData(row)
        if source is None:
            return
        for field, value in ((self.source_host, source.host), (self.source_dir, source.dir),
                             (self.volume_group, source.name),
                             (self.source_device, source.device if self.kind.currentData() == "iscsi" else "")):
            if value:
                field.setText(value)

    def value(self) -> PoolSpec:
        def shown(field: QLineEdit) -> str:  # a hidden field (another type's) says nothing
            return field.text().strip() if self.form.isRowVisible(field) else ""
        return PoolSpec(self.name.text().strip(), self.kind.currentData(), shown(self.path), shown(self.source_host),
                        shown(self.source_dir), shown(self.source_device), shown(self.volume_group))

    def problem(self) -> str | None:
        return self.value().problem(self.taken)


class NewVolumeForm(_Form):
    def __init__(self, parent: QWidget | None, pool: PoolRow) -> None:
        super().__init__(parent)
        self.pool = pool
        self.setWindowTitle(f"New Volume in {pool.name}")
        self.name = QLineEdit()
        self.size = QDoubleSpinBox()
        self.size.setRange(0.001, 1 << 20)
        self.size.setDecimals(3)
        self.size.setValue(20)
        self.size.setSuffix(" GiB")
        self.format = QComboBox()
        self.format.addItems(VOLUME_FORMATS)
        self.backing = QComboBox()
        self.backing.addItem("none (a volume of its own)", "")
        for volume in pool.volumes:
            self.backing.addItem(volume.name, volume.name)
        form = QFormLayout(self)
        form.addRow("Name:", self.name)
        form.addRow("Size:", self.size)
        form.addRow("Format:", self.format)
        form.addRow("Reads as its base:", self.backing)
        self.name.textChanged.connect(self.check)
        self.size.valueChanged.connect(self.check)
        self.format.currentIndexChanged.connect(self.check)
        self.backing.currentIndexChanged.connect(self.check)
        self._finish_layout(form)

    def value(self) -> tuple[str, int, str, str]:
        return (self.name.text().strip(), int(self.size.value() * GIB), self.format.currentText(),
                self.backing.currentData())

    def problem(self) -> str | None:
        name, size, fmt, backing = self.value()
        problem = volume_problem(name, size, fmt, {v.name for v in self.pool.volumes})
        if problem is None and backing and fmt != "qcow2":
            return "only a qcow2 volume can read another as its base"
        return problem


class ResizeForm(_Form):
    def __init__(self, parent: QWidget | None, volume: VolumeRow) -> None:
        super().__init__(parent)
        self.volume = volume
        self.setWindowTitle(f"Resize {volume.name}")
        self.size = QDoubleSpinBox()
        self.size.setRange(0.001, 1 << 20)
        self.size.setDecimals(3)
        self.size.setValue(volume.capacity / GIB)
        self.shown = self.size.value()  # the current size as shown, rounded: untouched means unchanged
        self.size.setSuffix(" GiB")
        form = QFormLayout(self)
        form.addRow("New size:", self.size)
        self.size.valueChanged.connect(self.check)
        self._finish_layout(form)

    def value(self) -> int:
        if self.size.value() == self.shown:
            return self.volume.capacity  # (not the rounded figure: that would shrink it by a few bytes)
        return int(round(self.size.value() * GIB))

    def problem(self) -> str | None:
        if self.value() == self.volume.capacity:
            return "the size is the same"
        return resize_problem(self.volume, self.value())
