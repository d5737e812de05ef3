"""Tasks as a tree, newest first: parents with their steps and rollback tasks.

Rows come and go only by the task service's signals. The model keeps its own count
of shown children per task, because the service appends a child before it
announces it, and Qt needs the count from before an insertion while announcing it.
"""
from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt, QTimer

from ...services.core.relative_time import exact_time, relative_time
from ...services.tasks.service import TaskService
from ...services.tasks.records import (CANCELLED, FAILED, ROLLBACK, ROLLBACK_FAILED, ROLLED_BACK, ROLLING_BACK,
                                       RUNNING, SUCCEEDED, TaskRecord)
from ...services.sharing.instance import INSTANCE_ID, owner_label, started_by
from ..common.icons import state_icon
from ..common.palette_colours import FAILURE, SUCCESS, tone
from ..common.plain import tooltip
from ..common.follow import follow
from ..common.one_call_per_cell import cell_roles
from ..common.filter_proxy import ACCEPT_ROLE, PredicateFilterProxy, accept_answer

COLUMNS = ("Task", "Status", "Flow", "Progress", "Started", "Duration", "Outcome")
TASK, STATUS, FLOW, PROGRESS, STARTED, DURATION, OUTCOME = range(len(COLUMNS))
TaskRole = Qt.ItemDataRole.UserRole + 1
FLUSH_MS = 40
Index = QModelIndex | QPersistentModelIndex

# Status → the icon of the state it resembles (icons.state_icon knows machine/host states).
_ICON_STATE = {RUNNING: "connecting", ROLLING_BACK: "rolling back", SUCCEEDED: "succeeded", FAILED: "failed",
               ROLLBACK_FAILED: "rollback failed", ROLLED_BACK: "rolled back", CANCELLED: "cancelled"}
_TONE = {FAILED: FAILURE, ROLLBACK_FAILED: FAILURE, SUCCEEDED: SUCCESS}  # the status's words in colour
_TONED = {STATUS: (FAILED, ROLLBACK_FAILED, SUCCEEDED), OUTCOME: (FAILED, ROLLBACK_FAILED)}


