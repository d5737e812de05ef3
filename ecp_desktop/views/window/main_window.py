"""The main window: hosts | machines | details, tasks dock, toolbar, menus, status bar."""
from __future__ import annotations

from PySide6.QtCore import SIGNAL, SLOT, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (QAbstractItemView, QDockWidget, QHBoxLayout, QHeaderView, QLineEdit, QMainWindow, QMenu,
                               QMessageBox, QSplitter, QTableView, QVBoxLayout, QWidget, QPushButton)

from ... import APP_NAME, __version__
from ...services.actions.lifecycle import select_for
from ...services.actions.restore import PAUSED_POLICIES
from ...services.actions.restore import POLICIES as RESTORE_POLICIES
from ...services.composition import Services
from ...services.config import preferences
from ...services.console.viewer import ViewerSessions
from ...services.core.aio import spawn
from ...services.core.errors import HypervisorError, Refusal
from ...services.core.wording import count
from ...services.hosts.connection import HostConnection
from ...services.hosts.placement import first_host_taking_machines, placement_refusal
from ...services.hosts.states import ACTIVE_STATES
from ...services.history.versions import Version
from ...services.inventory.machines import MachineInfo
from ...services.maintenance.recover import can_recover
from ...services.networks.networks import inactive_network_in
from ...services.setup.startup import not_set_up_line
from ...services.tasks.records import SUCCEEDED
from ..common.error_dialog import ErrorDialog
from ..common.icons import app_icon
from ..common.log_viewer import show_log
from ..common.plain import ask, message_box, plain_label, problem_style, rich_label, tooltip
from ..console.console_tab import open_graphical_console
from ..hardware.hardware_dialog import open_hardware_dialog
from ..hosts.add_connection_dialog import AddConnectionDialog
from ..hosts.host_model import IN_USE, HostRole, HostTableModel
from ..machines.details_panel import DetailsPanel
from ..machines.machine_filter import MachineFilterProxy
from ..machines.machine_model import ADDRESSES, USAGE, MachineRole, MachineTableModel
from ..machines.delete_dialog import DeleteDialog, open_delete_dialog
from ..machines.rename_dialog import RenameDialog, open_rename_dialog
from ..maintenance.exit_maintenance_dialog import ExitMaintenanceDialog, open_exit_maintenance_dialog
from ..maintenance.maintenance_dialog import MaintenanceDialog, open_maintenance_dialog
from ..maintenance.recover_dialog import RecoverDialog, open_recover_dialog
from ..migration.migration_dialog import MigrationDialog, open_migration_dialog
from ..new_machine.new_machine_wizard import NewMachineWizard, open_new_machine_wizard
from ..new_machine.template_dialog import TemplateDialog, open_template_dialog
from ..snapshots.snapshots_tab import SnapshotsTab
from ..machines.history_tab import HistoryTab
from ..tasks.tasks_pane import TasksPane
from ..common.paints_first import PaintsFirst
from ..usage.usage_column import UsageColumn, show_usage_column
from ..common.rows_in_view import RowsInView
from ..machines.address_column import AddressColumn, plain_addresses
from ..hosts.label_dialog import LabelDialog, open_label_dialog
from ..networks.networks_dialog import NetworksDialog, open_networks_dialog
from ..storage.storage_dialog import StorageDialog, open_storage_dialog
from ..usage.usage_tab import UsageTab, follow_window
from . import window_layout
from .empty_state import EmptyState
from .health_line import health
from .preferences_dialog import PreferencesDialog
from .tray import Tray
from .window_actions import WindowActions
from ..common.follow import follow


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


ACTION_STATE_MS = 50  # the actions follow a burst of row changes once, this long after it


