"""The tasks pane, the template dialog and the tray, with pytest-qt over real flows on
libvirt's test driver (qtmodeltester follows the tree model through every change)."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from PySide6.QtCore import QSettings, Qt

from ecp_desktop.services.composition import build_services
from ecp_desktop.services.inventory.machines import MachineInfo
from ecp_desktop.services.tasks.records import CANCELLED, FAILED, SUCCEEDED
from ecp_desktop.views.window.main_window import MainWindow
from ecp_desktop.views.tasks.task_model import FLOW, OUTCOME, STATUS, TASK, TaskTreeModel

from ...helpers import TEMPLATE_URI, TPL_UUID


def make_window(qtbot, services, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(services, settings)
    qtbot.addWidget(window)
    return window


def connect(services, run):
    host = services.inventory.add_host(TEMPLATE_URI)
    assert run(services.inventory.connect_host(host))
    run(services.inventory.load_host(host))
    return host


def rows(model, parent=None):
    from PySide6.QtCore import QModelIndex
    parent = parent or QModelIndex()
    return [model.index(r, TASK, parent) for r in range(model.rowCount(parent))]


def test_the_tree_follows_a_flow_with_a_rollback(qtbot, run, services, model_tester):
    model = TaskTreeModel(services.tasks)
    model_tester(model)  # checks every insertion and change below
    connect(services, run)
    flow = run(services.templates.plan(TEMPLATE_URI, TPL_UUID, 5, "web-{n}"))
    root = run(services.templates.run(flow), timeout=30)
    assert root.status == FAILED
    qtbot.waitUntil(lambda: model.rowCount() == 1)  # new rows are shown together, within 40 ms
    top = rows(model)[0]
    assert top.data() == "Create 5 machines from tpl" and model.index(0, STATUS).data() == FAILED
    machines = rows(model, top)
    assert [m.data() for m in machines] == [f"Create web-{i}" for i in range(1, 6)]
    undone = next(m for m in machines if model.index(m.row(), STATUS, top).data() == "rolled back")
    steps = rows(model, undone)
    flows = [model.index(s.row(), FLOW, undone).data() for s in steps]
    assert flows[:3] == ["", "", ""] and set(flows[3:]) == {"rollback"}  # the undo tasks, tagged
    # Which machines got as far as their define before the failure depends on timing (four
    # run at once), so the first thing undone may be a volume or a machine.
    outcome = model.index(0, OUTCOME).data()
    assert "undone: " in outcome and "deleted volume pool-a/" in outcome
    model_tester(model)


def test_history_is_kept_across_restarts(qtbot, run, services, db, model_tester):
    connect(services, run)
    flow = run(services.templates.plan(TEMPLATE_URI, TPL_UUID, 5, "web-{n}"))
    first = run(services.templates.run(flow), timeout=30)
    run(services.tasks.flush())

    later = build_services()  # the next start of the app, on the same database
    try:
        model = TaskTreeModel(later.tasks)
        model_tester(model)
        roots = run(later.tasks.load_history())
        assert [r.title for r in roots] == [first.title]
        top = next(i for i in rows(model) if i.data() == first.title)
        assert model.index(top.row(), STATUS).data() == FAILED
        record = model.record(top)
        failed = [s for m in record.children for s in m.children if s.status == FAILED]
        assert failed and failed[0].error is not None and failed[0].error.code == 1  # the structured error
        assert "Not enough free space" in failed[0].error.message
        assert len(rows(model, top)) == 5
    finally:
        later.inventory.close_all()


def test_filter_cancel_and_details_in_the_window(qtbot, run, services, tmp_path):
    window = make_window(qtbot, services, tmp_path)
    window.show()
    connect(services, run)
    pane = window.tasks_pane
    asked = []  # the filter's calls into Python: none while no filter is set (see filter_proxy)
    accepts = pane.model.accepts
    pane.model.accepts = lambda record: asked.append(record) or accepts(record)
    gate = asyncio.Event()

    async def wait_for_the_user(record, what):  # holds the flow after its first machine, as a slow host would
        if what == "done" and record.op == "define_domain" and not gate.is_set():
            await gate.wait()
    services.engine.listeners.append(wait_for_the_user)
    flow = run(services.templates.plan(TEMPLATE_URI, TPL_UUID, 3, "web-{n}", start=True))
    from ecp_desktop.services.core.aio import spawn
    running = spawn(services.templates.run(flow))
    qtbot.waitUntil(lambda: any(t.op == "define_domain" and t.status == SUCCEEDED for t in services.tasks.tasks))

    # Select a step deep in the tree: Cancel acts on its whole flow.
    root = next(t for t in services.tasks.tasks if t.parent is None)
    qtbot.waitUntil(lambda: pane.model.index_of(root).isValid())
    pane.select(root.children[1])
    assert pane.cancel_button.isEnabled()
    qtbot.mouseClick(pane.cancel_button, Qt.MouseButton.LeftButton)
    gate.set()
    qtbot.waitUntil(running.done, timeout=10000)
    assert root.status == CANCELLED and "undone:" in root.outcome
    assert not pane.cancel_button.isEnabled()
    assert {m.name for m in services.inventory.machines_of(TEMPLATE_URI)} == {"tpl", "busy", "loose-disk"}

    # Filter by text and by status.
    assert asked == []
    pane.filter_edit.setText("web-2")
    assert asked
    top = pane.proxy.index(0, 0)
    assert top.data() == root.title and pane.proxy.rowCount(top) == 1
    pane.filter_edit.clear()
    pane.status_filter.setCurrentText("Failed")
    assert pane.proxy.rowCount() == 0  # a cancelled flow whose undo worked has no failed task
    pane.status_filter.setCurrentText("Rolled back")
    assert pane.proxy.rowCount() == 1
    pane.status_filter.setCurrentText("All tasks")

    # A failed flow: Details opens one error dialog with each failed step's libvirt error.
    flow = run(services.templates.plan(TEMPLATE_URI, TPL_UUID, 5, "db-{n}"))
    failed = run(services.templates.run(flow), timeout=30)
    qtbot.waitUntil(lambda: pane.model.index_of(failed).isValid())
    pane.select(failed)
    qtbot.mouseClick(pane.details_button, Qt.MouseButton.LeftButton)
    dialog = window.last_error_dialog
    assert dialog is not None and dialog.windowTitle() == f"{failed.title}: failed"
    assert "Not enough free space" in dialog.text() and "INTERNAL_ERROR" in dialog.text()
    # the flow's own outcome (what it did and undid), whole, where the row cuts it
    assert failed.outcome and dialog.outcome.text() == f"Outcome: {failed.outcome}"
    dialog.close()


def test_the_template_dialog_checks_names_and_creates(qtbot, run, services, tmp_path):
    window = make_window(qtbot, services, tmp_path)
    connect(services, run)
    dialog = window.open_template_dialog()
    assert dialog.chosen().name in {"tpl", "loose-disk"}  # shut-off machines first (busy runs: greyed, after)
    dialog.template.setCurrentIndex(next(i for i in range(dialog.template.count())
                                         if dialog.template.itemData(i).name == "tpl"))
    assert dialog.pattern.text() == "tpl-{n}"
    qtbot.waitUntil(lambda: not dialog.checking())  # its disks are read on the host before Create
    dialog.pattern.setText("busy{n:.0}")
    assert not dialog.create_button.isEnabled() and "not valid" in dialog.preview.text()
    dialog.pattern.setText("app-{n:02}")
    dialog.count.setValue(2)
    assert dialog.preview.text() == "app-01, app-02" and dialog.create_button.isEnabled()
    qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: {"app-01", "app-02"} <= {m.name for m in services.inventory.machines_of(TEMPLATE_URI)},
                    timeout=10000)
    root = next(t for t in services.tasks.tasks if t.kind == "clone_template")
    qtbot.waitUntil(lambda: root.status == SUCCEEDED)

    again = window.open_template_dialog()
    again.template.setCurrentIndex(next(i for i in range(again.template.count())
                                        if again.template.itemData(i).name == "tpl"))
    again.pattern.setText("app-{n:02}")
    assert not again.create_button.isEnabled() and "already on this host: app-01, app-02" in again.preview.text()
    again.close()


def test_the_tray_notifies_only_when_nobody_looks_and_can_keep_the_app_running(qtbot, run, services, tmp_path):
    window = make_window(qtbot, services, tmp_path)
    tray = window.tray
    tray.available = True  # the offscreen platform has no tray; the decisions below do not depend on it
    connect(services, run)
    seen = []
    tray.notified.connect(lambda title, message: seen.append((title, message)))
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    flow = run(services.templates.plan(TEMPLATE_URI, TPL_UUID, 1, "seen-{n}"))
    run(services.templates.run(flow))
    assert seen == []  # the user watched it happen

    window.hide()
    flow = run(services.templates.plan(TEMPLATE_URI, TPL_UUID, 5, "db-{n}"))
    run(services.templates.run(flow), timeout=30)
    assert seen and seen[-1][0] == "Create 5 machines from tpl: failed" and "Not enough free space" in seen[-1][1]
    tray.refresh_menu()
    recent = [a.text() for a in tray.recent_menu.actions()]
    assert recent[0] == "Create 5 machines from tpl \u2014 failed" and len(recent) >= 2

    # A bulk action tells once, not once per machine.
    before = len(seen)
    ghosts = [MachineInfo(TEMPLATE_URI, f"00000000-0000-0000-0000-00000000000{i}", f"ghost{i}", "shutoff")
              for i in (1, 2, 3)]
    run(services.lifecycle.apply_many("start", ghosts))
    assert seen[before:] == [("Start 3 machines: failed", "3 of 3 failed")]

    # Keep running in the tray: closing hides the window; Quit really closes it.
    tray.keep_action.setChecked(True)
    window.show()
    window.close()
    assert not window.isVisible() and seen[-1][1].startswith("Still running in the tray")
    from ecp_desktop.services.config import app_config, preferences
    assert app_config.load()["preferences"]["keep_in_tray"] is True  # the preference, in the config file
    preferences.save(preferences.Preferences())
    tray.quit_action.trigger()
    assert window._quitting and not window.isVisible()


def test_the_window_recovers_a_flow_a_killed_process_left(qtbot, run, db_url, db, tmp_path):
    """A real `clone-template` process killed (SIGKILL) after its second clone; the next
    window start finds its tasks, undoes them and says so."""
    env = {**os.environ, "ECP_DESKTOP_CRASH_AT": "clone_volume:after:2"}
    crashed = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", TEMPLATE_URI,
                              "clone-template", "tpl", "--count", "2", "--name-pattern", "web-{n}"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert crashed.returncode == -9, crashed.stderr
    from ecp_desktop.app import GuiSession
    session = GuiSession(None, db_url, [TEMPLATE_URI], database_locked=True)
    session.open_main_window()
    try:
        window = session.window
        qtbot.waitUntil(lambda: "Finished 1 interrupted task" in window.statusBar().currentMessage(),
                        timeout=10000)
        root = next(t for t in session.services.tasks.tasks if t.kind == "clone_template")
        # Undone once its host is connected (the first pass may run before it is).
        qtbot.waitUntil(lambda: root.status == FAILED, timeout=10000)
        assert root.error_message.startswith("interrupted")
        # The test driver's state died with that process: the undo finds nothing left and says so.
        assert "already gone" in root.summary
        index = window.task_model.index_of(root)
        assert window.task_model.index(index.row(), STATUS).data() == FAILED
    finally:
        session.window.close()
        session.services.shutdown()


def test_started_reads_as_time_ago_and_outcomes_keep_their_beginning(qtbot, services, tmp_path):
    import datetime as dt
    from PySide6.QtCore import QEvent, QObject, QRect
    from ecp_desktop.views.tasks.task_model import STARTED

    window = make_window(qtbot, services, tmp_path)
    window.show()
    pane = window.tasks_pane
    tasks = services.tasks
    record = tasks.create("test", "Create web-1")
    tasks.start(record)
    record.started_at = dt.datetime.now() - dt.timedelta(minutes=3, seconds=5)
    outcome = "failed: not enough free space in pool-a; undone: deleted volume pool-a/web-1.qcow2, " * 3
    tasks.finish(record, FAILED, message=outcome.strip())
    qtbot.waitUntil(lambda: pane.model.index_of(record).isValid())
    started = pane.proxy.mapFromSource(pane.model.index_of(record, STARTED))
    assert started.data() == "3 min ago"
    assert record.started_at.strftime("%Y-%m-%d %H:%M:%S") in started.data(Qt.ItemDataRole.ToolTipRole)
    # A long outcome is cut at its end (its beginning says what happened); the whole in its tooltip.
    assert pane.view.textElideMode() == Qt.TextElideMode.ElideRight
    cell = pane.proxy.mapFromSource(pane.model.index_of(record, OUTCOME))
    assert outcome.strip().split("; ")[0] in cell.data(Qt.ItemDataRole.ToolTipRole)
    assert "pool-a/web-1.qcow2" in cell.data(Qt.ItemDataRole.ToolTipRole).rsplit(";", 1)[-1]

    # Minutes later the words follow: the clock repaints the Started column (no model signal).
    painted: list[QRect] = []

    class Paints(QObject):
        def eventFilter(self, _watched, event):  # noqa: N802  (Qt's name)
            if event.type() == QEvent.Type.Paint:
                painted.append(event.rect())
            return False
    spy = Paints()
    pane.view.viewport().installEventFilter(spy)
    qtbot.waitUntil(lambda: not window.isHidden() and pane.view.isVisible())
    qtbot.wait(300)  # the window's first paints done
    painted.clear()
    record.started_at -= dt.timedelta(minutes=5)
    pane.clock.timeout.emit()
    column = QRect(pane.view.columnViewportPosition(STARTED), 0, pane.view.columnWidth(STARTED), 1)
    qtbot.waitUntil(lambda: any(r.intersects(column) for r in painted))
    assert started.data() == "8 min ago"
    assert pane.clock.isActive() and pane.clock.interval() <= 60_000
    pane.view.viewport().removeEventFilter(spy)
