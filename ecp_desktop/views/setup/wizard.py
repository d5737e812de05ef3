"""The setup wizard: welcome, database, connections, import preview, progress.

Every blocking call (database test, connection probes, domain listing, the setup run
itself) runs on the wizard's worker threads; results come back to the GUI thread
through a queued signal, so the window stays responsive during a 10,000-machine import.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                               QRadioButton, QTreeWidget, QTreeWidgetItem, QWizard)

from ecp_desktop.models.db import check_database, without_password
from ecp_desktop.services.config import credentials
from ecp_desktop.services.hosts.probe import Probe, detect, probe
from ecp_desktop.services.setup.steps import SetupOptions
from ecp_desktop.services.core.names import MAX_LABEL, label_problem
from ecp_desktop.services.hosts.uri import InvalidUri, parse_uri
from ..common import icons
from ..common.plain import plain_label, tooltip
from .context import WizardContext, WizardPage
from .pages import ImportPage, ProgressPage
from ..common.discard_guard import AsksBeforeDiscarding


class WelcomePage(WizardPage):
    def __init__(self, context: WizardContext) -> None:
        super().__init__(context, "Welcome to ECP Desktop", "Set up the inventory and take over existing machines.")
        text = QLabel(
            "This wizard chooses where the inventory lives, finds the hypervisors you can reach, and imports "
            "the virtual machines they already run. Nothing on the hosts is changed: import only reads.\n\n"
            "You can run it again at any time from File → Run Setup Again; it never duplicates anything.")
        text.setWordWrap(True)
        self.layout_.addWidget(text)


class DatabasePage(WizardPage):
    def __init__(self, context: WizardContext) -> None:
        super().__init__(context, "Inventory database", "Where ECP Desktop keeps hosts, machines and task history.")
        self.sqlite = QRadioButton("Embedded (SQLite) file, for one person")
        self.postgres = QRadioButton("PostgreSQL server, shared by a team")
        group = QButtonGroup(self)
        group.addButton(self.sqlite)
        group.addButton(self.postgres)
        self.path = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.pg_url = QLineEdit()
        self.pg_url.setPlaceholderText("postgresql://USER@HOST:5432/DATABASE?sslmode=verify-full")
        self.pg_password = QLineEdit()
        self.pg_password.setEchoMode(QLineEdit.EchoMode.Password)
        self.pg_password.setPlaceholderText("password (empty: ~/.pgpass, PGPASSWORD or the keyring)")
        keyring_ok, keyring_words = credentials.keyring_status()
        self.pg_remember = QCheckBox("Remember the password in the system keyring")
        self.pg_remember.setEnabled(keyring_ok)
        self.pg_remember.setChecked(keyring_ok)
        self.pg_remember.setToolTip(tooltip(keyring_words))
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.test_connection)
        self.result = plain_label(wrap=True)  # the server's own words
        self.tested: tuple[str, bool] = ("", False)
        row = QHBoxLayout()
        row.addWidget(self.path)
        row.addWidget(browse)
        pg_row = QHBoxLayout()
        pg_row.addWidget(self.pg_url)
        pg_row.addWidget(self.test_button)
        self.layout_.addWidget(self.sqlite)
        self.layout_.addLayout(row)
        self.layout_.addWidget(self.postgres)
        self.layout_.addLayout(pg_row)
        self.layout_.addWidget(self.pg_password)
        self.layout_.addWidget(self.pg_remember)
        self.layout_.addWidget(self.result)
        self.layout_.addStretch()
        url = context.database_url
        if url.startswith("postgres"):
            self.postgres.setChecked(True)
            self.pg_url.setText(url)
        else:
            self.sqlite.setChecked(True)
            self.path.setText(url.removeprefix("sqlite:///"))
        for signal in (self.sqlite.toggled, self.path.textChanged, self.pg_url.textChanged):
            signal.connect(self._changed)
        if context.database_locked:
            for widget in (self.sqlite, self.postgres, self.path, browse, self.pg_url, self.pg_password,
                           self.pg_remember):
                widget.setEnabled(False)
            self.result.setText("This window works on this database. To use another one, quit and start "
                                "ECP Desktop with --database URL, then run setup there.")
        self._changed()

    def url(self) -> str:
        if self.sqlite.isChecked():
            return f"sqlite:///{Path(self.path.text().strip()).expanduser()}"
        return self.pg_url.text().strip()

    def _browse(self) -> None:
        name, _filter = QFileDialog.getSaveFileName(self, "Inventory file", self.path.text(),
                                                    "SQLite database (*.sqlite3 *.db)")
        if name:
            self.path.setText(name)

    def _changed(self, *_args) -> None:
        self.pg_url.setEnabled(self.postgres.isChecked() and not self.setup.database_locked)
        self.pg_password.setEnabled(self.postgres.isChecked() and not self.setup.database_locked)
        self.test_button.setEnabled(self.postgres.isChecked() and not self.setup.database_locked)
        self.completeChanged.emit()

    def test_connection(self) -> None:
        url = self.url()
        if self.pg_password.text():  # used for this session; kept only in the keyring, if asked
            credentials.remember_for_session(credentials.database_account(url), self.pg_password.text())
        self.result.setText(f"Connecting to {without_password(url)} …")
        self.test_button.setEnabled(False)
        self.setup.in_worker(partial(check_database, url), partial(self._tested, url))

    def _tested(self, url: str, answer: str | None, error: BaseException | None) -> None:
        self.test_button.setEnabled(self.postgres.isChecked())
        self.tested = (url, error is None)
        self.result.setText(f"✔ {answer} answers." if error is None else f"✖ {error}")
        if error is None and self.pg_password.text() and self.pg_remember.isChecked():
            why_not = credentials.save_secret(credentials.database_account(url), self.pg_password.text())
            self.result.setText(self.result.text() + (f" The password was not stored: {why_not}." if why_not
                                                      else " The password is in the system keyring."))
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        if self.setup.database_locked:
            return True
        if self.sqlite.isChecked():
            return bool(self.path.text().strip())
        return self.tested == (self.url(), True)  # a PostgreSQL URL must have answered


class AddOnEnterEdit(QLineEdit):
    """Enter adds the typed connection (``returnPressed``) and stops there: it does not reach
    the wizard, whose default button would go to the next page before the host was checked."""

    def keyPressEvent(self, event: QKeyEvent) -> None:
        super().keyPressEvent(event)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()


class ConnectionsPage(WizardPage):
    def __init__(self, context: WizardContext) -> None:
        super().__init__(context, "Hypervisor connections", "Tick the connections to use and import from.")
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Connection", "Status"])
        self.tree.setRootIsDecorated(False)
        self.tree.itemChanged.connect(lambda *_: self.completeChanged.emit())
        self.uri_edit = AddOnEnterEdit()
        self.uri_edit.setPlaceholderText("Add a remote connection, e.g. qemu+ssh://root@host.example/system")
        self.uri_edit.returnPressed.connect(self.add_uri)
        self.name_edit = AddOnEnterEdit()  # Enter adds here too
        self.name_edit.setPlaceholderText("Name (optional), e.g. lab-2")
        self.name_edit.setMaxLength(MAX_LABEL + 1)  # one more: the check says the limit in words
        self.name_edit.returnPressed.connect(self.add_uri)
        self.names: dict[str, str] = {}  # per URI, the name the user gave it
        add = QPushButton("Add")
        add.clicked.connect(self.add_uri)
        self.note = plain_label(wrap=True)  # URIs and what the hosts said
        row = QHBoxLayout()
        row.addWidget(self.uri_edit, 3)
        row.addWidget(self.name_edit, 1)
        row.addWidget(add)
        self.layout_.addWidget(self.tree)
        self.layout_.addLayout(row)
        self.layout_.addWidget(self.note)
        self.items: dict[str, QTreeWidgetItem] = {}
        self.detecting = False
        self.adding = 0  # typed connections being checked: Next waits for them

    def initializePage(self) -> None:
        if self.items:
            return  # keep the user's ticks when they come back to this page
        self.detecting = True
        self.note.setText("Looking for hypervisors…")
        typed = self.setup.typed_connections
        self.setup.in_worker(partial(detect, typed, timeout=self.setup.probe_timeout, shared=self.setup.connections),
                             self._detected)

    def _detected(self, probes: list[Probe] | None, error: BaseException | None) -> None:
        self.detecting = False
        for found in probes or []:
            self._show(found, found.suggested or found.uri in self.setup.configured)
        answering = sum(1 for p in probes or [] if p.reachable)
        self.note.setText(f"Connections that answer: {answering} of {len(probes or [])}." if error is None
                          else f"Detection failed: {error}")
        self.completeChanged.emit()

    def _show(self, found: Probe, checked: bool) -> None:
        item = self.items.get(found.uri) or QTreeWidgetItem(self.tree)
        self.items[found.uri] = item
        name = self.names.get(found.uri) or (found.label if found.is_demo else "")
        label = f"{name}  ({found.uri})" if name else found.uri
        item.setText(0, label)
        item.setText(1, found.status_text)
        item.setToolTip(1, tooltip(found.status_text))
        item.setData(0, Qt.ItemDataRole.UserRole, found.uri)
        item.setIcon(0, icons.state_icon("running" if found.reachable else "shutoff"))
        flags = item.flags() | Qt.ItemFlag.ItemIsUserCheckable
        item.setFlags(flags if found.reachable else flags & ~Qt.ItemFlag.ItemIsEnabled)
        item.setCheckState(0, Qt.CheckState.Checked if checked and found.reachable else Qt.CheckState.Unchecked)
        self.tree.resizeColumnToContents(0)

    def add_uri(self) -> None:
        uri = self.uri_edit.text().strip()
        name = self.name_edit.text().strip()
        try:
            parse_uri(uri)
        except InvalidUri as exc:
            self.note.setText(f"✖ {exc}")
            return
        problem = label_problem(name)
        if problem:
            self.note.setText(f"✖ {problem}")
            return
        if name:
            self.names[uri] = name
        self.note.setText(f"Trying {uri} …")
        if uri not in self.setup.typed_connections:
            self.setup.typed_connections.append(uri)
        self.adding += 1
        self.completeChanged.emit()
        self.setup.in_worker(partial(probe, uri, self.setup.probe_timeout, self.setup.connections), self._added)

    def _added(self, found: Probe | None, error: BaseException | None) -> None:
        self.adding -= 1
        self.completeChanged.emit()
        if found is None:
            self.note.setText(f"✖ {error}")
            return
        self._show(found, found.reachable)
        self.uri_edit.clear()
        self.name_edit.clear()
        self.note.setText(f"✔ {found.uri} answers." if found.reachable else f"✖ {found.uri}: {found.reason}")
        self.completeChanged.emit()

    def chosen(self) -> list[str]:
        return [uri for uri, item in self.items.items() if item.checkState(0) == Qt.CheckState.Checked]

    def isComplete(self) -> bool:
        return not self.detecting and not self.adding


class SetupWizard(AsksBeforeDiscarding, QWizard):
    """``setup_finished(report)`` is emitted when the run ends (None if it could not start)."""

    setup_finished = Signal(object)

    def __init__(self, *, database_url: str, database_locked: bool, typed_connections: list[str],
                 configured: list[str] = (), probe_timeout: float = 10.0, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("ECP Desktop Setup")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.context = context = WizardContext(
            database_url=database_url, database_locked=database_locked, typed_connections=typed_connections,
            configured=list(configured), probe_timeout=probe_timeout, parent=self)
        context.setup_finished.connect(self.setup_finished)
        self.database_page = DatabasePage(context)
        self.connections_page = ConnectionsPage(context)
        self.import_page = ImportPage(context)
        self.progress_page = ProgressPage(context)
        context.chosen_database = self.chosen_database
        context.chosen_connections = self.connections_page.chosen
        context.options = self.options
        for page in (WelcomePage(context), self.database_page, self.connections_page, self.import_page,
                     self.progress_page):
            self.addPage(page)
        self.resize(760, 560)
        self.finished.connect(lambda _result: context.shutdown())

    @property
    def typed_connections(self) -> list[str]:
        return self.context.typed_connections

    def chosen_database(self) -> str:
        c = self.context
        return c.database_url if c.database_locked else self.database_page.url()

    def options(self) -> SetupOptions:
        return SetupOptions(connections=list(self.context.typed_connections), chosen=self.connections_page.chosen(),
                            labels=dict(self.connections_page.names),
                            do_import=self.import_page.do_import.isChecked(),
                            selection=self.import_page.selection() or None,
                            probe_timeout=self.context.probe_timeout,
                            restore_at_start=self.import_page.restore.choice())