class TaskTreeModel(QAbstractItemModel):
    def __init__(self, tasks: TaskService, parent=None) -> None:
        super().__init__(parent)
        # Rows: this session's tasks newest first, then earlier sessions' newest first. Both
        # lists only grow at their ends, so a task's position (hence its row) is a dict lookup.
        self._session: list[TaskRecord] = []  # oldest first
        self._history: list[TaskRecord] = []  # newest first
        self.accepts = lambda _record: True  # the filter's test of a row (set by the filter proxy)
        self._root_pos: dict[int, int] = {}
        self._by_id: dict[int, TaskRecord] = {}
        self._row_in_parent: dict[int, int] = {}
        self._shown: dict[int, int] = {}  # children shown per task id
        self._dirty: dict[int, TaskRecord] = {}  # changed since the last flush
        self._pending_roots: list[TaskRecord] = []  # new top-level tasks, shown at the next flush
        roots = [t for t in tasks.tasks if t.parent is None]
        for record in reversed([r for r in roots if r.from_history]):
            self._root_pos[record.id] = len(self._history)
            self._history.append(record)
            self._register_tree(record)
        for record in (r for r in roots if not r.from_history):
            self._root_pos[record.id] = len(self._session)
            self._session.append(record)
            self._register_tree(record)
        follow(tasks.task_added, self, self._on_added)
        follow(tasks.task_changed, self, self._on_changed)
        follow(tasks.history_loaded, self, self._on_history)

    # ----- structure -----------------------------------------------------------------------
    def _register_tree(self, record: TaskRecord) -> None:
        self._by_id[record.id] = record
        self._shown[record.id] = len(record.children)
        for row, child in enumerate(record.children):
            self._row_in_parent[child.id] = row
            self._register_tree(child)

    def record(self, index: Index) -> TaskRecord | None:
        return self._by_id.get(index.internalId()) if index.isValid() else None

    def index_of(self, record: TaskRecord, column: int = 0) -> QModelIndex:
        if record.id not in self._by_id:
            return QModelIndex()
        if record.parent is None:
            pos = self._root_pos[record.id]
            row = len(self._session) - 1 - pos if not record.from_history else len(self._session) + pos
            return self.createIndex(row, column, record.id)
        return self.createIndex(self._row_in_parent[record.id], column, record.id)

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:
        if column < 0 or column >= len(COLUMNS) or row < 0:
            return QModelIndex()
        if not parent.isValid():
            if row >= self._root_count():
                return QModelIndex()
            session = len(self._session)
            root = self._session[session - 1 - row] if row < session else self._history[row - session]
            return self.createIndex(row, column, root.id)
        owner = self.record(parent)
        if owner is None or parent.column() != 0 or row >= self._shown.get(owner.id, 0):
            return QModelIndex()
        return self.createIndex(row, column, owner.children[row].id)

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]
        record = self.record(index)
        if record is None or record.parent is None:
            return QModelIndex()
        return self.index_of(record.parent)

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        if not parent.isValid():
            return self._root_count()
        if parent.column() != 0:
            return 0
        return self._shown.get(parent.internalId(), 0)

    def _root_count(self) -> int:
        return len(self._session) + len(self._history)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    # ----- updates -------------------------------------------------------------------------
    def _on_added(self, record: TaskRecord) -> None:
        """A new task; a plan comes as one tree (its children attached already)."""
        if record.parent is None:
            # Inserted with the next flush, together with the others of the same moment: a
            # bulk action of 1,000 machines starts 1,000 tasks in one go.
            if not self._pending_roots and not self._dirty:
                QTimer.singleShot(FLUSH_MS, self._flush_changes)
            self._pending_roots.append(record)
            return
        self._by_id[record.id] = record
        self._shown[record.id] = 0
        owner = record.parent
        if owner.id not in self._by_id:
            return
        row = self._shown[owner.id]
        self.beginInsertRows(self.index_of(owner), row, row)
        self._row_in_parent[record.id] = row
        self._shown[owner.id] = row + 1
        self.endInsertRows()

    def _on_history(self, roots: list[TaskRecord]) -> None:
        """Tasks of earlier sessions (or recovered ones): older than the rows shown, so below them."""
        roots = [r for r in roots if r.id not in self._by_id]
        if not roots:
            return
        end = self._root_count()
        self.beginInsertRows(QModelIndex(), end, end + len(roots) - 1)
        for record in reversed(roots):
            record.from_history = True  # placed among the earlier sessions' rows
            self._root_pos[record.id] = len(self._history)
            self._history.append(record)
            self._register_tree(record)
        self.endInsertRows()

    def _on_changed(self, record: TaskRecord) -> None:
        # Coalesced, at most every FLUSH_MS: a flow changes hundreds of tasks (and their
        # parents' progress) per second, each dataChanged costs the filter proxy and the
        # view real work, and 25 refreshes a second look just as live
        # (bench/clone_template.py: the GUI gap with the tasks pane).
        if record.id in self._by_id:
            if not self._dirty and not self._pending_roots:
                QTimer.singleShot(FLUSH_MS, self._flush_changes)
            self._dirty[record.id] = record

    def _flush_changes(self) -> None:
        roots, self._pending_roots = self._pending_roots, []
        if roots:
            self.beginInsertRows(QModelIndex(), 0, len(roots) - 1)
            for record in roots:
                self._root_pos[record.id] = len(self._session)
                self._session.append(record)
                self._register_tree(record)
            self.endInsertRows()
        dirty, self._dirty = self._dirty, {}
        by_parent: dict[int | None, list[int]] = {}
        for record in dirty.values():
            if record.id in self._by_id:
                by_parent.setdefault(record.parent.id if record.parent else None, []).append(
                    self.index_of(record).row())
        last = len(COLUMNS) - 1
        for parent_id, rows in by_parent.items():
            parent = self.index_of(self._by_id[parent_id]) if parent_id is not None else QModelIndex()
            self.dataChanged.emit(self.index(min(rows), 0, parent), self.index(max(rows), last, parent))

    # ----- data ----------------------------------------------------------------------------
    def multiData(self, index: Index, roles) -> None:  # noqa: N802  (Qt's name)
        cell_roles(self, index, roles)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        t = self.record(index)
        if t is None:
            return None
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return _text(t, col)
        if role == Qt.ItemDataRole.DecorationRole and col == STATUS:
            return state_icon(_ICON_STATE.get(t.status, "nostate"))
        if role == Qt.ItemDataRole.ForegroundRole and t.status in _TONED.get(col, ()):
            return tone(_TONE[t.status])  # the application's palette, read as the cell is painted
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tip(t, col)
        if role == Qt.ItemDataRole.UserRole and col == PROGRESS:
            return t.progress
        if role == TaskRole:
            return t
        if role == ACCEPT_ROLE:
            return accept_answer(self.accepts(t))
        return None


