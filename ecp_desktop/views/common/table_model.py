"""What every flat table model here shares: a fixed list of columns and a row count."""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from .one_call_per_cell import cell_roles

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

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:
        # One call from Qt into Python per index, not two: Qt's own index() asks rowCount and
        # columnCount, and a proxy asks for an index for each cell it paints.
        if parent.isValid() or not (0 <= row < self._row_count() and 0 <= column < len(self.COLUMNS)):
            return QModelIndex()
        return self.createIndex(row, column)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def multiData(self, index: Index, roles) -> None:  # noqa: N802  (Qt's name)
        cell_roles(self, index, roles)

    def emit_row_changed(self, row: int, first: int = 0, last: int | None = None) -> None:
        last = len(self.COLUMNS) - 1 if last is None else last
        self.dataChanged.emit(self.index(row, first), self.index(row, last))


class RowsTableModel(ColumnTableModel):
    """Rows read at once (a host's pools, volumes, networks, leases), replaced together: each
    cell's text is ``cells(row)[column]`` (plain text: a host's names are data), greyed when
    ``grey(row)``; the row object under ``ROW_ROLE``."""

    ROW_ROLE = Qt.ItemDataRole.UserRole + 1

    def __init__(self, columns: tuple[str, ...], cells, parent=None, *, grey=None, tip=None) -> None:
        super().__init__(parent)
        self.COLUMNS = columns
        self._cells, self._grey, self._tip = cells, grey, tip
        self.rows: list = []

    def _row_count(self) -> int:
        return len(self.rows)

    def set_rows(self, rows: list) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.endResetModel()

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return str(self._cells(row)[index.column()])
        if role == self.ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.ForegroundRole and self._grey is not None and self._grey(row):
            return QColor("#6b7079")
        if role == Qt.ItemDataRole.ToolTipRole and self._tip is not None:
            return self._tip(row) or None
        return None


def rows_view(model) -> QTableView:
    """A read-only table of whole rows, one selected at a time, rows of one height (a pool of
    5,000 volumes draws only what is in view), its columns fitted to their texts."""
    view = QTableView()
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.verticalHeader().hide()
    view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    view.verticalHeader().setDefaultSectionSize(22)
    view.horizontalHeader().setStretchLastSection(True)
    # Columns fit their texts each time the rows are replaced, judged on the rows in view
    # and a sample of the rest (a pool of 5,000 volumes is not measured row by row).
    view.horizontalHeader().setResizeContentsPrecision(100)
    model.modelReset.connect(view.resizeColumnsToContents)
    view.setWordWrap(False)
    return view


def selected_row(view: QTableView):
    """The row object selected in a ``rows_view`` (None: nothing selected)."""
    rows = view.selectionModel().selectedRows()
    return view.model().rows[rows[0].row()] if rows else None


def replace_rows(view: QTableView, rows: list, key=lambda row: row.name, *, first: bool = True) -> None:
    """A new reading into a ``rows_view``, the same object (by ``key``) selected again, else
    the first (``first``) or none."""
    chosen = selected_row(view)
    view.model().set_rows(rows)
    at = next((i for i, r in enumerate(rows) if chosen is not None and key(r) == key(chosen)),
              0 if rows and first else -1)
    if at >= 0:
        view.selectRow(at)
