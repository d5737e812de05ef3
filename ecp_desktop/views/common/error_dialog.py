"""Error dialogs: what failed and libvirt's own words first ("web01: Domain 'web01' is already
running"), then what it means and what to do, every libvirt field one click away.

One dialog groups the failures of a bulk action (a row per machine, expandable), and a
crash dialog catches what nobody expected. Each offers Copy (the full details, for a
bug report or a colleague) and Open Log, which shows the errors' own lines from the log
(found by each error's log id) with a button to open the whole file. Dialogs are opened with
``open()``, never ``exec()``: a nested event loop inside a coroutine breaks qasync.
"""
from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication, QTextOption
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QStyle,
                               QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from ...services.config.app_log import find_entries
from ...services.core.errors import HypervisorError, escape_line
from ...services.core.remedies import GENERIC
from .log_viewer import show_log
from .plain import plain_label, rich_label, tooltip

Failure = tuple[str, "HypervisorError | str"]  # (what failed, e.g. the machine's name; the error)


def headline(name: str, error: HypervisorError | str) -> str:
    """``machine or host: libvirt's own words``, on one line, escaped (both are data)."""
    if isinstance(error, HypervisorError):
        return error.headline(name or error.machine or error.host_uri)
    first = (str(error).strip().splitlines() or [""])[0]
    return escape_line(f"{name}: {first}" if name else first)


def advice(error: HypervisorError | str) -> str:
    """What it means and what to do, for an error of the remedy table ("" for a plain reason)."""
    if not isinstance(error, HypervisorError):
        return ""
    entry = error.advice
    return entry.remedy if entry is GENERIC else f"{entry.summary} {entry.remedy}"


def _details(error: HypervisorError | str) -> str:
    return error.details_text() if isinstance(error, HypervisorError) else str(error)


