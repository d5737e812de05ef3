"""The snapshot tree of one machine as a Qt item model (parent/child, current marked)."""
from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, Qt
from PySide6.QtGui import QFont

from ...services.snapshots.info import SnapshotInfo
from ..common.icons import state_icon
from ..common.plain import tooltip

COLUMNS = ("Name", "Current", "Taken", "State", "Holds", "Description")
NAME, CURRENT, TAKEN, STATE, HOLDS, DESCRIPTION = range(len(COLUMNS))
SNAPSHOT_ROLE = Qt.ItemDataRole.UserRole + 1
STATE_WORDS = {"shutoff": "shut off", "disk-snapshot": "disks only (live)", "pmsuspended": "suspended (PM)"}


class SnapshotTreeModel(QAbstractItemModel):
    """Reset as a whole on each reading (a machine has a handful of snapshots)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._by_name: dict[str, SnapshotInfo] = {}
        self._roots: list[SnapshotInfo] = []
        self._row: dict[str, int] = {}  # each snapshot's row under its parent

    def set_snapshots(self, snapshots: list[SnapshotInfo]) -> None:
        """``snapshots`` in tree order with their children filled in (``info.in_tree_order``)."""
        self.beginResetModel()
        self._by_name = {s.name: s for s in snapshots}
        self._roots = [s for s in snapshots if not s.parent]
        self._row = {s.name: row for row, s in enumerate(self._roots)}
        for snap in snapshots:
            for row, child in enumerate(snap.children):
                self._row[child] = row
        self.endResetModel()

    def snapshots(self) -> list[SnapshotInfo]:
        return list(self._by_name.values())

    def snapshot(self, index: QModelIndex) -> SnapshotInfo | None:
        return index.internalPointer() if index.isValid() else None

    def index_of(self, name: str, column: int = 0) -> QModelIndex:
        snap = self._by_name.get(name)
        return self.createIndex(self._row[name], column, snap) if snap is not None else QModelIndex()

    def _children(self, parent: QModelIndex) -> list[SnapshotInfo]:
        if not parent.isValid():
            return self._roots
        return [self._by_name[name] for name in parent.internalPointer().children]

    # ----- QAbstractItemModel --------------------------------------------------------------
    def index(self, row: int, column: int, parent: QModelIndex = QModelIndex()) -> QModelIndex:
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        return self.createIndex(row, column, self._children(parent)[row])

    def parent(self, index: QModelIndex = QModelIndex()) -> QModelIndex:  # type: ignore[override]
        if not index.isValid():
            return QModelIndex()
        snap: SnapshotInfo = index.internalPointer()
        if not snap.parent:
            return QModelIndex()
        return self.index_of(snap.parent)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        if parent.column() > 0:
            return 0
        return len(self._children(parent))

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(COLUMNS):
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        snap: SnapshotInfo = index.internalPointer()
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(snap, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return tooltip(snap.description if column == DESCRIPTION else self._text(snap, column))
        if role == Qt.ItemDataRole.FontRole and snap.current:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.DecorationRole and column == NAME:
            return state_icon("running" if snap.state in ("running", "blocked") else snap.state)
        if role == SNAPSHOT_ROLE:
            return snap
        return None

    @staticmethod
    def _text(snap: SnapshotInfo, column: int) -> str:
        if column == NAME:
            return snap.name
        if column == CURRENT:
            return "✔ current" if snap.current else ""
        if column == TAKEN:
            return snap.created_text
        if column == STATE:
            return STATE_WORDS.get(snap.state, snap.state or "-")
        if column == HOLDS:
            return snap.kind
        lines = snap.description.splitlines()
        return lines[0] + (" …" if len(lines) > 1 else "") if lines else ""
