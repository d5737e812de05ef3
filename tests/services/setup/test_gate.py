"""Nothing is written to the inventory before setup has run (no machine table or no local
host record): the window and ``machines`` show live state only, with a line saying setup
has not run and how to run it; once setup has run, the same commands record."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PySide6.QtCore import QSettings

from ecp_desktop.services.setup.pipeline import HookRegistry
from ecp_desktop.services.setup.startup import open_inventory
from ecp_desktop.services.setup.steps import SetupOptions, run_setup

from ...helpers import LAB_URI, query


def ecp(db_url, *args):
    return subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, *args],
                          capture_output=True, text=True, timeout=60)


def rows(db_url) -> dict[str, int]:
    return {table: query(db_url, f"SELECT COUNT(*) FROM {table}")[0][0] for table in ("host", "machine", "setting")}


def test_machines_on_a_fresh_database_lists_live_state_records_nothing_and_says_how_to_set_up(db_url):
    result = ecp(db_url, "--connect", LAB_URI, "machines")
    assert result.returncode == 0, result.stderr
    assert sorted(line.split("\t")[0].strip() for line in result.stdout.splitlines()[1:]) == [  # after the header
        "db01", "paused01", "stopped01", "web01"]
    assert "Setup has not run" in result.stderr and "ecp-desktop setup" in result.stderr
    assert rows(db_url) == {"host": 0, "machine": 0, "setting": 0}
    # JSON on stdout stays JSON; the line is on stderr.
    result = ecp(db_url, "--connect", LAB_URI, "machines", "--json")
    assert len(json.loads(result.stdout)) == 4 and "Setup has not run" in result.stderr
    # Without --connect: the demo host, live, and still nothing recorded (no "first run" mark).
    result = ecp(db_url, "hosts")
    assert result.returncode == 0 and "Setup has not run" in result.stderr
    assert rows(db_url) == {"host": 0, "machine": 0, "setting": 0}


def test_after_setup_machines_records_and_the_line_is_gone(db_url):
    result = ecp(db_url, "setup", "--local", "test:///default", "--no-import", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    result = ecp(db_url, "--connect", LAB_URI, "machines")
    assert result.returncode == 0 and "Setup has not run" not in result.stderr
    assert query(db_url, "SELECT COUNT(*) FROM machine")[0][0] == 4


@pytest.fixture
def unset_services(db_url, event_loop_qt):
    """The app's services on a database with tables but no setup (as after a cancelled wizard)."""
    from ecp_desktop.services.composition import build_services
    handle = open_inventory(db_url)
    services = build_services()
    yield services
    services.shutdown()
    handle.close()


def test_the_window_before_setup_shows_live_machines_the_line_and_the_way_to_setup(
        qtbot, run, tmp_path, db_url, unset_services):
    from ecp_desktop.services.setup.startup import connect_initial_hosts
    from ecp_desktop.views.window.main_window import MainWindow
    services = unset_services
    window = MainWindow(services, QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    try:
        window.show()
        run(connect_initial_hosts(services.inventory, [LAB_URI]))
        qtbot.waitUntil(lambda: window.machine_model.rowCount() == 4, timeout=5000)
        qtbot.waitUntil(window.setup_bar.isVisible, timeout=5000)
        assert "Setup has not run" in window.setup_line.text()
        assert "Run Setup" in window.setup_line.text() and window.setup_button.isVisible()
        # A state change seen live reaches the row, and is not recorded either.
        host = services.inventory.hosts[LAB_URI]
        run(host.call(lambda conn: conn.lookupByName("stopped01").create()))
        qtbot.waitUntil(lambda: any(m.name == "stopped01" and m.state == "running"
                                    for m in services.inventory.machines.values()), timeout=5000)
        services.executors.database.submit(lambda: None).result()
        assert rows(db_url)["host"] == 0 and rows(db_url)["machine"] == 0
        with qtbot.waitSignal(window.setup_requested, timeout=1000):
            window.setup_button.click()  # the composition root opens the wizard on this signal

        # Setup runs (the wizard's work); back in the window the line goes and the rows are recorded.
        assert run_setup(SetupOptions(local_uri="test:///default", do_import=False, chosen=[]),
                         hooks=HookRegistry()).ok
        run(services.inventory.check_setup())
        assert not window.setup_bar.isVisible()
        qtbot.waitUntil(lambda: query(db_url, "SELECT COUNT(*) FROM machine")[0][0] == 4, timeout=5000)
        assert query(db_url, "SELECT state FROM machine WHERE name = 'stopped01'") == [("running",)]
    finally:
        window.close()
