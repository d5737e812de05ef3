"""New Machine's disk: a new empty disk of any size from 16 MiB (in MiB or GiB), or none at all
where the machine boots from elsewhere (a live ISO, a diskless network boot). The size is
checked by the spec's own rule (``disk_size_problem``) and its words shown under it."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QSpinBox, QVBoxLayout, QWidget

from ...services.provisioning.spec import DISK_MIB, disk_size_problem
from ..common.plain import problem_style, plain_label

UNITS = (("GiB", 1024), ("MiB", 1))


class DiskChoice(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.none = QCheckBox("No disk (a live ISO, or a diskless network boot)")
        self.size = QSpinBox()
        self.size.setRange(1, DISK_MIB[1])  # below 16 MiB is said in words, not silently raised
        self.unit = QComboBox()
        for text, mib in UNITS:
            self.unit.addItem(text, mib)
        self.problem = plain_label(wrap=True)
        self.problem.setStyleSheet(problem_style())
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.size, 1)
        row.addWidget(self.unit)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.problem)
        layout.addWidget(self.none)
        self.unit_mib = self.unit.currentData()  # the unit the size is shown in
        self.size.valueChanged.connect(self._changed)
        self.unit.currentIndexChanged.connect(self._unit_changed)
        self.none.toggled.connect(self._changed)
        self._changed()

    def mib(self) -> int:
        """The size asked for (0 with No disk)."""
        return 0 if self.wanted_none() else self.size.value() * (self.unit.currentData() or 1)

    def set_mib(self, mib: int) -> None:
        """Show ``mib`` in GiB when it is whole GiB, else in MiB."""
        whole_gib = mib % 1024 == 0
        self.unit.blockSignals(True)
        self.unit.setCurrentIndex(0 if whole_gib else 1)
        self.unit.blockSignals(False)
        self.unit_mib = self.unit.currentData()
        self.size.setValue(mib // 1024 if whole_gib else mib)
        self._changed()

    def offer_none(self, offered: bool) -> None:
        """No disk is a choice only for a machine that boots from elsewhere."""
        self.none.setVisible(offered)
        if not offered:
            self.none.setChecked(False)

    def wanted_none(self) -> bool:
        return self.none.isChecked() and not self.none.isHidden()

    def problem_words(self) -> str | None:
        return None if self.wanted_none() else disk_size_problem(self.mib())

    def _unit_changed(self) -> None:
        """Another unit keeps the size (20 GiB becomes 20480 MiB, not 20 MiB)."""
        mib, self.unit_mib = self.size.value() * self.unit_mib, self.unit.currentData()
        self.size.setValue(max(1, round(mib / self.unit_mib)))
        self._changed()

    def _changed(self) -> None:
        none = self.wanted_none()
        self.size.setEnabled(not none)
        self.unit.setEnabled(not none)
        problem = self.problem_words()
        self.problem.setText(problem[:1].upper() + problem[1:] + "." if problem else "")
        self.problem.setVisible(bool(problem))
        self.changed.emit()
