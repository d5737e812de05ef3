"""The real window over the demo host and the lab host: selecting each machine writes no
ERROR line to the log. What a host's driver cannot do (the test driver has no serial
console) is said in the pane that needed it, not logged as a failure."""
import logging

import pytest
from PySide6.QtCore import QSettings

from ecp_desktop.services.console.serial import ConsoleState
from ecp_desktop.views.machines.machine_model import MachineRole

from ...helpers import LAB_URI
from ...helpers.gui import select_rows

DEMO_URI = "test:///default"
SETTLED = (ConsoleState.UNAVAILABLE, ConsoleState.NOT_RUNNING, ConsoleState.CONNECTED,
           ConsoleState.FAILED, ConsoleState.HOST_DOWN, ConsoleState.HELD)


@pytest.fixture
def demo_window(qtbot, run, services, tmp_path):
    """The main window over test:///default and the lab host, its Console pane on screen."""
    from ecp_desktop.services.setup.startup import connect_initial_hosts
    from ecp_desktop.views.window.main_window import MainWindow
    win = MainWindow(services, QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.show()
    win.console_dock.show()
    run(connect_initial_hosts(services.inventory, [DEMO_URI, LAB_URI]))
    qtbot.waitUntil(lambda: win.machine_model.rowCount() == 5, timeout=10000)
    return win


def test_selecting_every_demo_and_lab_machine_logs_no_error(qtbot, demo_window, caplog):
    caplog.set_level(logging.DEBUG)
    win, proxy = demo_window, demo_window.machine_proxy
    shown = []
    for row in range(proxy.rowCount()):
        machine = proxy.index(row, 0).data(MachineRole)
        select_rows(win, [row])
        qtbot.waitUntil(lambda: win.details.details is not None and win.details.console.console is not None
                        and win.details.console.console.state in SETTLED, timeout=5000)
        shown.append((machine.name, machine.state, win.details.console.status.text()))
    running = [(name, text) for name, state, text in shown if state == "running"]
    assert {name for name, _ in running} == {"test", "web01", "db01"}
    for name, text in running:
        assert text == f"{name}: no serial console. This host's driver offers no serial console.", text
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == []
