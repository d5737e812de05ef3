"""The setup wizard's pages that list and import: the import preview and the progress page.

The wizard and its first pages are in ``wizard.py``; both work through ``context.py``.
"""
from __future__ import annotations

import html
from functools import partial

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QCheckBox, QProgressBar, QTextBrowser, QTreeWidget, QTreeWidgetItem,
                               QWizard)

from ecp_desktop.models.db import open_database
from ecp_desktop.services.inventory.importer import preview
from ecp_desktop.services.core.errors import HypervisorError
from ecp_desktop.services.core.wording import count
from ecp_desktop.services.hosts.states import STATE_LABELS
from ecp_desktop.services.setup.pipeline import DONE, FAILED, SKIPPED, Outcome
from ecp_desktop.services.setup.steps import SetupReport, run_setup
from ..common.plain import plain_label
from .context import WizardContext, WizardPage
from .restore_choice import RestoreChoice

PREVIEW_CHUNK = 200  # preview rows added per turn of the event loop (about 10 ms)
TICKED_ROLE = Qt.ItemDataRole.UserRole + 1  # the last tick state counted
STATUS_MARKS = {DONE: ("✔", "#2e7d32"), FAILED: ("✖", "#c62828"), SKIPPED: ("⏭", "#ef6c00")}


class ImportPage(WizardPage):
    def __init__(self, context: WizardContext) -> None:
        super().__init__(context, "Import existing machines",
                         "The machines found on the chosen connections, and which of them start again "
                         "when the window opens.")
        self.do_import = QCheckBox("Import the ticked machines into the inventory")
        self.do_import.setChecked(True)
        self.do_import.toggled.connect(lambda on: self.tree.setEnabled(on))
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Machine", "State"])
        self.tree.header().resizeSection(0, 480)  # room for a host's URI
        self.tree.itemChanged.connect(self._ticked_changed)
        self.counts = plain_label()
        self.restore = RestoreChoice()  # the last question before setup runs
        self.restore.changed.connect(self.completeChanged)
        self.layout_.addWidget(self.do_import)
        self.layout_.addWidget(self.tree)
        self.layout_.addWidget(self.counts)
        self.layout_.addWidget(self.restore)
        self.hosts: dict[str, QTreeWidgetItem] = {}
        self.ticked = 0  # kept as rows change: counting 10,000 rows on each change would stall
        self.total = 0
        self.pending = 0
        self.setCommitPage(True)  # once setup runs, there is no going back
        self.setButtonText(QWizard.WizardButton.CommitButton, "Run Setup")
        self.shown_for: list[str] = []

    def initializePage(self) -> None:
        chosen = self.setup.chosen_connections()
        if chosen == self.shown_for:
            return
        self.shown_for = chosen
        self.tree.clear()
        self.hosts.clear()
        self.ticked = self.total = 0
        self.pending = len(chosen)
        for uri in chosen:
            host = QTreeWidgetItem(self.tree, [uri, "listing…"])
            host.setFlags(host.flags() | Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsAutoTristate)
            host.setCheckState(0, Qt.CheckState.Checked)
            host.setData(0, Qt.ItemDataRole.UserRole, uri)
            self.hosts[uri] = host
            self.setup.in_worker(partial(preview, uri, self.setup.connections), partial(self._listed, uri, host))
        self._count()

    def _listed(self, uri: str, host: QTreeWidgetItem, rows, error: BaseException | None) -> None:
        if host is not self.hosts.get(uri):
            return  # the page was refilled meanwhile
        if error is not None:
            message = error.one_line() if isinstance(error, HypervisorError) else str(error)
            host.setText(1, f"cannot list: {message}")
            host.setCheckState(0, Qt.CheckState.Unchecked)
            self._done_listing()
            return
        host.setText(1, count(len(rows), "machine"))
        self._add_chunk(host, rows, 0)

    def _add_chunk(self, host: QTreeWidgetItem, rows, start: int) -> None:
        """A few hundred rows per turn of the event loop: 10,000 at once would freeze the window."""
        items = []
        for uuid, name, state in rows[start:start + PREVIEW_CHUNK]:
            item = QTreeWidgetItem([name, STATE_LABELS.get(state, state)])  # parentless: cheap to fill
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked)
            item.setData(0, Qt.ItemDataRole.UserRole, uuid)
            item.setData(0, TICKED_ROLE, True)
            items.append(item)
        self.tree.blockSignals(True)
        host.addChildren(items)  # one insertion for the chunk, not one per row
        self.tree.blockSignals(False)
        self.ticked += len(items)
        self.total += len(items)
        if start + PREVIEW_CHUNK < len(rows):
            QTimer.singleShot(0, partial(self._add_chunk, host, rows, start + PREVIEW_CHUNK))
        else:
            host.setExpanded(len(rows) <= 50)
            self._done_listing()

    def _done_listing(self) -> None:
        self.pending -= 1
        self._count()
        self.completeChanged.emit()

    def selection(self) -> dict[str, set[str]]:
        """Per host, the ticked UUIDs; a fully ticked host is left out (import all it has)."""
        picked = {}
        for uri, host in self.hosts.items():
            if host.checkState(0) == Qt.CheckState.Checked:
                continue
            picked[uri] = {host.child(i).data(0, Qt.ItemDataRole.UserRole) for i in range(host.childCount())
                           if host.child(i).checkState(0) == Qt.CheckState.Checked}
        return picked

    def _ticked_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column != 0 or item.parent() is None:
            return  # a host row: its machines report their own changes
        checked = item.checkState(0) == Qt.CheckState.Checked
        if checked != item.data(0, TICKED_ROLE):
            item.setData(0, TICKED_ROLE, checked)
            self.ticked += 1 if checked else -1
            self._count()

    def _count(self) -> None:
        self.counts.setText(f"{self.ticked:,} of {count(self.total, 'machine')} ticked on "
                            f"{count(len(self.hosts), 'connection')}"
                            + (" (still listing…)" if self.pending else ""))

    def isComplete(self) -> bool:
        """Every host listed, and the user has said which machines the window starts again."""
        return self.pending == 0 and self.restore.choice() is not None


class ProgressPage(WizardPage):
    def __init__(self, context: WizardContext) -> None:
        super().__init__(context, "Setting up", "Each step and its outcome; skipped steps say why.")
        self.bar = QProgressBar()
        self.now = plain_label()  # a step's words, naming hosts
        self.steps = QTextBrowser()  # wraps long outcomes: they are the point of this page
        self.shown: list[Outcome] = []
        self.summary = plain_label(wrap=True)  # an error's words
        for widget in (self.bar, self.now, self.steps, self.summary):
            self.layout_.addWidget(widget)
        self.report: SetupReport | None = None
        self.running = False

    def initializePage(self) -> None:
        self.steps.clear()
        self.shown.clear()
        self.report = None
        self.running = True
        self.wizard().typed_input_saved()  # the answers are in the run now: closing loses nothing
        options = self.setup.options()
        url, first = self.setup.chosen_database(), not self.setup.database_locked
        post = self.setup.post.emit
        shared = self.setup.connections  # the probes' connections: the run imports through them, then closes them

        def work() -> SetupReport:
            if first:
                open_database(url)  # setup's first step creates the tables there
            return run_setup(options, progress=lambda d, t, w: post(partial(self._progress, d, t, w)),
                             on_outcome=lambda o: post(partial(self._outcome, o)), shared=shared)
        # Started once the page has been drawn: the run's first steps are Python work that would
        # otherwise compete with drawing it for the interpreter lock (bench/import_domains.py stall_N).
        QTimer.singleShot(0, self, partial(self.setup.in_worker, work, self._finished))

    def _progress(self, done: int, total: int, what: str) -> None:
        self.bar.setRange(0, total)
        self.bar.setValue(done)
        self.now.setText(what)

    def _outcome(self, outcome: Outcome) -> None:
        self.shown.append(outcome)
        mark, colour = STATUS_MARKS.get(outcome.status, ("•", "#555"))
        label = f"Extension: {outcome.title}" if outcome.kind == "hook" else outcome.title
        self.steps.append(f'<p><span style="color:{colour}">{mark}</span> <b>{html.escape(label)}</b> '
                          f'({outcome.status}, {outcome.seconds:.1f} s)<br>{html.escape(outcome.message)}</p>')

    def _finished(self, report: SetupReport | None, error: BaseException | None) -> None:
        self.running = False
        self.report = report
        if report is None:
            self.summary.setText(f"✖ Setup could not run: {error}")
        else:
            self.summary.setText(summary_text(report))
        self.completeChanged.emit()
        self.setup.setup_finished.emit(report)

    def isComplete(self) -> bool:
        return not self.running and self.report is not None


def summary_text(report: SetupReport) -> str:
    """✔ only when nothing went wrong; else how many problems, each on its line."""
    problems = report.problems
    mark = "✖" if not report.ok else "⚠" if problems else "✔"
    added, updated, missing = (sum(getattr(i, k) for i in report.imports) for k in ("added", "updated", "missing"))
    lines = [f"{mark} {report.headline()}", *(f"• {p}" for p in problems)]
    lines.append(f"Machines: {added:,} added, {updated:,} updated, {missing:,} marked missing. "
                 "Running setup again completes anything skipped.")
    return "\n".join(lines)
