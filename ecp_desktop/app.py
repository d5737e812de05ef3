"""Composition root: builds the services and the window, runs the Qt + asyncio loop.

Nothing else creates services; tests build the same graph with :func:`build_services`.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QMessageBox
import qasync  # after PySide6, so that qasync binds to it

from . import APP_NAME
from .services.inventory import store
from .services.core.aio import spawn
from .services.core.wording import count
from .services.hosts.connection import HostConnection
from .services.hosts.libvirt_loop import register_event_impl
from .services.composition import Services, build_services  # noqa: F401  (tests build through app)
from .services.actions.restore import restore_candidates
from .services.sharing import heartbeat
from .services.tasks.follow import TaskFollower
from .services.tasks.interrupted import InterruptedFlowWatch, retry_rollback
from .services.usage.service import UsageService
from .views.window.single_instance import SingleInstance
from .models.db import DatabaseUrlError
from .services.config import app_config, app_log, credentials, preferences
from .services.config.app_log import start_logging
from .services.core.errors import install_quiet_error_handler
from .services.core.executors import leave_stuck_threads
from .services.setup.steps import SETUP_DONE_KEY
from .views.common.plain import message_box
from .views.common.qt_process import ensure_event_delivery, log_unexpected, make_qt_app, quit_on_signals, settle_heap
from .services.setup.startup import (add_session_hosts, connect_session_hosts, database_url, open_inventory,
                                     restore_on_start, setup_needed)

log = logging.getLogger(__name__)


class GuiSession:
    """The window's life: the setup wizard on a first start, then the main window;
    File → Run Setup Again opens the wizard over a running window."""

    def __init__(self, app: QApplication, url: str, connect: list[str], database_locked: bool) -> None:
        self.app, self.url, self.connect, self.database_locked = app, url, connect, database_locked
        self.services: Services | None = None
        self.session_hosts: list[tuple[HostConnection, bool]] = []
        self.window = None
        self.wizard = None
        self.quitting = False  # the app is closing: what fails now is no start-up failure
        if app is not None:
            app.aboutToQuit.connect(lambda: setattr(self, "quitting", True))

    def first_run(self) -> None:
        from .views.setup.wizard import SetupWizard
        self.wizard = SetupWizard(database_url=self.url, database_locked=self.database_locked,
                                  typed_connections=self.connect)
        self.wizard.setWindowIcon(self.app.windowIcon())
        self.wizard.finished.connect(self._first_run_closed)
        self.wizard.show()

    def _first_run_closed(self, _result: int) -> None:
        wizard, self.wizard = self.wizard, None
        report = wizard.progress_page.report
        url = wizard.chosen_database() if report is not None else self.url
        wizard.deleteLater()
        try:
            open_inventory(url)
        except DatabaseUrlError as exc:
            log.error("%s", exc)
            message_box(QMessageBox.Icon.Critical, APP_NAME, f"The inventory database cannot be used:\n{exc}").exec()
            self.first_run()
            return
        if report is not None and report.ok:
            app_config.save(database_url=url)
        self.open_main_window()

    def open_main_window(self) -> None:
        from .views.window.main_window import MainWindow
        self.services = build_services()
        s = self.services
        self.usage = UsageService(s.inventory, interval=preferences.current().usage_interval)
        self.window = MainWindow(s, QSettings())
        self.window.setup_requested.connect(self.run_setup_again)
        self.window.tasks_pane.offer_retry(lambda task_id: retry_rollback(s.engine, task_id))
        self.window.log_path = app_log.log_path()
        self.window.show()
        spawn(self._connect_and_restore())

    async def _connect_and_restore(self) -> None:
        """Start-up, stage by stage. Each stage fails alone (the status bar and the log say
        which and why) and the others still run: one bad row in the history must not keep
        every host from connecting. The heartbeat beats first, so that instances sharing the
        inventory never take this one for dead while a stage is slow or failed; the follower
        starts last, so its reads do not delay restore's."""
        services = self.services
        self.beating = spawn(heartbeat.keep_beating())
        candidates = None

        async def read_restore_candidates() -> None:
            nonlocal candidates
            loop = asyncio.get_running_loop()
            candidates = await loop.run_in_executor(services.executors.database, restore_candidates)
        # The known machines first, before anything else is read: what the window is for.
        stages = (("showing the known machines", self._add_hosts),
                  ("the task history", services.tasks.load_history),
                  ("reading what should run", read_restore_candidates),
                  ("connecting the hosts", self._start_hosts),
                  ("restore", lambda: self._restore(candidates)),
                  ("crash recovery", self._recover))
        for name, stage in stages:
            if self.quitting:
                return
            try:
                await stage()
            except Exception as exc:  # noqa: BLE001  (reported; the next stage still runs)
                if self.quitting:
                    return
                log.exception("start-up: %s failed", name)
                if self.window is not None:
                    self.window.statusBar().showMessage(f"Start-up: {name} failed: {exc} (details in the log)")
        self.following = spawn(TaskFollower(services.tasks).run())

    async def _add_hosts(self) -> None:
        self.session_hosts = await add_session_hosts(self.services.inventory, self.connect)

    async def _start_hosts(self) -> None:
        # Not awaited: restore joins each host's attempt on its own, so a host that takes its
        # whole open limit to fail delays no other host's restore.
        self.connecting = connect_session_hosts(self.services.inventory, self.session_hosts)

    async def _recover(self) -> None:
        # From now on, a host that connects brings back what waited for it (a flow left by a
        # crash, a rollback that failed while the host was away); this first pass runs under
        # the watch's lock, so a host connecting meanwhile gets a pass after it.
        self.recovery_watch = InterruptedFlowWatch(self.services.engine, self.services.inventory.host_changed,
                                            self._report_recovery)
        self._report_recovery(await self.recovery_watch.pass_now())

    def _report_recovery(self, report) -> None:
        """Tasks a crash left in flight were finished (undone) now: say so, once."""
        lines = report.lines()
        if not lines or self.window is None:
            return
        log.warning("finished interrupted tasks: %s", "; ".join(lines))
        self.window.statusBar().showMessage(f"Finished {count(len(lines), 'interrupted task')}; see the tasks pane",
                                            15000)
        failed = [(r.title, r.outcome) for r in report.finished if r.status == "rollback failed"]
        if failed:
            self.window.show_errors("Interrupted tasks could not be undone completely", failed)

    async def _restore(self, candidates) -> None:
        choice = preferences.current().restore_at_start
        if choice:
            await restore_on_start(self.services.inventory, self.services.restore, self._report_restore, candidates,
                                   at_start=choice)
            return
        from .views.window.restore_question import ask_restore_at_start  # asked once, then kept in Preferences

        def answered(chosen: str) -> None:
            if not self.quitting and self.services is not None:
                spawn(restore_on_start(self.services.inventory, self.services.restore, self._report_restore,
                                       at_start=chosen))
        self.restore_question = ask_restore_at_start(self.window, answered)

    def _report_restore(self, report) -> None:
        """Never a modal at start: a line in the status bar (a notification when nobody looks
        at the window); each machine's outcome waits in the tasks pane."""
        failed = [r.candidate.name for r in report.with_outcome("failed")]
        if not failed or self.window is None:
            return
        names = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        line = f"{len(failed)} machine{'s' * (len(failed) != 1)} not restored: {names}; see the tasks pane"
        hidden = not self.window.isVisible() or self.window.isMinimized()
        if hidden and self.window.tray.available:
            self.window.tray.notify(APP_NAME, line, error=True)
        self.window.statusBar().showMessage(line, 30000)

    def raise_window(self) -> None:
        """A second launch on the same database: show this one instead (also from the tray)."""
        target = self.wizard or self.window
        if target is not None:
            target.showNormal()
            target.raise_()
            target.activateWindow()

    def run_setup_again(self) -> None:
        from .views.setup.wizard import SetupWizard
        if self.wizard is not None:
            self.wizard.raise_()
            return
        inventory = self.services.inventory
        self.wizard = SetupWizard(database_url=self.url, database_locked=True, typed_connections=[],
                                  configured=list(inventory.hosts), parent=self.window)
        self.wizard.setup_finished.connect(self._connect_chosen)
        self.wizard.finished.connect(self._rerun_closed)
        self.wizard.show()

    def _connect_chosen(self, report) -> None:
        if report is None or self.services is None:
            return
        inventory = self.services.inventory
        for uri in self.wizard.connections_page.chosen() if self.wizard else []:
            if uri not in inventory.hosts:
                spawn(inventory.connect_host(inventory.add_host(uri)))

    def _rerun_closed(self, _result: int) -> None:
        self.wizard.deleteLater()
        self.wizard = None


