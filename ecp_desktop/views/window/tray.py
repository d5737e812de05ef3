"""The tray icon: notifications while nobody looks at the window, recent tasks, show/hide, quit.

Where the platform offers no tray (a bare X server, some Wayland desktops), the
notifier still decides and emits ``notified`` (the status bar shows it), and closing
the window quits as usual.
"""
from __future__ import annotations

import dataclasses

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QMainWindow, QMenu, QSystemTrayIcon

from ... import APP_NAME
from ...services.config import preferences
from ...services.tasks.service import TaskService
from ...services.tasks.records import CANCELLED, FAILED, ROLLBACK_FAILED, SUCCEEDED, TaskRecord
from ..common.plain import menu_text, notification_text, tooltip
from ..common.follow import follow

RECENT = 8
_NOTIFY = {SUCCEEDED, FAILED, ROLLBACK_FAILED, CANCELLED}


class Tray(QObject):
    notified = Signal(str, str)  # title, message

    def __init__(self, window: QMainWindow, tasks: TaskService, *, available: bool | None = None) -> None:
        super().__init__(window)
        self.window, self.tasks = window, tasks
        self.available = QSystemTrayIcon.isSystemTrayAvailable() if available is None else available
        self.menu = QMenu(window)
        self.toggle_action = QAction("Hide Window", self.menu)
        self.toggle_action.triggered.connect(self.toggle_window)
        self.recent_menu = self.menu.addMenu("Recent Tasks")
        self.keep_action = QAction("Keep Running in the Tray When Closed", self.menu)
        self.keep_action.setCheckable(True)
        self.keep_action.setChecked(self.keep_running())
        self.keep_action.toggled.connect(self._set_keep_running)
        self.quit_action = QAction("Quit", self.menu)
        self.quit_action.triggered.connect(self.quit)
        self.menu.addAction(self.toggle_action)
        self.menu.addSeparator()
        self.menu.addAction(self.keep_action)
        self.menu.addAction(self.quit_action)
        self.menu.aboutToShow.connect(self.refresh_menu)
        self.icon: QSystemTrayIcon | None = None
        if self.available:
            self.icon = QSystemTrayIcon(window.windowIcon(), self)
            self.icon.setToolTip(APP_NAME)
            self.icon.setContextMenu(self.menu)
            self.icon.activated.connect(self._activated)
            self.icon.show()
        follow(tasks.task_changed, self, self._on_task_changed)

    # ----- preference ----------------------------------------------------------------------
    def keep_running(self) -> bool:
        return preferences.current().keep_in_tray

    def _set_keep_running(self, on: bool) -> None:
        if on != preferences.current().keep_in_tray:
            preferences.save(dataclasses.replace(preferences.current(), keep_in_tray=on))

    def hides_on_close(self) -> bool:
        """Closing the window hides it (the app keeps running) when there is a tray to come back from."""
        return self.available and self.keep_running()

    # ----- notifications -------------------------------------------------------------------
    def unattended(self) -> bool:
        # Attended while any window of this app has the focus (a dialog of it included): the
        # user is looking at it, and a notification would only repeat what they see.
        w = self.window
        return not w.isVisible() or w.isMinimized() or QApplication.activeWindow() is None

    def _on_task_changed(self, record: TaskRecord) -> None:
        if record.parent is not None or record.from_history or record.status not in _NOTIFY:
            return
        if record.status == SUCCEEDED and record.kind in ("start", "shutdown", "force_off", "reboot", "pause",
                                                          "resume"):
            return  # one notification per machine of a bulk action would drown the desktop
        if self.unattended():
            self.notify(f"{record.title}: {record.status}", record.outcome,
                        error=record.status != SUCCEEDED)

    def notify(self, title: str, message: str, *, error: bool = False) -> None:
        self.notified.emit(title, message)
        if self.icon is not None:
            kind = QSystemTrayIcon.MessageIcon.Warning if error else QSystemTrayIcon.MessageIcon.Information
            # A task's title and outcome name machines: some notification servers read markup.
            self.icon.showMessage(notification_text(title), notification_text(message[:300]), kind, 8000)

    # ----- menu ----------------------------------------------------------------------------
    def refresh_menu(self) -> None:
        self.toggle_action.setText("Hide Window" if self.window.isVisible() else "Show Window")
        self.recent_menu.clear()
        roots = [t for t in reversed(self.tasks.tasks) if t.parent is None][:RECENT]
        for record in roots:
            action = self.recent_menu.addAction(menu_text(f"{record.title} \u2014 {record.status}"))
            action.setToolTip(tooltip(record.outcome or record.title))
            action.triggered.connect(lambda _checked=False, r=record: self.show_task(r))
        self.recent_menu.setEnabled(bool(roots))

    def show_task(self, record: TaskRecord) -> None:
        self.show_window()
        pane = getattr(self.window, "tasks_pane", None)
        if pane is not None:
            self.window.tasks_dock.show()
            pane.select(record)

    def toggle_window(self) -> None:
        if self.window.isVisible():
            self.window.hide()
        else:
            self.show_window()

    def show_window(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()

    def quit(self) -> None:
        self.window.quit_requested()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.toggle_window()
