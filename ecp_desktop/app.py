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
from .services.actions.restore import marked_always_on, restore_candidates
from .services.sharing import heartbeat
from .services.tasks.follow import TaskFollower
from .services.tasks.recovery import RecoveryWatch, retry_rollback
from .services.usage.service import UsageService
from .views.single_instance import SingleInstance
from .models.db import DatabaseUrlError
from .services.config import app_config, app_log, credentials, preferences
from .services.config.app_log import start_logging
from .services.core.errors import install_quiet_error_handler
from .services.core.executors import leave_stuck_threads
from .services.setup.steps import SETUP_DONE_KEY
from .services.config import approved_hosts
from .views.plain import message_box
from .views.qt_process import ensure_event_delivery, log_unexpected, make_qt_app, quit_on_signals, settle_heap
from .services.inventory import approvals
from .services.setup.startup import HostChoice, database_url, initial_hosts, open_inventory, setup_needed

log = logging.getLogger(__name__)


async def restore_on_start(services: Services, report_failures, candidates=None, *, at_start: str = "last") -> None:
    """Restore what should run; a host that is unreachable now is restored when it returns.

    ``candidates``: (reason, machines by host) read before the hosts connected, so that a
    machine that vanished is reported by this start's restore instead of being marked
    missing by the first listing first (and then skipped without a word). ``at_start``: the
    user's choice (Preferences): "last", "always" (only machines marked Always On), "never"."""
    if at_start == "never":
        log.info("restore at start: none (the choice in Preferences)")
        return
    loop = asyncio.get_running_loop()
    if candidates is None:
        candidates = await loop.run_in_executor(services.executors.database, restore_candidates)
    reason, grouped = candidates
    if reason:
        log.info("restore skipped: %s", reason)
        return
    if at_start == "always":
        grouped = marked_always_on(grouped)
    report = await services.restore.run(grouped)
    waiting = set(report.unreachable)

    def host_loaded(host, _count) -> None:
        if host.uri in waiting:
            waiting.discard(host.uri)
            spawn(_restore_host(host.uri))

    async def _restore_host(uri: str) -> None:
        _reason, again = await loop.run_in_executor(services.executors.database, restore_candidates, [uri])
        if at_start == "always":
            again = marked_always_on(again)
        report_failures(await services.restore.run(again))

    if waiting:
        services.inventory.host_loaded.connect(host_loaded)
    report_failures(report)


def _session_hosts(extra: list[str]) -> tuple[list[HostChoice], set[str]]:
    """Runs on the database thread: configured hosts, plus --connect ones for this session
    (typed by this user: approved), and the URIs this user approved."""
    if extra:
        approved_hosts.approve(extra)
        configured = [HostChoice(h.uri, h.label, h.is_demo) for h in store.configured_hosts() if h.autoconnect]
    else:
        configured = initial_hosts()
    allowed = approvals.approved_uris()
    return configured + [HostChoice(uri) for uri in extra if uri not in {c.uri for c in configured}], allowed


async def connect_initial_hosts(services: Services, extra: list[str]) -> None:
    """Add the session's hosts and connect them (each on its own); return when every first
    attempt has ended."""
    await asyncio.gather(*await start_initial_hosts(services, extra))


async def start_initial_hosts(services: Services, extra: list[str]) -> list[asyncio.Future]:
    """Add the session's hosts, show what the inventory knows of their machines, and start
    connecting them; the attempts, still running. A job about one host (restore) joins that
    host's attempt and waits for no other."""
    return connect_session_hosts(services, await add_session_hosts(services, extra))


def connect_session_hosts(services: Services, hosts: list[tuple[HostConnection, bool]]) -> list[asyncio.Future]:
    return [spawn(services.inventory.connect_host(host, autoconnect=auto)) for host, auto in hosts]


async def add_session_hosts(services: Services, extra: list[str]) -> list[tuple[HostConnection, bool]]:
    """Add the session's hosts and show what the inventory knows of their machines; the
    (host, autoconnect) pairs to connect. A host only a row names is listed, with the
    reason, and never connected on a row's word."""
    loop = asyncio.get_running_loop()
    choices, allowed = await loop.run_in_executor(services.executors.database, _session_hosts, extra)
    inventory = services.inventory
    hosts = [(inventory.add_host(c.uri, label=c.label, is_demo=c.is_demo), c.uri not in extra) for c in choices]
    for host, _auto in hosts:
        if host.uri not in allowed:
            host.keep_closed(approved_hosts.unapproved_reason(host.uri))
    # Before any host answers: the rows are on screen at once, and stay while a host is down.
    try:
        await inventory.show_known([h.uri for h, _auto in hosts])
    except Exception:  # noqa: BLE001  (the database away, a bad row: the hosts still connect)
        log.exception("the known machines could not be read; the hosts' listings will show them")
    return [(host, auto) for host, auto in hosts if host.uri in allowed]


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
        from .views.main_window import MainWindow
        self.services = build_services()
        s = self.services
        self.usage = UsageService(s.inventory, interval=preferences.current().usage_interval)
        self.window = MainWindow(s.inventory, s.tasks, s.lifecycle, s.host_actions, QSettings(),
                                 templates=s.templates, migrations=s.migrations, usage=self.usage,
                                 hardware=s.hardware)
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
        self.session_hosts = await add_session_hosts(self.services, self.connect)

    async def _start_hosts(self) -> None:
        # Not awaited: restore joins each host's attempt on its own, so a host that takes its
        # whole open limit to fail delays no other host's restore.
        self.connecting = connect_session_hosts(self.services, self.session_hosts)

    async def _recover(self) -> None:
        # From now on, a host that connects brings back what waited for it (a flow left by a
        # crash, a rollback that failed while the host was away); this first pass runs under
        # the watch's lock, so a host connecting meanwhile gets a pass after it.
        self.recovery_watch = RecoveryWatch(self.services.engine, self.services.inventory.host_changed,
                                            self._report_recovery)
        self._report_recovery(await self.recovery_watch.pass_now())

    def _report_recovery(self, report) -> None:
        """Tasks a crash left in flight were finished (undone) now: say so, once."""
        lines = report.lines()
        if not lines or self.window is None:
            return
        log.warning("recovered interrupted tasks: %s", "; ".join(lines))
        self.window.statusBar().showMessage(f"Recovered {count(len(lines), 'interrupted task')}; see the tasks pane",
                                            15000)
        failed = [(r.title, r.outcome) for r in report.recovered if r.status == "rollback failed"]
        if failed:
            self.window.show_errors("Interrupted tasks could not be undone completely", failed)

    async def _restore(self, candidates) -> None:
        choice = preferences.current().restore_at_start
        if choice:
            await restore_on_start(self.services, self._report_restore, candidates, at_start=choice)
            return
        from .views.restore_question import ask_restore_at_start  # asked once, then kept in Preferences

        def answered(chosen: str) -> None:
            if not self.quitting and self.services is not None:
                spawn(restore_on_start(self.services, self._report_restore, at_start=chosen))
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
    from .views.password_dialog import PasswordDialog
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