def _open_asking_for_password(url: str, tries: int = 3) -> bool:
    """Open the inventory; when PostgreSQL wants a password nobody stored, ask (before the loop runs)."""
    from .views.common.password_dialog import PasswordDialog
    for _attempt in range(tries):
        try:
            open_inventory(url)
            return True
        except DatabaseUrlError as exc:
            if not exc.needs_password:
                print(f"ecp-desktop: {exc}", file=sys.stderr)
                return False
            account = credentials.database_account(url)
            dialog = PasswordDialog(account, f"The PostgreSQL server asks for the password of {account}.")
            if dialog.exec() != PasswordDialog.DialogCode.Accepted:
                return False
            why_not = dialog.keep()
            if why_not:
                log.info("password not kept in the keyring: %s", why_not)
    print("ecp-desktop: the database refused the password", file=sys.stderr)
    return False


def run_gui(connect: list[str], database: str | None = None) -> int:
    log_path = start_logging(getattr(logging, preferences.current().log_level))
    install_quiet_error_handler()
    try:
        app_config.check()
        damaged = None
    except app_config.ConfigDamaged as exc:  # moved aside already: say so, then choose again
        damaged = exc
    url = database_url(database)
    first_start = setup_needed(database) or (damaged is not None and not database)
    register_event_impl()  # before any connection opens
    app = make_qt_app(sys.argv)
    instance = SingleInstance(url)
    if instance.ask_running_instance():
        print("ecp-desktop: already running on this database; its window was raised", file=sys.stderr)
        return 0
    instance.listen()
    if damaged is not None:
        log.error("%s", damaged)
        message_box(QMessageBox.Icon.Warning, APP_NAME,
                    f"{damaged}\n\nThe setup wizard opens so that you choose the inventory again; "
                    "nothing was changed in any database.").exec()
    if not first_start:
        if not _open_asking_for_password(url):
            return 2
        first_start = not store.get_setting(SETUP_DONE_KEY)
    quit_on_signals(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    log_unexpected(loop, log_path)
    session = GuiSession(app, url, connect, database_locked=bool(database or os.environ.get("ECP_DESKTOP_DATABASE")))
    instance.raise_requested.connect(session.raise_window)
    ensure_event_delivery()
    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    if first_start:
        session.first_run()
    else:
        session.open_main_window()
    settle_heap()

    try:
        with loop:
            loop.run_until_complete(closed.wait())
    finally:
        quit_within_bounds(session, instance)
    return 0


def quit_within_bounds(session: GuiSession, instance: SingleInstance) -> None:
    """The window is gone: save the work, then end without waiting on any host.

    A relaunch from now on starts afresh (nothing is left to raise). Threads still inside
    libvirt (an open or a call a host never answers; libvirt cannot cancel them) get half a
    second in all, then the process ends without them: a normal interpreter exit would
    wait for them for as long as TCP does (minutes)."""
    instance.close()
    if session.services is None:
        return
    session.services.shutdown()
    leave_stuck_threads(0, grace=0.5, also=session.services.executors.stuck_in_libvirt())
