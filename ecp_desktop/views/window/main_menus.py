"""The main window's menus and toolbar, built in one place (the window keeps the actions)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QToolBar

from ...services.actions.lifecycle import ACTIONS
from ...services.core.aio import spawn
from ...services.actions.restore import POLICIES as RESTORE_POLICIES
from ...services.actions.restore import POLICY_HELP as RESTORE_POLICY_HELP
from ...services.actions.restore import PAUSED_HELP as RESTORE_PAUSED_HELP
from ...services.actions.restore import PAUSED_POLICIES as RESTORE_PAUSED_POLICIES
from ..common.icons import action_icon
from ..common.plain import tooltip
from ..console.console_actions import activate_machine, can_open_console, open_console
from ..common.log_viewer import show_log
from ..maintenance.exit_maintenance_dialog import open_exit_for_selected_host
from ..new_machine.new_machine_wizard import open_from_menu
from ..maintenance.recover_dialog import recover_selected_host
from ..maintenance.maintenance_dialog import open_for_selected_host
from ..machines.machine_model import away_text

SHORTCUTS = {"start": "Ctrl+Shift+S", "shutdown": "Ctrl+Shift+D", "force_off": "Ctrl+Shift+K",
             "reboot": "Ctrl+Shift+R", "pause": "Ctrl+Shift+P", "resume": "Ctrl+Shift+U"}


def build_actions(window) -> None:
    window.machine_actions: dict[str, QAction] = {}
    toolbar = QToolBar("Main")
    toolbar.setObjectName("main-toolbar")
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    window.addToolBar(toolbar)
    menu_file = window.menuBar().addMenu("&File")
    menu_machine = window.menuBar().addMenu("&Machine")
    menu_host = window.menuBar().addMenu("H&ost")  # Alt+H is Help's
    menu_view = window.view_menu = window.menuBar().addMenu("&View")
    menu_help = window.menuBar().addMenu("&Help")

    window.add_connection_action = QAction(action_icon("add_connection"), "Add &Connection…", window)
    window.add_connection_action.setShortcut(QKeySequence("Ctrl+N"))
    window.add_connection_action.triggered.connect(window.open_add_connection)
    menu_file.addAction(window.add_connection_action)
    window.setup_action = QAction("Run &Setup Again…", window)
    window.setup_action.triggered.connect(window.setup_requested.emit)
    menu_file.addAction(window.setup_action)
    window.preferences_action = QAction("&Preferences…", window)
    window.preferences_action.setShortcut(QKeySequence.StandardKey.Preferences)
    window.preferences_action.triggered.connect(window.open_preferences)
    menu_file.addAction(window.preferences_action)
    menu_file.addSeparator()
    quit_action = QAction("&Quit", window)
    quit_action.setShortcut(QKeySequence.StandardKey.Quit)
    quit_action.triggered.connect(window.quit_requested)
    menu_file.addAction(quit_action)
    toolbar.addAction(window.add_connection_action)
    toolbar.addSeparator()

    for name, action in ACTIONS.items():
        qaction = QAction(action_icon(name), action.label, window)
        qaction.setShortcut(QKeySequence(SHORTCUTS[name]))
        qaction.setToolTip(f"{action.label} the selected machines ({SHORTCUTS[name]})")
        qaction.triggered.connect(lambda _checked=False, n=name: window.run_action(n))
        window.machine_actions[name] = qaction
        menu_machine.addAction(qaction)
        toolbar.addAction(qaction)
    window.migrate_action = QAction(action_icon("migrate"), "&Migrate…", window)
    window.migrate_action.setShortcut(QKeySequence("Ctrl+Shift+M"))
    window.migrate_action.setToolTip("Move the selected machine to another host (Ctrl+Shift+M)")
    window.migrate_action.triggered.connect(window.open_migration_dialog)
    window.migrate_action.setEnabled(False)
    menu_machine.addAction(window.migrate_action)
    window.open_console_action = QAction("Open C&onsole", window)
    window.open_console_action.setToolTip("The machine's screen in virt-viewer (Enter on a running machine)")
    window.open_console_action.triggered.connect(lambda: open_console(window))
    window.open_console_action.setEnabled(False)
    menu_machine.addAction(window.open_console_action)
    window.hardware_action = QAction("Edit &Hardware…", window)
    window.hardware_action.setToolTip("vCPUs, memory, disks, network, boot order of the selected machine: a diff "
                                      "of its definition first, applied as a task that undoes itself on failure")
    window.hardware_action.triggered.connect(window.open_hardware_dialog)
    window.hardware_action.setEnabled(False)
    menu_machine.addAction(window.hardware_action)
    toolbar.addAction(window.migrate_action)
    menu_machine.addSeparator()
    window.new_machine_action = QAction("&New Machine…", window)
    window.new_machine_action.setShortcut(QKeySequence("Ctrl+Alt+N"))
    window.new_machine_action.setToolTip("A machine from an installer ISO, a cloud image, a disk or network boot "
                                         "(Ctrl+Alt+N)")
    window.new_machine_action.triggered.connect(lambda: open_from_menu(window))
    window.new_machine_action.setEnabled(window.templates is not None)
    menu_machine.addAction(window.new_machine_action)
    window.template_action = QAction("New Machines from &Template…", window)
    window.template_action.setShortcut(QKeySequence("Ctrl+Shift+N"))
    window.template_action.triggered.connect(window.open_template_dialog)
    window.template_action.setEnabled(window.templates is not None)
    menu_machine.addAction(window.template_action)
    policy_menu = menu_machine.addMenu("After a &Restart, Restore")
    window.policy_actions: dict[str, QAction] = {}
    for policy, label in RESTORE_POLICIES.items():
        qaction = QAction(label, window)
        qaction.setToolTip(RESTORE_POLICY_HELP[policy])
        qaction.triggered.connect(lambda _checked=False, p=policy: window.set_restore_policy(p))
        policy_menu.addAction(qaction)
        window.policy_actions[policy] = qaction
    policy_menu.addSection("If It Is Found Paused")
    window.paused_actions: dict[str, QAction] = {}
    for paused, label in RESTORE_PAUSED_POLICIES.items():
        qaction = QAction(label, window)
        qaction.setToolTip(RESTORE_PAUSED_HELP[paused])
        qaction.triggered.connect(lambda _checked=False, p=paused: window.set_restore_policy(paused=p))
        policy_menu.addAction(qaction)
        window.paused_actions[paused] = qaction

    window.connect_action = QAction(action_icon("connect"), "&Connect", window)
    window.connect_action.triggered.connect(lambda: window.on_selected_hosts(window.host_actions.connect))
    window.disconnect_action = QAction(action_icon("disconnect"), "&Disconnect", window)
    window.disconnect_action.triggered.connect(lambda: window.on_selected_hosts(window.host_actions.disconnect))
    window.remove_host_action = QAction(action_icon("remove"), "&Remove from List…", window)
    window.remove_host_action.triggered.connect(window.remove_selected_hosts)
    for a in (window.connect_action, window.disconnect_action, window.remove_host_action):
        menu_host.addAction(a)
    menu_host.addSeparator()
    window.maintenance_action = QAction("Enter &Maintenance…", window)
    window.maintenance_action.setToolTip("Move every machine of the selected host to other hosts: a plan first")
    window.maintenance_action.triggered.connect(lambda: spawn(open_for_selected_host(window)))
    menu_host.addAction(window.maintenance_action)
    window.exit_maintenance_action = QAction("E&xit Maintenance…", window)
    window.exit_maintenance_action.setToolTip("Clear the selected host's maintenance mark; optionally migrate back "
                                              "the machines its evacuation moved away")
    window.exit_maintenance_action.triggered.connect(lambda: spawn(open_exit_for_selected_host(window)))
    menu_host.addAction(window.exit_maintenance_action)
    window.recover_action = QAction("Recover Machines &Elsewhere…", window)
    window.recover_action.setToolTip("Define and start the selected unreachable host's machines on other hosts "
                                     "(only when that host is really down)")
    window.recover_action.triggered.connect(lambda: recover_selected_host(window))
    window.recover_action.setEnabled(False)
    menu_host.addAction(window.recover_action)

    show_details = QAction("Show &Details", window)
    show_details.setShortcuts([QKeySequence(Qt.Key.Key_Return), QKeySequence(Qt.Key.Key_Enter)])
    show_details.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
    show_details.triggered.connect(lambda: activate_machine(window))
    window.machines_view.addAction(show_details)
    window.machines_view.doubleClicked.connect(window.focus_details)
    focus_filter = QAction("&Filter Machines", window)
    focus_filter.setShortcut(QKeySequence.StandardKey.Find)
    focus_filter.triggered.connect(lambda: (window.filter_edit.setFocus(), window.filter_edit.selectAll()))
    menu_view.addAction(focus_filter)
    menu_view.addAction(window.tasks_dock.toggleViewAction())
    menu_view.addSeparator()
    window.tray.keep_action.setEnabled(window.tray.available)
    menu_view.addAction(window.tray.keep_action)
    window.show_log_action = QAction("Show &Log", window)
    window.show_log_action.triggered.connect(
        lambda: window.log_path and setattr(window, "log_viewer", show_log(window.log_path, window)))
    menu_help.addAction(window.show_log_action)
    about = QAction("&About", window)
    about.triggered.connect(window.show_about)
    menu_help.addAction(about)


def update_machine_actions(window, selected) -> None:
    """Enable the machine actions for the selected rows. A last known row (its host does not
    answer) takes no action: the reason goes in the tooltips; live rows still take theirs."""
    live = [m for m in selected if m.live]
    away = next((m for m in selected if not m.live), None)
    why = f"\n{away_text(away, window.inventory.hosts.get(away.host_uri))}" if away and not live else ""
    states = {m.state for m in live}
    for name, qaction in window.machine_actions.items():
        qaction.setEnabled(bool(states & ACTIONS[name].applies_to))
        qaction.setToolTip(tooltip(f"{ACTIONS[name].label} the selected machines ({SHORTCUTS[name]}){why}"))
    window.migrate_action.setEnabled(window.migrations is not None and len(live) == 1 and len(selected) == 1)
    window.open_console_action.setEnabled(can_open_console(selected))
    window.hardware_action.setEnabled(window.hardware is not None and len(live) == 1 and len(selected) == 1)
