"""Restore in the window: asked once which machines to start; at start, failures in the
status bar and the tasks pane (never a modal), the task with a child per machine; and the
per-machine policy from the Machine menu."""
import pytest

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.services.config import preferences
from ecp_desktop.services.inventory import store

from ..helpers import LAB_URI
from ..helpers.inventory import set_up, uuid_of


@pytest.fixture
def restore_at_start():
    """The answer this user gave to the window's question; unasked again after the test."""
    def choose(choice: str) -> None:
        preferences.set_restore_at_start(choice)
    yield choose
    preferences.set_restore_at_start("")


def test_the_window_restores_at_start_and_groups_failures(qtbot, qapp, db, db_url, event_loop_qt, restore_at_start):
    from ecp_desktop.app import GuiSession
    set_up(db)
    restore_at_start("last")
    store.set_desired(LAB_URI, [uuid_of("stopped01")], "running")
    host_id = schema.Host.get(schema.Host.uri == LAB_URI).id
    with database.connection_context():
        schema.Machine.create(host=host_id, uuid="99999999-9999-9999-9999-999999999999", name="vanished",
                              state="running", desired_state="running")
    session = GuiSession(qapp, db_url, [], database_locked=True)
    session.open_main_window()
    window = session.window
    try:
        tasks = session.services.tasks
        try:
            qtbot.waitUntil(lambda: any(t.title == "Restore running machines" and t.finished_at
                                        for t in tasks.tasks), timeout=30000)
        except Exception:
            # Seen once in a CI run on PostgreSQL (not reproduced in five runs since): say where it was.
            hosts = {h.uri: (h.state.value, h.reason) for h in session.services.inventory.hosts.values()}
            tasks = [(t.title, t.status, t.error_message) for t in session.services.tasks.tasks]
            raise AssertionError(f"no restore report; hosts {hosts}; tasks {tasks}") from None
        # Never a modal at start: a line in the status bar, the details in the tasks pane.
        qtbot.waitUntil(lambda: "1 machine not restored: vanished" in window.statusBar().currentMessage())
        assert window.last_error_dialog is None
        inventory = session.services.inventory
        stopped = next(m for m in inventory.machines_of(LAB_URI) if m.name == "stopped01")
        qtbot.waitUntil(lambda: inventory.machines[stopped.key].state == "running", timeout=5000)
        titles = {t.title: t for t in session.services.tasks.tasks}
        assert titles["Restore running machines"].status == "failed"
        assert titles["Restore running machines"].error_message == "1 did not start"
        assert titles["Restore stopped01"].parent is titles["Restore running machines"]
        vanished = next(r for r in titles["Restore running machines"].children if r.target_name == "vanished") \
            if any(r.target_name == "vanished" for r in titles["Restore running machines"].children) else None
        assert vanished is None or vanished.status == "failed"

        # The policy, for the selected machine, from the Machine menu.
        proxy = window.machine_proxy
        row = next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == "web01")
        window.machines_view.selectRow(row)
        window.menu_actions.restore_policy["never"].trigger()
        session.services.executors.database.submit(lambda: None).result()
        with database.connection_context():
            assert schema.Machine.get(schema.Machine.name == "web01").restore_policy == "never"
        assert "Never" in window.statusBar().currentMessage()
        window.menu_actions.paused_policy["keep-paused"].trigger()  # the paused choice keeps the policy
        session.services.executors.database.submit(lambda: None).result()
        with database.connection_context():
            row = schema.Machine.get(schema.Machine.name == "web01")
            assert (row.restore_policy, row.paused_policy) == ("never", "keep-paused")
        assert "Leave Paused" in window.statusBar().currentMessage()
    finally:
        dialog = window.last_error_dialog
        if dialog is not None:
            dialog.close()
        window.close()
        session.services.shutdown()


