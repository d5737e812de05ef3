"""The main window: hosts | machines | details, tasks dock, toolbar, menus, status bar."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QDockWidget, QHBoxLayout, QHeaderView, QLineEdit, QMainWindow, QMenu,
                               QMessageBox, QSplitter, QTableView, QVBoxLayout, QWidget, QPushButton)

from ... import APP_NAME, __version__
from ...services.core.aio import spawn
from ...services.core.wording import count
from ...services.actions.host_actions import HostActions
from ...services.hosts.connection import HostConnection
from ...services.inventory.live import Inventory
from ...services.maintenance.watch import MarkWatch
from ...services.actions.lifecycle import ACTIONS, Lifecycle
from ...services.inventory.machines import MachineInfo
from ...services.actions.restore import PAUSED_POLICIES
from ...services.actions.restore import POLICIES as RESTORE_POLICIES
from ...services.setup.startup import not_set_up_line
from ...services.config import preferences
from ...services.tasks.service import TaskService
from ..hosts.add_connection_dialog import AddConnectionDialog
from ..machines.details_panel import DetailsPanel
from ..common.error_dialog import ErrorDialog
from .health_line import health
from ..maintenance.recover_dialog import can_recover
from ..hosts.host_model import HostRole, HostTableModel
from ..common.icons import app_icon
from ..machines.machine_filter import MachineFilterProxy
from ..machines.machine_model import USAGE, MachineRole, MachineTableModel
from ..tasks.tasks_pane import TasksPane
from ..new_machine.template_dialog import TemplateDialog, open_template_dialog
from .tray import Tray
from .preferences_dialog import PreferencesDialog
from . import window_layout
from ..snapshots.snapshots_tab import SnapshotsTab
from ..usage.usage_tab import UsageTab, follow_window
from ..usage.usage_column import UsageColumn, show_usage_column
from .main_menus import build_actions, update_machine_actions
from ..common.plain import message_box, plain_label, rich_label, tooltip


def _table(model, *, multi: bool = False, sortable: bool = False) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection if multi
                          else QAbstractItemView.SelectionMode.SingleSelection)
    view.verticalHeader().hide()
    view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # uniform rows: fast at 10k
    view.verticalHeader().setDefaultSectionSize(22)
    view.horizontalHeader().setStretchLastSection(True)
    view.setAlternatingRowColors(True)
    view.setSortingEnabled(sortable)
    view.setWordWrap(False)
    return view


class MainWindow(QMainWindow):
    setup_requested = Signal()  # File → Run Setup Again; the composition root opens the wizard

    def __init__(self, inventory: Inventory, tasks: TaskService, lifecycle: Lifecycle,
                 host_actions: HostActions, settings: QSettings | None = None, *, templates=None,
                 migrations=None, usage=None, hardware=None) -> None:
        super().__init__()
        self.inventory, self.tasks, self.lifecycle, self.host_actions = inventory, tasks, lifecycle, host_actions
        self.templates = templates  # TemplateService: Machine → New Machines from Template
        self.migrations = migrations  # MigrationService: Machine → Migrate…
        self.hardware = hardware  # HardwareService: Machine → Edit Hardware…
        self._settings = settings
        self.log_path = None  # set by the composition root when a log file is kept
        self.last_error_dialog: ErrorDialog | None = None
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(app_icon())
        self.resize(1280, 760)

        self.maintenance_marks = MarkWatch(inventory.executors)  # greys hosts in maintenance
        self.maintenance_marks.start()
        self.host_model = HostTableModel(inventory, self, usage=usage, marks=self.maintenance_marks)
        self.machine_model = MachineTableModel(inventory, self, usage=UsageColumn(usage) if usage else None)
        self.machine_proxy = MachineFilterProxy(self)
        self.machine_proxy.setSourceModel(self.machine_model)

        self.hosts_view = _table(self.host_model, multi=True)
        self.hosts_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.hosts_view.customContextMenuRequested.connect(self._host_menu)
        all_hosts = QPushButton("Show all hosts")
        all_hosts.clicked.connect(self.hosts_view.clearSelection)
        host_pane = QWidget()
        host_box = QVBoxLayout(host_pane)
        host_box.setContentsMargins(0, 0, 0, 0)
        host_box.addWidget(rich_label("<b>Hosts</b>"))
        host_box.addWidget(self.hosts_view)
        host_box.addWidget(all_hosts)

        self.machines_view = _table(self.machine_proxy, multi=True, sortable=True)
        self.machines_view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.usage_column = show_usage_column(self.machines_view, USAGE, usage, MachineRole)
        machine_pane = QWidget()
        machine_box = QVBoxLayout(machine_pane)
        machine_box.setContentsMargins(0, 0, 0, 0)
        self.machines_title = rich_label("<b>Machines</b>")  # and counts: no data
        self.filter_edit = QLineEdit()  # in the pane, never in a toolbar's overflow menu
        self.filter_edit.setPlaceholderText("Filter: name, state or host (state:running host:lab)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.machine_proxy.set_filter_text)
        machine_box.addWidget(self._setup_bar())
        machine_box.addWidget(self.machines_title)
        machine_box.addWidget(self.filter_edit)
        machine_box.addWidget(self.machines_view)

        self.details = DetailsPanel(inventory)
        self.details.add_machine_tab(SnapshotsTab(inventory, tasks), "Snapshots")
        self.usage = usage
        if usage is not None:  # UsageService: sampled only while this window can be seen
            self.usage_tab = UsageTab(usage)  # in a pane beside the tasks (window_layout)
            self.details.add_machine_tab(self.usage_tab)
            self.usage_follower = follow_window(self, usage)
        self.splitter = QSplitter()
        for pane in (host_pane, machine_pane, self.details):
            self.splitter.addWidget(pane)
        self.setCentralWidget(self.splitter)

        self.tasks_pane = TasksPane(tasks, self)
        self.task_model = self.tasks_pane.model
        self.tasks_pane.details_requested.connect(lambda request: self.show_errors(*request))
        self.tasks_dock = QDockWidget("Tasks", self)
        self.tasks_dock.setObjectName("tasks")
        self.tasks_dock.setWidget(self.tasks_pane)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.tasks_dock)

        self._quitting = False
        self.tray = Tray(self, tasks)
        self.tray.notified.connect(lambda title, _message: self.statusBar().showMessage(title, 10000))
        build_actions(self)
        self.health = plain_label()  # host labels and libvirt's reasons
        self.statusBar().addPermanentWidget(self.health)
        self._countdown = QTimer(self)  # runs only while a host waits to reconnect
        self._countdown.setInterval(1000)
        self._countdown.timeout.connect(self._tick)

        self.hosts_view.selectionModel().selectionChanged.connect(self._on_host_selection)
        self.machines_view.selectionModel().selectionChanged.connect(self._on_machine_selection)
        self.machine_proxy.rowsInserted.connect(self._update_counts)
        self.machine_proxy.rowsRemoved.connect(self._update_counts)
        self.machine_proxy.modelReset.connect(self._update_counts)
        self.machine_proxy.layoutChanged.connect(self._update_counts)
        self.machine_model.dataChanged.connect(self._update_action_state)
        inventory.host_changed.connect(self._on_host_changed)
        tasks.database_changed.connect(self._on_database_changed)
        inventory.database_changed.connect(self._on_database_changed)
        inventory.host_added.connect(self._on_host_changed)
        inventory.host_removed.connect(self._on_host_changed)
        inventory.setup_changed.connect(self._show_setup_state)
        self._show_setup_state(inventory.setup_missing)
        spawn(inventory.check_setup())
        self._update_health()
        self._update_action_state()
        window_layout.arrange(self)
        self._restore_layout()

    def _setup_bar(self) -> QWidget:
        """Before setup has run the inventory records nothing: one line says so, with the way out."""
        self.setup_bar = QWidget()
        bar = QHBoxLayout(self.setup_bar)
        bar.setContentsMargins(0, 0, 0, 4)
        self.setup_line = plain_label(wrap=True)  # the reason quotes the database's state
        self.setup_button = QPushButton("Run Setup…")
        self.setup_button.clicked.connect(self.setup_requested.emit)
        bar.addWidget(self.setup_line, 1)
        bar.addWidget(self.setup_button)
        self.setup_bar.hide()
        return self.setup_bar

    def _show_setup_state(self, reason: str | None) -> None:
        self.setup_line.setText(not_set_up_line(reason, "click Run Setup…")
                                if reason else "")
        self.setup_bar.setVisible(bool(reason))

    def event(self, event) -> bool:
        # The wizard runs setup in a window of its own: coming back here is when its outcome
        # can have changed what this window may record (read only while setup is missing).
        if event.type() == QEvent.Type.WindowActivate and not self.setup_bar.isHidden():
            spawn(self.inventory.check_setup())
        return super().event(event)

    # ----- actions and menus -------------------------------------------------------------
    def show_about(self) -> None:
        # open(), not the static helpers: their nested event loop would stall asyncio work.
        box = message_box(QMessageBox.Icon.Information, f"About {APP_NAME}",
                          f"{APP_NAME} {__version__}\nA desktop manager for libvirt virtual machines.",
                          QMessageBox.StandardButton.Close, self)
        box.setIconPixmap(app_icon().pixmap(64, 64))
        box.open()

    def selected_machines(self) -> list[MachineInfo]:
        rows = self.machines_view.selectionModel().selectedRows()
        return [self.machine_proxy.data(index, MachineRole) for index in rows]

    def selected_hosts(self) -> list[HostConnection]:
        return [self.host_model.data(i, HostRole) for i in self.hosts_view.selectionModel().selectedRows()]

    def run_action(self, name: str) -> None:
        """Apply a lifecycle action to every selected machine in a state it applies to."""
        action = ACTIONS[name]
        selected = self.selected_machines()
        chosen = [m for m in selected if m.live and m.state in action.applies_to]
        skipped = len(selected) - len(chosen)
        if not chosen:
            self.statusBar().showMessage(f"{action.label}: no selected machine is in a state for that "
                                         "on a connected host", 5000)
            return
        note = f" ({skipped} skipped: not in a state for that, or host not connected)" if skipped else ""

        def go() -> None:
            self.statusBar().showMessage(f"{action.label}: {count(len(chosen), 'machine')}{note}", 5000)
            spawn(self._apply_and_report(action, chosen))
        if name == "force_off" and preferences.current().confirm_destructive:
            names = ", ".join(m.name for m in chosen[:5]) + (f" and {len(chosen) - 5} more" if len(chosen) > 5 else "")
            self.confirm("Force off", f"Force off {names}? Like pulling the power cord: unsaved data in "
                                      "the guests is lost.", go)
        else:
            go()

    def confirm(self, title: str, question: str, then) -> QMessageBox:
        """Ask ``question`` (plain text: it names machines and hosts as they are); ``then`` on Yes."""
        box = message_box(QMessageBox.Icon.Question, title, question,
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setDefaultButton(QMessageBox.StandardButton.No)  # Enter must not force machines off
        box.finished.connect(lambda result: then() if result == QMessageBox.StandardButton.Yes else None)
        box.open()  # never exec(): a nested loop breaks qasync
        self.last_confirmation = box
        return box

    async def _apply_and_report(self, action, machines: list[MachineInfo]) -> None:
        records = await self.lifecycle.apply_many(action.name, machines)
        failed = [(r.target_name, r.error or r.error_message) for r in records if r.status == "failed"]
        if failed:
            self.show_errors(f"{action.label} failed", failed)

    def show_errors(self, title: str, failures) -> ErrorDialog:
        """One dialog for the failures of one user action, however many machines it covered."""
        dialog = ErrorDialog(title, failures, log_path=self.log_path, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.last_error_dialog = dialog
        return dialog

    def open_preferences(self) -> PreferencesDialog:
        dialog = PreferencesDialog(self.tray.available, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.tray.keep_action.setChecked(preferences.current().keep_in_tray))
        if self.usage is not None:
            dialog.accepted.connect(lambda: self.usage.set_interval(preferences.current().usage_interval))
        dialog.open()
        return dialog

    def open_template_dialog(self) -> TemplateDialog:
        selected = self.selected_machines()
        return open_template_dialog(self, self.templates, selected[0] if selected else None)

    def open_migration_dialog(self):
        from ..migration.migration_dialog import open_migration_dialog
        selected = self.selected_machines()
        if len(selected) != 1 or self.migrations is None:
            return None
        return open_migration_dialog(self, self.migrations, selected[0])

    def open_hardware_dialog(self):
        from ..hardware.hardware_dialog import open_hardware_dialog
        selected = self.selected_machines()
        if len(selected) != 1 or self.hardware is None:
            return None
        return open_hardware_dialog(self, self.hardware, selected[0])

    def set_restore_policy(self, policy: str = "", paused: str = "") -> None:
        """``policy``: what restore brings back; ``paused``: what it does with a paused one."""
        machines = self.selected_machines()
        if machines:
            self.inventory.set_restore_policy([m.key for m in machines], policy, paused)
            label = RESTORE_POLICIES[policy] if policy else PAUSED_POLICIES[paused]
            self.statusBar().showMessage(f"Restore policy \u201c{label}\u201d for "
                                         f"{count(len(machines), 'machine')}", 5000)

    def focus_details(self, *_args) -> None:
        self.details.setCurrentIndex(0)
        self.details.setFocus()

    def on_selected_hosts(self, operation) -> None:
        for host in self.selected_hosts():
            spawn(operation(host))

    def remove_selected_hosts(self) -> None:
        hosts = self.selected_hosts()
        if not hosts:
            return

        def remove() -> None:  # the hosts named in the question
            for host in hosts:
                spawn(self.host_actions.remove(host))
        if preferences.current().confirm_destructive:
            self.remove_confirmation = self.confirm(
                "Remove hosts", f"Remove {', '.join(h.label for h in hosts)} from the list? "
                                "The machines on it are not touched.", remove)
        else:
            remove()

    def _host_menu(self, pos) -> None:
        menu = QMenu(self)
        for a in (self.connect_action, self.disconnect_action, self.remove_host_action):
            menu.addAction(a)
        menu.popup(self.hosts_view.viewport().mapToGlobal(pos))

    def open_add_connection(self) -> AddConnectionDialog:
        dialog = AddConnectionDialog(self.inventory, self.host_actions.add, self)
        dialog.open()  # not exec(): a nested loop would stall the asyncio loop
        return dialog

    # ----- reactions ---------------------------------------------------------------------
    def _on_host_selection(self, *_args) -> None:
        hosts = self.selected_hosts()
        self.machine_proxy.set_hosts({h.uri for h in hosts})
        connected = [h for h in hosts if h.connected]
        self.connect_action.setEnabled(any(not h.connected for h in hosts))
        self.disconnect_action.setEnabled(bool(connected))
        self.remove_host_action.setEnabled(bool(hosts))
        self.recover_action.setEnabled(len(hosts) == 1 and can_recover(hosts[0]))
        self._update_counts()

    def _on_machine_selection(self, *_args) -> None:
        selected = self.selected_machines()
        self.details.show_machine(selected[0] if len(selected) == 1 else None)
        self._update_action_state()

    def _update_action_state(self, *_args) -> None:
        update_machine_actions(self, self.selected_machines())

    def _update_counts(self, *_args) -> None:
        shown, total = self.machine_proxy.rowCount(), self.machine_model.rowCount()
        self.machines_title.setText(f"<b>Machines</b> — {shown:,} shown of {total:,}" if shown != total
                                    else f"<b>Machines</b> — {total:,}")
        self._update_health()

    def _on_host_changed(self, _host=None) -> None:
        self._update_health()
        self._on_host_selection()

    def _on_database_changed(self, _reason: str) -> None:
        was_away = self.health.text().startswith("Inventory database away")
        self._update_health()
        if was_away and not (self.inventory.database_away or self.tasks.database_away):
            # Back (the same server, or a promoted standby): the kept writes are written now.
            self.statusBar().showMessage("Inventory database back: what was kept meanwhile is written", 15000)

    def _tick(self) -> None:
        self.host_model.refresh_countdowns()
        self._update_health()

    def _update_health(self) -> None:
        now = health(self.inventory, self.tasks)
        self.health.setText(now.text)
        self.health.setStyleSheet("color: #b3261e;" if now.database_away else "")
        self.health.setToolTip(tooltip(now.tooltip))
        if now.waiting != self._countdown.isActive():
            (self._countdown.start if now.waiting else self._countdown.stop)()

    # ----- layout persistence ------------------------------------------------------------
    def _restore_layout(self) -> None:
        if self._settings is None:
            QTimer.singleShot(0, lambda: window_layout.fit_first_time(self))
            return
        window_layout.restore_layout(self, self._settings)

    def quit_requested(self) -> None:
        """File → Quit and the tray's Quit: really close, even when closing would only hide."""
        self._quitting = True
        self.close()

    def closeEvent(self, event) -> None:
        if not self._quitting and self.tray.hides_on_close():
            event.ignore()
            self.hide()
            self.tray.notify(APP_NAME, "Still running in the tray; tasks go on and you will be told how they end.")
            return
        if self._settings is not None:
            window_layout.save_layout(self, self._settings)
        if getattr(self, "viewers", None) is not None:
            self.viewers.close_all()
        super().closeEvent(event)
