"""The services outlive a window: a window closed and deleted lets go of every service event
it followed, so a later event (a sample, a host change, a task) reaches no deleted widget."""
from __future__ import annotations

from PySide6.QtCore import QSettings

from ecp_desktop.views.window.main_window import MainWindow


def test_a_deleted_window_follows_no_service_event(qtbot, services, tmp_path):
    events = [services.inventory.host_changed, services.inventory.host_added, services.inventory.machines_changed,
              services.tasks.task_changed, services.usage.sampled, services.maintenance_marks.changed]
    before = [len(event) for event in events]
    window = MainWindow(services, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    assert [len(event) for event in events] > before  # it follows them while it lives
    window.deleteLater()
    qtbot.waitUntil(lambda: [len(event) for event in events] == before, timeout=5000)
    services.usage.sampled.emit("test:///default")
    services.inventory.machines_changed.emit([])
    services.maintenance_marks.changed.emit({})
