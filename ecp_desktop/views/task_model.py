"""Tasks as a table, newest first: status, progress, start time, duration, outcome."""
from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor

from ..services.tasks import FAILED, TaskRecord, TaskService
from .table_model import ColumnTableModel, Index
from .icons import state_icon

COLUMNS = ("Task", "Status", "Progress", "Started", "Duration", "Outcome")
TASK, STATUS, PROGRESS, STARTED, DURATION, OUTCOME = range(len(COLUMNS))
TaskRole = Qt.ItemDataRole.UserRole + 1


class TaskTableModel(ColumnTableModel):
    COLUMNS = COLUMNS

    def __init__(self, tasks: TaskService, parent=None) -> None:
        super().__init__(parent)
        self._tasks: list[TaskRecord] = list(tasks.tasks)  # oldest first; row 0 shows the newest
        self._position: dict[int, int] = {t.id: i for i, t in enumerate(self._tasks)}
        tasks.task_added.connect(self._on_added)
        tasks.task_changed.connect(self._on_changed)

    def _row(self, record: TaskRecord) -> int | None:
        pos = self._position.get(record.id)
        return None if pos is None else len(self._tasks) - 1 - pos

    def _on_added(self, record: TaskRecord) -> None:
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._position[record.id] = len(self._tasks)
        self._tasks.append(record)
        self.endInsertRows()

    def _on_changed(self, record: TaskRecord) -> None:
        row = self._row(record)
        if row is not None:
            self.emit_row_changed(row)

    def task(self, row: int) -> TaskRecord:
        return self._tasks[len(self._tasks) - 1 - row]

    def _row_count(self) -> int:
        return len(self._tasks)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        t = self.task(index.row())
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == TASK:
                return t.title
            if col == STATUS:
                return t.status
            if col == PROGRESS:
                return f"{t.progress} %"
            if col == STARTED:
                return t.started_at.strftime("%H:%M:%S") if t.started_at else ""
            if col == DURATION:
                return f"{t.duration:.2f} s" if t.duration is not None else ""
            if col == OUTCOME:
                return t.outcome
        elif role == Qt.ItemDataRole.DecorationRole and col == STATUS:
            return state_icon(t.status if t.status != "running" else "connecting")
        elif role == Qt.ItemDataRole.ForegroundRole and col == OUTCOME and t.status == FAILED:
            return QColor("#b3261e")
        elif role == Qt.ItemDataRole.ToolTipRole and col == OUTCOME and t.error is not None:
            e = t.error
            return f"{e.summary}\n{e.remedy}\n\nlibvirt: {e.message}\ncode {e.code} ({e.code_name}), " \
                   f"domain {e.domain} ({e.domain_name})"
        elif role == TaskRole:
            return t
        return None
