"""The window's start-up stages fail alone: a stage that raises is reported in the status bar
and the log, and the others still run (hosts connect, the heartbeat beats)."""
from ecp_desktop.models import schema
from ecp_desktop.models.db import database

from ..helpers import LAB_URI
from ..helpers.inventory import set_up


def test_a_failing_history_load_keeps_neither_hosts_nor_the_heartbeat_from_starting(qtbot, qapp, db, db_url,
                                                                                   event_loop_qt):
    from ecp_desktop.app import GuiSession
    set_up(db)
    session = GuiSession(qapp, db_url, [], database_locked=True)

    async def unreadable_history(*_args, **_kwargs):
        # A fake, to inject a fault the defensive row reader no longer lets a real row cause.
        raise RuntimeError("the history could not be read")
    original = GuiSession.open_main_window

    def open_with_broken_history(self):
        from ecp_desktop import app
        real_build = app.build_services

        def build(*args, **kwargs):
            services = real_build(*args, **kwargs)
            services.tasks.load_history = unreadable_history
            return services
        app.build_services = build
        try:
            original(self)
        finally:
            app.build_services = real_build
    open_with_broken_history(session)
    window = session.window
    try:
        qtbot.waitUntil(lambda: "Start-up: the task history failed" in window.statusBar().currentMessage(),
                        timeout=10000)
        inventory = session.services.inventory
        qtbot.waitUntil(lambda: LAB_URI in inventory.hosts and inventory.hosts[LAB_URI].connected, timeout=10000)
        qtbot.waitUntil(lambda: len(inventory.machines_of(LAB_URI)) == 4, timeout=10000)

        def beats():
            with database.connection_context():
                return schema.Instance.select().count()
        qtbot.waitUntil(lambda: beats() >= 1, timeout=10000)
    finally:
        session.services.shutdown()
        window.close()