def test_a_restore_with_nothing_to_start_says_so_in_the_tasks_pane(qtbot, qapp, db, db_url, event_loop_qt,
                                                                   restore_at_start):
    from ecp_desktop.app import GuiSession
    set_up(db)
    restore_at_start("last")
    session = GuiSession(qapp, db_url, [], database_locked=True)
    session.open_main_window()
    try:
        tasks = session.services.tasks
        qtbot.waitUntil(lambda: any(t.title == "Restore running machines" and t.status == "succeeded"
                                    for t in tasks.tasks), timeout=10000)
        restore = next(t for t in tasks.tasks if t.title == "Restore running machines")
        # paused01 was paused for no reason libvirt knows: resumed, as by default
        assert restore.outcome == "2 already running, 1 resumed" and session.window.last_error_dialog is None
    finally:
        session.window.close()
        session.services.shutdown()


def test_the_first_window_asks_before_starting_anything(qtbot, qapp, db, db_url, event_loop_qt, restore_at_start):
    """Nothing starts until the user answers; "None" is the default button; the answer is kept."""
    from ecp_desktop.app import GuiSession
    set_up(db)
    store.set_desired(LAB_URI, [uuid_of("stopped01")], "running")
    session = GuiSession(qapp, db_url, [], database_locked=True)
    session.open_main_window()
    try:
        qtbot.waitUntil(lambda: getattr(session, "restore_question", None) is not None, timeout=15000)
        box = session.restore_question
        assert box.isVisible() and "which machines should it start again" in box.text()
        assert box.defaultButton().text() == preferences.AT_START_LABELS["never"]
        assert box.escapeButton().text() == "Ask Me Next Time"  # Esc answers nothing
        inventory = session.services.inventory
        qtbot.waitUntil(lambda: len(inventory.machines_of(LAB_URI)) == 4, timeout=10000)
        qtbot.wait(300)
        stopped = next(m for m in inventory.machines_of(LAB_URI) if m.name == "stopped01")
        assert stopped.state == "shutoff"  # not started behind the question
        assert not any(t.title.startswith("Restore") for t in session.services.tasks.tasks)
        answer = next(b for b in box.buttons() if b.text() == preferences.AT_START_LABELS["last"])
        answer.click()
        assert preferences.current().restore_at_start == "last"
        qtbot.waitUntil(lambda: inventory.machines[stopped.key].state == "running", timeout=10000)
    finally:
        session.window.close()
        session.services.shutdown()


@pytest.mark.parametrize("choice", ["never", "always"])
def test_the_choice_in_preferences_decides_what_the_window_starts(qtbot, qapp, db, db_url, event_loop_qt,
                                                                  restore_at_start, choice):
    from ecp_desktop.app import GuiSession
    set_up(db)
    restore_at_start(choice)
    store.set_desired(LAB_URI, [uuid_of("stopped01")], "running")  # Last State would start it
    store.set_restore_policy([(LAB_URI, uuid_of("paused01"))], "always")  # Always On
    session = GuiSession(qapp, db_url, [], database_locked=True)
    session.open_main_window()
    try:
        inventory = session.services.inventory
        qtbot.waitUntil(lambda: len(inventory.machines_of(LAB_URI)) == 4, timeout=10000)
        tasks = session.services.tasks
        if choice == "always":
            qtbot.waitUntil(lambda: any(t.title == "Restore running machines" and t.finished_at
                                        for t in tasks.tasks), timeout=15000)
            restore = next(t for t in tasks.tasks if t.title == "Restore running machines")
            assert restore.outcome == "1 resumed"  # paused01 alone: stopped01 is not marked Always On
        else:
            qtbot.wait(1500)
            assert not any(t.title.startswith("Restore") for t in tasks.tasks)
        assert next(m for m in inventory.machines_of(LAB_URI) if m.name == "stopped01").state == "shutoff"
        assert getattr(session, "restore_question", None) is None  # answered before: not asked
    finally:
        session.window.close()
        session.services.shutdown()


def test_escaping_the_question_answers_nothing(qtbot, qapp, restore_at_start):
    from PySide6.QtWidgets import QWidget

    from ecp_desktop.views.window.restore_question import ask_restore_at_start
    parent = QWidget()
    qtbot.addWidget(parent)
    answers = []
    box = ask_restore_at_start(parent, answers.append)
    box.escapeButton().click()
    assert answers == [] and preferences.current().restore_at_start == ""
