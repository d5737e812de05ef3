"""Restore in the window: at start, failures in one dialog, the task with a child per machine;
and the per-machine policy from the Machine menu."""
from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.services.inventory import store

from .helpers import LAB_URI
from .helpers.inventory import set_up, uuid_of


def test_the_window_restores_at_start_and_groups_failures(qtbot, qapp, db, db_url, event_loop_qt):
    from ecp_desktop.app import GuiSession
    set_up(db)
    store.set_desired(LAB_URI, [uuid_of("stopped01")], "running")
    host_id = schema.Host.get(schema.Host.uri == LAB_URI).id
    with database.connection_context():
        schema.Machine.create(host=host_id, uuid="99999999-9999-9999-9999-999999999999", name="vanished",
                              state="running", desired_state="running")
    session = GuiSession(qapp, db_url, [], database_locked=True)
    session.open_main_window()
    window = session.window
    try:
        try:
            qtbot.waitUntil(lambda: window.last_error_dialog is not None, timeout=30000)
        except Exception:
            # Seen once in a CI run on PostgreSQL (not reproduced in five runs since): say where it was.
            hosts = {h.uri: (h.state.value, h.reason) for h in session.services.inventory.hosts.values()}
            tasks = [(t.title, t.status, t.error_message) for t in session.services.tasks.tasks]
            raise AssertionError(f"no restore report; hosts {hosts}; tasks {tasks}") from None
        dialog = window.last_error_dialog
        assert dialog.windowTitle() == "Some machines were not restored"
        assert "no longer exists" in dialog.headline.text()
        inventory = session.services.inventory
        stopped = next(m for m in inventory.machines_of(LAB_URI) if m.name == "stopped01")
        qtbot.waitUntil(lambda: inventory.machines[stopped.key].state == "running", timeout=5000)
        titles = {t.title: t for t in session.services.tasks.tasks}
        assert titles["Restore running machines"].status == "failed"
        assert titles["Restore running machines"].error_message == "1 did not start"
        assert titles["Restore stopped01"].parent is titles["Restore running machines"]

        # The policy, for the selected machine, from the Machine menu.
        proxy = window.machine_proxy
        row = next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == "web01")
        window.machines_view.selectRow(row)
        window.policy_actions["never"].trigger()
        session.services.executors.database.submit(lambda: None).result()
        with database.connection_context():
            assert schema.Machine.get(schema.Machine.name == "web01").restore_policy == "never"
        assert "Never" in window.statusBar().currentMessage()
        window.paused_actions["keep-paused"].trigger()  # the paused choice keeps the policy
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


def test_a_restore_with_nothing_to_start_says_so_in_the_tasks_pane(qtbot, qapp, db, db_url, event_loop_qt):
    from ecp_desktop.app import GuiSession
    set_up(db)
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
