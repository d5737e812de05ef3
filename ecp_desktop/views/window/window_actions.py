"""The main window's actions, menus and toolbar, built in one place and kept here (not set
on the window from outside), and which of them the selection enables."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QToolBar

from ...services.actions.lifecycle import ACTIONS, select_for
from ...services.actions.rename import state_problem
from ...services.actions.restore import PAUSED_HELP as RESTORE_PAUSED_HELP
from ...services.actions.restore import PAUSED_POLICIES as RESTORE_PAUSED_POLICIES
from ...services.actions.restore import POLICIES as RESTORE_POLICIES
from ...services.actions.restore import POLICY_HELP as RESTORE_POLICY_HELP
from ...services.console.viewer import can_open_console
from ...services.core.aio import spawn
from ...services.inventory.machines import MachineInfo
from ...services.hosts.states import ACTIVE_STATES
from ...services.maintenance.recover import can_recover
from ..common.icons import action_icon
from ..common.plain import tooltip
from ..machines.machine_model import away_text

SHORTCUTS = {"start": "Ctrl+Shift+S", "shutdown": "Ctrl+Shift+D", "force_off": "Ctrl+Shift+K",
             "reboot": "Ctrl+Shift+R", "pause": "Ctrl+Shift+P", "resume": "Ctrl+Shift+U"}


class WindowActions:
    """Every action of the main window. ``lifecycle`` by action name (start, shutdown, ...),
    ``restore_policy`` and ``paused_policy`` by policy."""

    def __init__(self, window) -> None:
        """``window``: the main window, whose slots the actions trigger."""
        self.window = window
        self.lifecycle: dict[str, QAction] = {}
        self.restore_policy: dict[str, QAction] = {}
        self.paused_policy: dict[str, QAction] = {}
        self.toolbar = QToolBar("Main")
        self.toolbar.setObjectName("main-toolbar")
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        window.addToolBar(self.toolbar)
        bar = window.menuBar()
        self.file_menu, self.machine_menu = bar.addMenu("&File"), bar.addMenu("&Machine")
        self.host_menu = bar.addMenu("H&ost")  # Alt+H is Help's
        self.view_menu, self.help_menu = bar.addMenu("&View"), bar.addMenu("&Help")
        self._file()
        self._machine()
        self._host()
        self._view_and_help()

    def _action(self, text: str, slot, *, icon: str = "", shortcut=None, tip: str = "", enabled: bool = True,
                menu=None) -> QAction:
        action = QAction(action_icon(icon), text, self.window) if icon else QAction(text, self.window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setToolTip(tip)
        action.triggered.connect(slot)
        action.setEnabled(enabled)
        if menu is not None:
            menu.addAction(action)
        return action

    def _file(self) -> None:
        window, menu = self.window, self.file_menu
        self.add_connection = self._action("Add &Connection…", window.open_add_connection, icon="add_connection",
                                           shortcut="Ctrl+N", menu=menu)
        self.setup = self._action("Run &Setup Again…", window.setup_requested.emit, shortcut="Ctrl+Alt+U",
                                  menu=menu)
        self.preferences = self._action("&Preferences…", window.open_preferences, shortcut="Ctrl+,", menu=menu)
        menu.addSeparator()
        self._action("&Quit", window.quit_requested, shortcut=QKeySequence.StandardKey.Quit, menu=menu)
        self.toolbar.addAction(self.add_connection)
        self.toolbar.addSeparator()

    def _machine(self) -> None:
        window, menu = self.window, self.machine_menu
        for name, action in ACTIONS.items():
            qaction = self._action(action.label, lambda _checked=False, n=name: window.run_action(n), icon=name,
                                   shortcut=SHORTCUTS[name],
                                   tip=f"{action.label} the selected machines ({SHORTCUTS[name]})", menu=menu)
            self.lifecycle[name] = qaction
            self.toolbar.addAction(qaction)
        self.migrate = self._action("&Migrate…", window.open_migration_dialog, icon="migrate",
                                    shortcut="Ctrl+Shift+M", enabled=False, menu=menu,
                                    tip="Move the selected machine to another host (Ctrl+Shift+M)")
        self.open_console = self._action("Open C&onsole", window.open_console, shortcut="Ctrl+O", enabled=False,
                                         menu=menu, tip="The machine's screen in virt-viewer (Ctrl+O; Enter on a "
                                                        "running machine)")
        self.hardware = self._action("Edit &Hardware…", window.open_hardware_dialog, shortcut="Alt+Return",
                                     enabled=False, menu=menu,
                                     tip="vCPUs, memory, disks, network, boot order of the selected machine: a "
                                         "diff of its definition first, applied as a task that undoes itself on "
                                         "failure (Alt+Enter)")
        self.rename = self._action("R&ename…", window.open_rename_dialog, shortcut="F2", enabled=False, menu=menu,
                                   tip="Rename the selected machine (shut off): libvirt's own rename (F2)")
        self.delete = self._action("&Delete…", window.open_delete_dialog, shortcut=QKeySequence.StandardKey.Delete,
                                   enabled=False, menu=menu,
                                   tip="Delete the selected machines, and the disks you tick (Delete)")
        self.delete.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        window.machines_view.addAction(self.delete)  # Delete in the machines table, not in the filter box
        self.toolbar.addAction(self.migrate)
        menu.addSeparator()
        self.new_machine = self._action("&New Machine…", window.open_new_machine_wizard, shortcut="Ctrl+Alt+N",
                                        menu=menu, tip="A machine from an installer ISO, a cloud image, a disk or "
                                                       "network boot (Ctrl+Alt+N)")
        self.clone = self._action("C&lone…", window.open_clone_dialog, shortcut="Ctrl+Alt+C", enabled=False,
                                  menu=menu, tip="One copy of the selected machine (shut off or paused): its disks "
                                                 "copied or linked, a new UUID and MAC addresses (Ctrl+Alt+C)")
        self.copy_address = self._action("Copy &Address", window.copy_address, shortcut="Ctrl+Alt+A", enabled=False,
                                         menu=menu, tip="Copy the selected machine's first IP address (Ctrl+Alt+A)")
        self.template = self._action("New Machines from &Template…", window.open_template_dialog,
                                     shortcut="Ctrl+Shift+N", menu=menu)
        policies = menu.addMenu("After a &Restart, Restore")
        for policy, label in RESTORE_POLICIES.items():
            self.restore_policy[policy] = self._action(
                label, lambda _checked=False, p=policy: window.set_restore_policy(p),
                tip=RESTORE_POLICY_HELP[policy], menu=policies)
        policies.addSection("If It Is Found Paused")
        for paused, label in RESTORE_PAUSED_POLICIES.items():
            self.paused_policy[paused] = self._action(
                label, lambda _checked=False, p=paused: window.set_restore_policy(paused=p),
                tip=RESTORE_PAUSED_HELP[paused], menu=policies)

    def _host(self) -> None:
        window, menu = self.window, self.host_menu
        hosts = window.services.host_actions
        self.connect = self._action("&Connect", lambda: window.on_selected_hosts(hosts.connect), icon="connect",
                                    menu=menu)
        self.disconnect = self._action("&Disconnect", lambda: window.on_selected_hosts(hosts.disconnect),
                                       icon="disconnect", menu=menu)
        self.edit_label = self._action("Ren&ame…", window.open_label_dialog, shortcut="Shift+F2", enabled=False,
                                       menu=menu, tip="The name the panes show for the selected host (Shift+F2)")
        self.storage = self._action("&Storage…", window.open_storage_dialog, shortcut="Ctrl+Alt+S", enabled=False,
                                    menu=menu, tip="The selected host's storage pools and volumes (Ctrl+Alt+S)")
        self.networks = self._action("&Networks…", window.open_networks_dialog, shortcut="Ctrl+Alt+W",
                                     enabled=False, menu=menu,
                                     tip="The selected host's virtual networks and their DHCP leases (Ctrl+Alt+W)")
        self.remove_host = self._action("&Remove from List…", window.remove_selected_hosts, icon="remove",
                                        shortcut=QKeySequence.StandardKey.Delete, menu=menu,
                                        tip="Take the selected hosts out of the list (Delete in the hosts table)")
        self.remove_host.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        window.hosts_view.addAction(self.remove_host)  # Delete in the hosts table removes hosts, asking first
        menu.addSeparator()
        self.maintenance = self._action("Enter &Maintenance…", lambda: spawn(window.open_maintenance_dialog()),
                                        shortcut="Ctrl+Alt+M", menu=menu,
                                        tip="Move every machine of the selected host to other hosts: a plan first")
        self.exit_maintenance = self._action("E&xit Maintenance…",
                                             lambda: spawn(window.open_exit_maintenance_dialog()),
                                             shortcut="Ctrl+Alt+X", menu=menu,
                                             tip="Clear the selected host's maintenance mark; optionally migrate "
                                                 "back the machines its evacuation moved away")
        self.recover = self._action("Recover Machines &Elsewhere…", window.open_recover_dialog,
                                    shortcut="Ctrl+Alt+R", enabled=False, menu=menu,
                                    tip="Define and start the selected unreachable host's machines on other hosts "
                                        "(only when that host is really down)")

    def _view_and_help(self) -> None:
        window = self.window
        show_details = QAction("Show &Details", window)
        show_details.setShortcuts([QKeySequence(Qt.Key.Key_Return), QKeySequence(Qt.Key.Key_Enter)])
        show_details.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        show_details.triggered.connect(window.activate_machine)
        window.machines_view.addAction(show_details)
        window.machines_view.doubleClicked.connect(window.focus_details)
        self._action("&Filter Machines", window.focus_filter, shortcut=QKeySequence.StandardKey.Find,
                     menu=self.view_menu)
        self.view_menu.addAction(window.tasks_dock.toggleViewAction())
        self.view_menu.addSeparator()
        window.tray.keep_action.setEnabled(window.tray.available)
        self.view_menu.addAction(window.tray.keep_action)
        self.show_log = self._action("Show &Log", window.show_log, shortcut="Ctrl+L", menu=self.help_menu)
        self._action("&About", window.show_about, menu=self.help_menu)

    def machine_context(self) -> list[QAction | None]:
        """What right-click on machine rows offers (None: a separator): the Machine menu's own
        actions, so their enabling is the toolbar's."""
        return [*self.lifecycle.values(), None, self.open_console, self.copy_address, self.hardware, self.rename,
                self.migrate, None, self.clone, self.template, None, self.delete]

    def host_context(self) -> list[QAction | None]:
        """What right-click on host rows offers: the Host menu's own actions."""
        return [self.connect, self.disconnect, self.edit_label, None, self.storage, self.networks, None,
                self.maintenance, self.exit_maintenance, self.recover, None, self.remove_host]

    def update_for_machines(self, selected: list[MachineInfo]) -> None:
        """Enable the machine actions for the selected rows. A last known row (its host does not
        answer) takes no action: the reason goes in the tooltips; live rows still take theirs."""
        live = [m for m in selected if m.live]
        away = next((m for m in selected if not m.live), None)
        hosts = self.window.services.inventory.hosts
        why = f"\n{away_text(away, hosts.get(away.host_uri))}" if away and not live else ""
        for name, qaction in self.lifecycle.items():
            qaction.setEnabled(bool(select_for(name, selected).chosen))
            qaction.setToolTip(tooltip(f"{ACTIONS[name].label} the selected machines ({SHORTCUTS[name]}){why}"))
        one_live = len(live) == 1 and len(selected) == 1
        self.migrate.setEnabled(one_live)
        self.open_console.setEnabled(can_open_console(selected))
        self.hardware.setEnabled(one_live)
        self.rename.setEnabled(one_live and state_problem(live[0]) is None)
        self.delete.setEnabled(bool(live))
        self.clone.setEnabled(one_live)
        self.copy_address.setEnabled(one_live and live[0].state in ACTIVE_STATES)

    def update_for_hosts(self, hosts) -> None:
        connected = [h for h in hosts if h.connected]
        self.connect.setEnabled(any(not h.connected for h in hosts))
        self.disconnect.setEnabled(bool(connected))
        self.remove_host.setEnabled(bool(hosts))
        self.edit_label.setEnabled(len(hosts) == 1)
        for action in (self.storage, self.networks):  # (a host away: its last known, greyed)
            action.setEnabled(len(hosts) == 1)
        self.recover.setEnabled(len(hosts) == 1 and can_recover(hosts[0]))