class MainWindow(QMainWindow):
    setup_requested = Signal()  # File → Run Setup Again; the composition root opens the wizard

    def __init__(self, services: Services, settings: QSettings | None = None) -> None:
        super().__init__()
        self.services = services
        inventory, tasks, usage = services.inventory, services.tasks, services.usage
        self.inventory, self.tasks = inventory, tasks  # what this window shows
        self._settings = settings
        self.log_path = None  # set by the composition root when a log file is kept
        self.last_error_dialog: ErrorDialog | None = None
        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(app_icon())
        self.resize(1280, 760)

        self.maintenance_marks = services.maintenance_marks  # greys hosts in maintenance
        self.maintenance_marks.start()
        self.viewers = ViewerSessions()  # one graphical console per machine, closed with the window
        self.host_model = HostTableModel(inventory, self, usage=usage, marks=self.maintenance_marks)
        self.machine_model = MachineTableModel(inventory, self, usage=UsageColumn(usage, self),
                                               addresses=AddressColumn(services.addresses))
        self.machine_proxy = MachineFilterProxy(self)
        self.machine_proxy.setSourceModel(self.machine_model)

        self.hosts_view = _table(self.host_model, multi=True)
        self.host_rows = RowsInView(self.hosts_view, IN_USE, HostRole, self.host_model.sample_rows_in_view)
        self.context_menu: QMenu | None = None  # the right-click menu on screen
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
        self.machines_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.machines_view.customContextMenuRequested.connect(self._machine_menu)
        self.usage_column = show_usage_column(self.machines_view, USAGE, usage, MachineRole)
        # Only the running machines in view have their addresses read.
        self.address_rows = RowsInView(self.machines_view, ADDRESSES, MachineRole, lambda machines: (
            services.addresses.watch(self.machine_model, {m.key for m in machines})))
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
        self.details.add_machine_tab(SnapshotsTab(inventory, services.snapshots), "Snapshots")
        self.history_tab = HistoryTab(inventory, revert=self.open_revert_dialog)
        self.details.add_machine_tab(self.history_tab, "History")
        self.usage = usage  # sampled only while this window can be seen
        self.usage_tab = UsageTab(usage)  # in a pane beside the tasks (window_layout)
        self.details.add_machine_tab(self.usage_tab)
        self.usage_follower = follow_window(self, usage)
        self.splitter = QSplitter()
        for pane in (host_pane, machine_pane, self.details):
            self.splitter.addWidget(pane)
        self.setCentralWidget(self.splitter)

        self.tasks_pane = TasksPane(tasks, self)
        self.task_model = self.tasks_pane.model
        # Worker threads give way to these views' paints (each is many calls into Python).
        self.paints_first = PaintsFirst(self, [self.machines_view.viewport(), self.hosts_view.viewport(),
                                               self.tasks_pane.view.viewport()])
        self.tasks_pane.details_requested.connect(lambda request: self.show_errors(*request))
        self.tasks_dock = QDockWidget("Tasks", self)
        self.tasks_dock.setObjectName("tasks")
        self.tasks_dock.setWidget(self.tasks_pane)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.tasks_dock)

        self._quitting = False
        self.tray = Tray(self, tasks)
        self.tray.notified.connect(lambda title, _message: self.statusBar().showMessage(title, 10000))
        self.menu_actions = WindowActions(self)
        self.details.show_actions([self.menu_actions.lifecycle["start"], self.menu_actions.lifecycle["resume"],
                                   self.menu_actions.open_console, self.menu_actions.hardware])
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
        # The actions follow the selected machines' new states once per burst of changes: a bulk
        # action changes hundreds of runs of rows at a time, each its own dataChanged.
        self._action_state_soon = QTimer(self)
        self._action_state_soon.setSingleShot(True)
        self._action_state_soon.setInterval(ACTION_STATE_MS)
        self._action_state_soon.timeout.connect(self._update_action_state)
        QObject.connect(self.machine_model, SIGNAL("dataChanged(QModelIndex,QModelIndex,QList<int>)"),
                        self._action_state_soon, SLOT("start()"))  # Qt to Qt: no call into Python
        follow(inventory.host_changed, self, self._on_host_changed)
        follow(tasks.database_changed, self, self._on_database_changed)
        follow(inventory.database_changed, self, self._on_database_changed)
        follow(inventory.host_added, self, self._on_host_changed)
        follow(inventory.host_removed, self, self._on_host_changed)
        follow(inventory.setup_changed, self, self._show_setup_state)
        self._show_setup_state(inventory.setup_missing)
        spawn(inventory.check_setup())
        QGuiApplication.instance().focusWindowChanged.connect(self._on_focus_window)
        self._update_health()
        self._update_action_state()
        self.pane_shortcuts = window_layout.arrange(self, settings)
        self.empty_state = EmptyState(self, inventory, services.host_actions)
        self.console_dock, self.usage_dock = window_layout.machine_panes(
            self, self.menu_actions.view_menu, [("console", "Console", self.details.console),
                                           ("usage", "Usage", self.usage_tab)])
        self.console_fits = window_layout.GrowsWhenShown(
            self, self.console_dock, lambda: window_layout.console_height(self.details.console.terminal))
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

    def _on_focus_window(self, focused) -> None:
        # The wizard runs setup in a window of its own: coming back here is when its outcome
        # can have changed what this window may record (read only while setup is missing).
        # A signal, not an event() override: that would be a call into Python for every event.
        if focused is not None and focused is self.windowHandle() and not self.setup_bar.isHidden():
            spawn(self.inventory.check_setup())

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
        selection = select_for(name, self.selected_machines())
        action, chosen, skipped = selection.action, selection.chosen, len(selection.skipped)
        if not chosen:
            self.statusBar().showMessage(f"{action.label}: no selected machine is in a state for that "
                                         "on a connected host", 5000)
            return
        note = f" ({skipped} skipped: not in a state for that, or host not connected)" if skipped else ""

        def apply_now() -> None:
            self.statusBar().showMessage(f"{action.label}: {count(len(chosen), 'machine')}{note}", 5000)
            spawn(self._apply_and_report(action, chosen))
        if name == "force_off" and preferences.current().confirm_destructive:
            names = ", ".join(m.name for m in chosen[:5]) + (f" and {len(chosen) - 5} more" if len(chosen) > 5 else "")
            self.confirm("Force off", f"Force off {names}? Like pulling the power cord: unsaved data in "
                                      "the guests is lost.", apply_now)
        else:
            apply_now()

    def confirm(self, title: str, question: str, then) -> QMessageBox:
        """Ask ``question`` (plain text: it names machines and hosts as they are); ``then`` on Yes."""
        box = ask(self, title, question, then)
        self.last_confirmation = box
        return box

    async def _apply_and_report(self, action, machines: list[MachineInfo]) -> None:
        records = await self.services.lifecycle.apply_many(action.name, machines)
        failed = [(r.target_name, r.error or r.error_message) for r in records if r.status == "failed"]
        if failed:
            self.show_errors(f"{action.label} failed", failed)

    def show_errors(self, title: str, failures, outcome: str = "") -> ErrorDialog:
        """One dialog for the failures of one user action, however many machines it covered;
        a failure on a stopped network offers to start it."""
        offers, seen = [], set()
        for _name, error in failures:
            network = inactive_network_in(error)
            if network and (error.host_uri, network) not in seen:
                seen.add((error.host_uri, network))
                offers.append((f"Start Network {network}",
                               lambda uri=error.host_uri, n=network: spawn(self.start_network(uri, n))))
        dialog = ErrorDialog(title, failures, log_path=self.log_path, parent=self, offers=offers, outcome=outcome)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        self.last_error_dialog = dialog
        return dialog

    async def start_network(self, uri: str, network: str) -> None:
        """The error dialog's Start Network: the outcome in the status line, a failure in its
        own dialog."""
        try:
            record = await self.services.networks.start(uri, network)
        except Refusal as refusal:
            self.show_errors(f"Start network {network} failed", [(network, str(refusal))])
            return
        except HypervisorError as err:  # (the host went away meanwhile)
            self.show_errors(f"Start network {network} failed", [(network, err)])
            return
        if record.status == SUCCEEDED:
            self.statusBar().showMessage(f"Network {network} started; start the machine again.", 10000)
        else:
            self.show_errors(f"Start network {network} failed", [(network, record.error or record.error_message)])

    def open_preferences(self) -> PreferencesDialog:
        dialog = PreferencesDialog(self.tray.available, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.tray.keep_action.setChecked(preferences.current().keep_in_tray))
        dialog.accepted.connect(lambda: self.usage.set_interval(preferences.current().usage_interval))
        dialog.open()
        return dialog

    # ----- dialogs: the window decides what the selection asks for; each dialog gets its services
    def show_tasks(self) -> None:
        self.tasks_dock.show()

    def open_template_dialog(self) -> TemplateDialog:
        selected = self.selected_machines()
        return open_template_dialog(self, self.inventory, self.services.templates, self.maintenance_marks,
                                    selected[0] if selected else None, self.show_errors, self.show_tasks)

    def copy_address(self) -> str:
        """Machine → Copy Address: the selected machine's first address (IPv4 first) on the
        clipboard; the status bar says it, or that none is known yet."""
        selected = self.selected_machines()
        if len(selected) != 1:
            return ""
        machine = selected[0]
        found = plain_addresses(self.services.addresses.addresses(machine.key))
        if not found:
            self.statusBar().showMessage(f"No address of {machine.name} is known yet (it is read from the guest "
                                         "agent, the DHCP leases or the ARP table while the row is in view)", 8000)
            return ""
        QGuiApplication.clipboard().setText(found[0])
        self.statusBar().showMessage(f"Copied {found[0]} ({machine.name})", 5000)
        return found[0]

    def open_clone_dialog(self) -> TemplateDialog | None:
        """Machine → Clone…: the template dialog for one copy of the selected machine."""
        if len(self.selected_machines()) != 1:
            return None
        dialog = self.open_template_dialog()
        dialog.as_clone()
        return dialog

    def open_migration_dialog(self) -> MigrationDialog | None:
        selected = self.selected_machines()
        if len(selected) != 1:
            return None
        return open_migration_dialog(self, self.inventory, self.tasks, self.services.migrations,
                                     self.maintenance_marks, selected[0], self.show_errors)

    def open_hardware_dialog(self):
        selected = self.selected_machines()
        if len(selected) != 1:
            return None
        return open_hardware_dialog(self, self.services.hardware, selected[0], show_errors=self.show_errors,
                                    show_tasks=self.show_tasks, rename=lambda machine: open_rename_dialog(
                                        self, self.services.renamer, machine, self.show_errors))

    def open_revert_dialog(self, machine: MachineInfo, version: Version):
        """History → Revert to This Version…: Edit Hardware's review of the revert, then Apply."""
        return open_hardware_dialog(self, self.services.hardware, machine, show_errors=self.show_errors,
                                    show_tasks=self.show_tasks, revert_to=version)

    def open_delete_dialog(self) -> DeleteDialog | None:
        """Machine → Delete… (the Delete key) for the selected machines whose host answers."""
        live = [m for m in self.selected_machines() if m.live]
        if not live:
            return None
        return open_delete_dialog(self, self.services.deleter, live, self.show_errors)

    def open_rename_dialog(self) -> RenameDialog | None:
        """Machine → Rename… (F2) for the one selected machine."""
        selected = self.selected_machines()
        if len(selected) != 1:
            return None
        return open_rename_dialog(self, self.services.renamer, selected[0], self.show_errors)

    def open_new_machine_wizard(self) -> NewMachineWizard | None:
        """Machine → New Machine…: on the selected machine's host, else the selected host, else the
        first host that takes machines (connected, out of maintenance); None, with a word in the
        status bar, when there is none."""
        hosts = self.inventory.hosts
        candidates = [m.host_uri for m in self.selected_machines()] + [h.uri for h in self.selected_hosts()] + \
            list(hosts)
        marks = set(self.maintenance_marks.marks)
        uri = first_host_taking_machines(candidates, hosts, marks)
        if uri is None:
            connected = {u for u, host in hosts.items() if host.connected}
            self.statusBar().showMessage(
                "No connected host out of maintenance: a host in maintenance takes no new machines"
                if connected and connected <= marks else "Connect a host first: a new machine is made on a "
                                                         "connected host", 5000)
            return None
        offered = {u: host.label for u, host in hosts.items() if placement_refusal(u, host, marks) is None}
        return open_new_machine_wizard(self, self.services.provisioning, uri, show_errors=self.show_errors,
                                       show_tasks=self.show_tasks, storage=self.services.storage,
                                       networks=self.services.networks, hosts=offered)

    async def open_maintenance_dialog(self) -> MaintenanceDialog | None:
        hosts = self.selected_hosts()
        if len(hosts) != 1:
            self.statusBar().showMessage("Enter Maintenance: select one host in the hosts pane", 5000)
            return None
        self.maintenance_dialog = await open_maintenance_dialog(
            self, self.inventory, self.services.evacuations, self.maintenance_marks, hosts[0].uri)
        return self.maintenance_dialog

    async def open_exit_maintenance_dialog(self) -> ExitMaintenanceDialog | None:
        hosts = self.selected_hosts()
        if len(hosts) != 1:
            self.statusBar().showMessage("Exit Maintenance: select one host in the hosts pane", 5000)
            return None
        self.exit_maintenance_dialog = open_exit_maintenance_dialog(
            self, self.inventory, self.services.return_home, self.maintenance_marks, hosts[0].uri)
        return self.exit_maintenance_dialog

    def open_recover_dialog(self) -> RecoverDialog | None:
        """Host → Recover Machines Elsewhere…: for the one unreachable host selected."""
        hosts = self.selected_hosts()
        if len(hosts) != 1 or not can_recover(hosts[0]):
            self.statusBar().showMessage("Recover Machines Elsewhere: select one unreachable host in the hosts pane",
                                         5000)
            return None
        self.recover_dialog = open_recover_dialog(self, self.inventory, self.services.host_recovery, hosts[0].uri)
        return self.recover_dialog

    def open_console(self) -> None:
        """Machine → Open Console: the selected machine's display in its viewer."""
        selected = self.selected_machines()
        if len(selected) != 1:
            self.statusBar().showMessage("Open Console: select one machine", 5000)
            return
        machine = selected[0]
        spawn(open_graphical_console(self, self.viewers, self.inventory.hosts.get(machine.host_uri), machine,
                                     lambda text: self.statusBar().showMessage(text, 5000), self.show_errors))

    def activate_machine(self) -> None:
        """Enter on a machine: a running one with a display opens its console; with a serial
        console, the Console pane; otherwise the details, with Start (or Resume) focused so a
        second Enter does it."""
        selected = self.selected_machines()
        machine = selected[0] if len(selected) == 1 else None
        details = self.details.details  # the selected machine's XML facts, once read
        if machine is None or not machine.live or machine.state not in ACTIVE_STATES or details is None:
            self.focus_details()
            lifecycle = self.menu_actions.lifecycle
            action = next((lifecycle[n] for n in ("start", "resume") if lifecycle[n].isEnabled()), None)
            if machine is not None and action is not None:
                self.details.action_buttons[action].setFocus()
        elif details.displays:
            self.open_console()
        elif details.text_console is not None:
            self.console_dock.show()
            self.console_dock.raise_()
            self.details.console.setFocus()
        else:
            self.focus_details()

    def focus_filter(self) -> None:
        self.filter_edit.setFocus()
        self.filter_edit.selectAll()

    def show_log(self) -> None:
        if self.log_path:
            self.log_viewer = show_log(self.log_path, self)

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
                spawn(self.services.host_actions.remove(host))
        if preferences.current().confirm_destructive:
            self.remove_confirmation = self.confirm(
                "Remove hosts", f"Remove {', '.join(h.label for h in hosts)} from the list? "
                                "The machines on it are not touched.", remove)
        else:
            remove()

    def _host_menu(self, pos) -> None:
        self._context_menu(self.hosts_view, pos, self.menu_actions.host_context())

    def _machine_menu(self, pos) -> None:
        self._context_menu(self.machines_view, pos, self.menu_actions.machine_context())

    def _context_menu(self, view, pos, actions) -> QMenu:
        """Right-click: a row outside the selection becomes the selection (as in a file manager),
        then the menu of what applies to it. Shown with popup(), never exec(): no nested loop."""
        index = view.indexAt(pos)
        if index.isValid() and not view.selectionModel().isRowSelected(index.row(), index.parent()):
            view.selectRow(index.row())
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        for action in actions:
            menu.addSeparator() if action is None else menu.addAction(action)
        menu.popup(view.viewport().mapToGlobal(pos))
        self.context_menu = menu  # the one on screen (tests read it)
        return menu

    def open_storage_dialog(self) -> StorageDialog | None:
        """Host → Storage… for the one selected host (away: what is last known of it)."""
        hosts = self.selected_hosts()
        if len(hosts) != 1:
            return None
        return open_storage_dialog(self, self.services.storage, hosts[0].uri, hosts[0].label)

    def open_networks_dialog(self) -> NetworksDialog | None:
        """Host → Networks… for the one selected host (away: what is last known of it)."""
        hosts = self.selected_hosts()
        if len(hosts) != 1:
            return None
        return open_networks_dialog(self, self.services.networks, hosts[0].uri, hosts[0].label)

    def open_label_dialog(self) -> LabelDialog | None:
        """Host → Rename… for the one selected host."""
        hosts = self.selected_hosts()
        if len(hosts) != 1:
            return None
        return open_label_dialog(self, self.services.host_actions, hosts[0])

    def open_add_connection(self) -> AddConnectionDialog:
        dialog = AddConnectionDialog(self.inventory, self.services.host_actions.add, self)
        dialog.open()  # not exec(): a nested loop would stall the asyncio loop
        return dialog

    # ----- reactions ---------------------------------------------------------------------
    def _on_host_selection(self, *_args) -> None:
        hosts = self.selected_hosts()
        self.machine_proxy.set_hosts({h.uri for h in hosts})
        self.menu_actions.update_for_hosts(hosts)
        self._update_counts()

    def _on_machine_selection(self, *_args) -> None:
        selected = self.selected_machines()
        self.details.show_machine(selected[0] if len(selected) == 1 else None)
        # the selected machines' addresses are read even while the Addresses column is hidden
        self.services.addresses.watch(self.details, {m.key for m in selected})
        self._update_action_state()

    def _update_action_state(self, *_args) -> None:
        self.menu_actions.update_for_machines(self.selected_machines())

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
        self.health.setStyleSheet(problem_style() if now.database_away else "")
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
        self.viewers.close_all()
        super().closeEvent(event)
