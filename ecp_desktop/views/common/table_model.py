"""What every flat table model here shares: a fixed list of columns and a row count."""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

Index = QModelIndex | QPersistentModelIndex


class ColumnTableModel(QAbstractTableModel):
    """Subclasses set COLUMNS and implement ``_row_count`` and ``data``."""

    COLUMNS: tuple[str, ...] = ()

    def _row_count(self) -> int:
        raise NotImplementedError

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else self._row_count()

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def multiData(self, index: Index, roles) -> None:  # noqa: N802  (Qt's name)
        # A cell's roles in one call from Qt, not one each: each call from Qt waits for the
        # interpreter lock, ~1 ms while a fleet's listings run (bench/fleet.py: the GUI gap).
        for role_data in roles:
            role_data.setData(self.data(index, role_data.role()))

    def emit_row_changed(self, row: int, first: int = 0, last: int | None = None) -> None:
        last = len(self.COLUMNS) - 1 if last is None else last
        self.dataChanged.emit(self.index(row, first), self.index(row, last))