class ErrorDialog(QDialog):
    """Sized to what it says: a one-line error is a small window; Show Details and Open Log
    grow it, hiding them shrinks it again."""

    def __init__(self, title: str, failures: list[Failure], *, log_path: Path | None = None,
                 parent: QWidget | None = None, offers: list[tuple[str, Callable[[], object]]] = (),
                 outcome: str = "") -> None:
        """``offers``: (button text, what it does) for remedies the app can carry out itself
        (Start Network for a machine that failed on a stopped one); each is pressed once.
        ``outcome``: a flow's own words on what it did and undid, shown whole at the top (its
        task row cuts them)."""
        super().__init__(parent)
        self.failures = failures
        self.log_path = log_path
        self.setWindowTitle(title)
        self.setSizeGripEnabled(True)
        layout = QVBoxLayout(self)
        name, first = failures[0]
        # Plain text, each line escaped (it names machines, volumes and hosts), wrapped.
        lines = [escape_line(line) for line in outcome.strip().splitlines()]
        self.outcome = plain_label("Outcome: " + "\n".join(lines) if lines else "", wrap=True, selectable=True)
        self.outcome.setVisible(bool(lines))
        # Plain text, escaped on one line: libvirt's words and the names of machines and hosts.
        if len(failures) == 1:
            self.headline = plain_label(headline(name, first), wrap=True, bold=True, selectable=True)
            self.remedy = plain_label(advice(first), wrap=True, selectable=True)
        else:
            self.headline = plain_label(f"{len(failures)} operations failed.", wrap=True, bold=True)
            self.remedy = plain_label("Expand a row for libvirt's reason and the remedy.", wrap=True)
        # The rest of a message of several lines (an XML error's line and caret), as written.
        rest = str(first.message if isinstance(first, HypervisorError) else first).strip().splitlines()[1:]
        self.more = plain_label("\n".join(escape_line(line) for line in rest[:12]), selectable=True)
        self.more.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.more.setVisible(len(failures) == 1 and bool(rest))
        self.remedy.setVisible(bool(self.remedy.text()))
        icon = QLabel()
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical).pixmap(32, 32))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        words = QVBoxLayout()
        words.setSpacing(8)
        for label in (self.outcome, self.headline, self.more, self.remedy):
            label.setMinimumWidth(380)
            words.addWidget(label)
        top = QHBoxLayout()
        top.addWidget(icon)
        top.addLayout(words, 1)
        layout.addLayout(top)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["", ""])
        self.tree.setHeaderHidden(True)
        self.tree.setColumnCount(2)
        if len(failures) == 1:
            self._add_fields(self.tree.invisibleRootItem(), first)
        else:
            for name, error in failures:
                row = QTreeWidgetItem(self.tree, [name, error.headline() if isinstance(error, HypervisorError)
                                                  else headline("", error)])
                row.setToolTip(1, tooltip(advice(error)))
                self._add_fields(row, error)
        self.tree.resizeColumnToContents(0)
        # Wide enough for the field labels of a collapsed row too ("Hypervisor version").
        self.tree.header().resizeSection(0, max(self.tree.header().sectionSize(0), 170))
        self.details_button = QPushButton("Show Details")
        self.details_button.setCheckable(True)
        self.details_button.toggled.connect(self._toggle_details)
        self.tree.itemExpanded.connect(lambda _item: self._fit())
        self.tree.setVisible(len(failures) > 1)  # a single error starts folded: the summary comes first
        self.details_button.setChecked(len(failures) > 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = buttons.addButton("Copy", QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy)
        self.log_button = buttons.addButton("Open Log", QDialogButtonBox.ButtonRole.ActionRole)
        self.log_button.clicked.connect(self.open_log)
        self.log_button.setEnabled(log_path is not None)
        buttons.addButton(self.details_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.offer_buttons = []
        for text, act in offers:
            button = buttons.addButton(text, QDialogButtonBox.ButtonRole.ActionRole)
            button.clicked.connect(lambda _checked=False, b=button, a=act: (b.setEnabled(False), a()))
            self.offer_buttons.append(button)
        buttons.rejected.connect(self.reject)
        layout.addWidget(self.tree, 1)
        # The log's own lines for these errors: plain text (libvirt's words, escaped on one line).
        self.log_note = plain_label(wrap=True, selectable=True)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        # A log line is long (every field of the error): wrapped to the dialog's width, anywhere
        # when a word (a path, a JSON value) is wider than the dialog.
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.log_view.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.log_file_button = QPushButton("Open Log File")
        self.log_file_button.clicked.connect(self.open_log_file)
        for widget in (self.log_note, self.log_view, self.log_file_button):
            widget.setVisible(False)
            layout.addWidget(widget)
        layout.addWidget(buttons)
        self._fit()

    def _fit(self) -> None:
        """Fit the window to what is shown: the words alone, or with room for the rows of the
        details (up to a limit; beyond it they scroll) and for the log's lines."""
        self.layout().activate()
        hint = self.sizeHint()
        if not (self.tree.isVisibleTo(self) or self.log_view.isVisibleTo(self)):
            self.resize(hint)
            return
        height = hint.height()
        if self.tree.isVisibleTo(self):
            rows = self.tree.topLevelItemCount() + sum(
                self.tree.topLevelItem(i).childCount() for i in range(self.tree.topLevelItemCount())
                if self.tree.topLevelItem(i).isExpanded())
            row = max(self.tree.sizeHintForRow(0), self.fontMetrics().height() + 2)
            wanted = min(max(rows, 3) * row + 2 * self.tree.frameWidth() + 6, 460)
            height += wanted - self.tree.sizeHint().height()
        self.resize(max(self.width(), 640), max(height, self.height() if self.isVisible() else 0))

    @staticmethod
    def _add_fields(parent: QTreeWidgetItem, error: HypervisorError | str) -> None:
        if isinstance(error, HypervisorError):
            for label, value in error.fields():
                if value:
                    QTreeWidgetItem(parent, [label, value]).setToolTip(1, tooltip(value))  # a long remedy
        else:
            QTreeWidgetItem(parent, ["Message", str(error)])

    def _toggle_details(self, shown: bool) -> None:
        self.tree.setVisible(shown)
        self.details_button.setText("Hide Details" if shown else "Show Details")
        self._fit()

    def text(self) -> str:
        blocks = [f"{name}\n{_details(error)}" if name else _details(error) for name, error in self.failures]
        return "\n\n".join([self.outcome.text(), *blocks] if self.outcome.text() else blocks)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text())

    def error_ids(self) -> list[str]:
        return [e.error_id for _name, e in self.failures if isinstance(e, HypervisorError) and e.error_id]

    def open_log(self) -> None:
        """Show these errors' entries from the log (each a line with every field), and offer the file."""
        if self.log_path is None:
            return
        lines = find_entries(self.log_path, self.error_ids())
        if lines:
            self.log_note.setText(f"From the log, {self.log_path}:")
        else:
            self.log_note.setText(f"No entry for {'this error' if len(self.failures) == 1 else 'these errors'} "
                                  f"in the log, {self.log_path} (an older error, or the log was not kept).")
        self.log_view.setPlainText("\n".join(lines))
        self.log_note.setVisible(True)
        self.log_view.setVisible(bool(lines))
        self.log_file_button.setVisible(True)
        self._fit()

    def open_log_file(self) -> None:
        if self.log_path is not None:
            self.log_viewer = show_log(self.log_path, self)


class CrashDialog(QDialog):
    """An unexpected exception: said plainly, with the traceback for the bug report."""

    def __init__(self, exc: BaseException, *, log_path: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Unexpected error")
        self.log_path = log_path
        layout = QVBoxLayout(self)
        text = rich_label("<b>Something went wrong inside ECP Desktop.</b><br>The app keeps running. "
                          "The details below are in the log too; please include them in a bug report.", wrap=True)
        self.details = QPlainTextEdit("".join(traceback.format_exception(exc)))
        self.details.setReadOnly(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy", QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.details.toPlainText()))
        open_log = buttons.addButton("Open Log", QDialogButtonBox.ButtonRole.ActionRole)
        open_log.clicked.connect(lambda: log_path and setattr(self, "log_viewer", show_log(log_path, self)))
        buttons.rejected.connect(self.reject)
        for widget in (text, self.details, buttons):
            layout.addWidget(widget)
        self.resize(640, 400)