def _started_elsewhere(t: TaskRecord) -> bool:
    """A flow another copy of the app started (another process here, or another computer)."""
    return t.parent is None and bool(t.owner) and t.owner != INSTANCE_ID


def _tip(t: TaskRecord, col: int) -> str:
    """The whole of what a cell shows in a few words (or cut at its end)."""
    if col == TASK:
        return tooltip(f"{t.title}\nStarted by {started_by(t.root().owner)}\n{_outcome_tip(t)}")
    if col == OUTCOME:
        return tooltip(_outcome_tip(t))
    if col == FLOW and t.role == ROLLBACK:
        undone = f": {t.compensates.title}" if t.compensates is not None else ""
        return tooltip(f"A rollback step: undoes what an earlier step did{undone}")
    if col == FLOW and _started_elsewhere(t):
        return tooltip(f"Started by another copy of ECP Desktop: {started_by(t.owner)}")
    if col == STARTED and t.started_at is not None:
        return tooltip(exact_time(t.started_at))
    return ""


def _outcome_tip(t: TaskRecord) -> str:
    if t.error is None:
        return t.outcome
    return f"{t.outcome}\n\n{t.error.summary}\n{t.error.remedy}\n\n{t.error.message}"


def _text(t: TaskRecord, col: int) -> str:
    if col == TASK:
        return t.title
    if col == STATUS:
        return t.status
    if col == FLOW:
        if t.role == ROLLBACK:
            return "rollback"
        # Who started it, when another copy of the app on the shared inventory did.
        return owner_label(t.owner) if _started_elsewhere(t) else ""
    if col == PROGRESS:
        return f"{t.progress} %"
    if col == STARTED:
        # Read as the cell is painted: the tasks pane repaints this column every REFRESH_SECONDS.
        return relative_time(t.started_at, dt.datetime.now()) if t.started_at else ""
    if col == DURATION:
        return f"{t.duration:.2f} s" if t.duration is not None else ""
    if col == OUTCOME:
        return t.outcome
    return ""


STATUS_FILTERS = {
    "All tasks": None,
    "Running": {RUNNING, ROLLING_BACK, "pending"},
    "Failed": {FAILED, ROLLBACK_FAILED},
    "Rolled back": {ROLLED_BACK, ROLLBACK_FAILED, CANCELLED},
    "Succeeded": {SUCCEEDED},
}


class TaskFilterProxy(PredicateFilterProxy):
    """Text (title, target, host, outcome) and status; a parent stays when a child matches."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._words: list[str] = []
        self._statuses: set[str] | None = None
        self.setRecursiveFilteringEnabled(True)

    @property
    def active(self) -> bool:
        return bool(self._words) or self._statuses is not None

    def setSourceModel(self, model: TaskTreeModel) -> None:  # noqa: N802  (Qt's name)
        model.accepts = self.accepts
        super().setSourceModel(model)

    def set_text(self, text: str) -> None:
        words = text.casefold().split()
        self.change(lambda: setattr(self, "_words", words), bool(words) or self._statuses is not None)

    def set_statuses(self, statuses: set[str] | None) -> None:
        self.change(lambda: setattr(self, "_statuses", statuses), bool(self._words) or statuses is not None)

    def accepts(self, record: TaskRecord | None) -> bool:
        if record is None:
            return False
        if self._statuses is not None and record.status not in self._statuses:
            return False
        if self._words:
            text = " ".join((record.title, record.target_name, record.host_uri, record.outcome,
                             record.status)).casefold()
            return all(w in text for w in self._words)
        return True
