"""The tasks pane: the task tree with a filter, Cancel and error details."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from PySide6.QtCore import QModelIndex, QRect, Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QHeaderView, QLineEdit, QMessageBox, QPushButton, QStyle,
                               QStyledItemDelegate, QStyleOptionProgressBar, QTreeView, QVBoxLayout, QWidget,
                               QApplication)

from ...services.core.aio import spawn
from ...services.core.errors import Refusal
from ...services.core.relative_time import REFRESH_SECONDS
from ...services.tasks.service import TaskService
from ...services.tasks.records import ROLLBACK_FAILED, RUNNING, TaskRecord
from ...services.tasks.tree import failures_below
from ..common.plain import message_box
from .task_model import (DURATION, FLOW, PROGRESS, STARTED, STATUS, STATUS_FILTERS, TASK, TaskFilterProxy,
                         TaskTreeModel)
from ..common.follow import follow


class ProgressDelegate(QStyledItemDelegate):
    """A progress bar while a task runs; its percentage as text otherwise."""

    def paint(self, painter, option, index) -> None:
        record = index.data(Qt.ItemDataRole.UserRole + 1)
        if record is None or record.status != RUNNING:
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)
        bar.minimum, bar.maximum, bar.progress = 0, 100, int(record.progress)
        bar.text, bar.textVisible = f"{record.progress} %", True
        QApplication.style().drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


class TasksPane(QWidget):
    details_requested = Signal(object)  # (title, failures, outcome): the window opens the error dialog

    def __init__(self, tasks: TaskService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tasks = tasks
        self.model = TaskTreeModel(tasks, self)
        self.proxy = TaskFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter tasks: title, machine, host or outcome")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.status_filter = QComboBox()
        self.status_filter.addItems(list(STATUS_FILTERS))
        self.status_filter.currentTextChanged.connect(lambda t: self.proxy.set_statuses(STATUS_FILTERS[t]))
        self.cancel_button = QPushButton("Cancel Task")
        self.cancel_button.setToolTip("Stop the selected task: steps not started are skipped, and what "
                                      "was done is undone")
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.retry_button = QPushButton("Retry Rollback")
        self.retry_button.setToolTip("Undo again what the rollback of the selected task left behind "
                                     "(after the host is back, or the cause is fixed)")
        self.retry_button.clicked.connect(self.retry_selected)
        # (task's database id) -> outcome with .left and .unreachable; set by the app
        self.retry_rollback: Callable[[int], Awaitable] | None = None
        self.details_button = QPushButton("Details…")
        self.details_button.clicked.connect(self.show_selected_details)

        self.view = QTreeView()
        self.view.setModel(self.proxy)
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        # A cut outcome keeps its beginning (what happened); the whole is in its tooltip.
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.setItemDelegateForColumn(PROGRESS, ProgressDelegate(self.view))
        header = self.view.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.resizeSection(TASK, 320)
        for column, width in ((STATUS, 110), (FLOW, 110), (PROGRESS, 90), (STARTED, 140), (DURATION, 80)):
            header.resizeSection(column, width)
        header.setStretchLastSection(True)
        # "3 min ago" stays true: the Started column alone is repainted (its words are read
        # as it is painted), no model signal, so a set filter is not run again for it.
        self.clock = QTimer(self)
        self.clock.setInterval(REFRESH_SECONDS * 1000)
        self.clock.timeout.connect(self.repaint_started)
        self.clock.start()
        self.view.doubleClicked.connect(self._on_double_click)
        self.view.selectionModel().currentChanged.connect(lambda *_: self._update_buttons())
        follow(tasks.task_changed, self, self._on_task_changed)

        bar = QHBoxLayout()
        bar.addWidget(self.filter_edit, 1)
        bar.addWidget(self.status_filter)
        bar.addWidget(self.cancel_button)
        bar.addWidget(self.retry_button)
        bar.addWidget(self.details_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.view)
        self._update_buttons()

    def repaint_started(self) -> None:
        view = self.view
        if not view.isVisible() or view.isColumnHidden(STARTED):
            return
        viewport = view.viewport()
        viewport.update(QRect(view.columnViewportPosition(STARTED), 0, view.columnWidth(STARTED), viewport.height()))

    def selected(self) -> TaskRecord | None:
        index = self.view.currentIndex()
        return self.model.record(self.proxy.mapToSource(index)) if index.isValid() else None

    def select(self, record: TaskRecord) -> None:
        index = self.proxy.mapFromSource(self.model.index_of(record))
        self.view.setCurrentIndex(index)
        self.view.scrollTo(index)

    def cancel_selected(self) -> None:
        record = self.selected()
        root = record.root() if record is not None else None
        if root is not None and root.cancel is not None:
            root.cancel()
            self._update_buttons()

    def offer_retry(self, retry_rollback: Callable[[int], Awaitable]) -> None:
        """Show Retry Rollback, which runs ``retry_rollback(task's database id)``."""
        self.retry_rollback = retry_rollback
        self._update_buttons()

    def retry_selected(self) -> None:
        record = self.selected()
        root = record.root() if record is not None else None
        if root is None or root.status != ROLLBACK_FAILED or root.db_id is None or self.retry_rollback is None:
            return
        self.retry_button.setEnabled(False)
        spawn(self._retry(root))

    async def _retry(self, root: TaskRecord) -> None:
        try:
            outcome = await self.retry_rollback(root.db_id)
        except Refusal as exc:
            self._tell(QMessageBox.Icon.Warning, "Rollback not retried", str(exc))
            return
        finally:
            self._update_buttons()
        if outcome.unreachable:
            self._tell(QMessageBox.Icon.Warning, "Rollback not retried",
                       f"Not connected: {', '.join(outcome.unreachable)}.\n\nStill left behind:\n"
                       + "\n".join(outcome.left))
        elif outcome.left:
            self._tell(QMessageBox.Icon.Warning, "Rollback retried: something is still left",
                       "Still left behind:\n" + "\n".join(outcome.left))

    def _tell(self, icon, title: str, text: str) -> None:
        box = message_box(icon, title, text, parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.last_message = box

    def show_selected_details(self) -> None:
        record = self.selected()
        if record is None:
            return
        failures = failures_below(record)
        if failures:
            self.details_requested.emit((f"{record.title}: {record.status}", failures, record.outcome))
            return
        box = message_box(QMessageBox.Icon.Information, record.title,
                          f"{record.title}\n\nStatus: {record.status}\n{record.outcome}", parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.last_message = box

    def _on_double_click(self, _index: QModelIndex) -> None:
        self.show_selected_details()

    def _on_task_changed(self, record: TaskRecord) -> None:
        if record.parent is None:
            self._update_buttons()

    def _update_buttons(self) -> None:
        record = self.selected()
        root = record.root() if record is not None else None
        self.cancel_button.setEnabled(root is not None and root.cancel is not None)
        self.retry_button.setVisible(self.retry_rollback is not None)
        self.retry_button.setEnabled(root is not None and root.status == ROLLBACK_FAILED and root.db_id is not None)
        self.details_button.setEnabled(record is not None)
