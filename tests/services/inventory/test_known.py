"""The inventory is always on screen: a host that is down keeps its machines listed with
their last known state, and they turn live, without flicker or duplicates, when it answers."""
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from PySide6.QtCore import QSettings, Qt

from ecp_desktop.services.composition import build_services
from ecp_desktop.services.setup.startup import start_initial_hosts
from ecp_desktop.services.config import approved_hosts
from ecp_desktop.testing.hostgen import write_host
from ecp_desktop.views.machines.machine_model import NAME, STATE
from ecp_desktop.views.window.main_window import MainWindow

COUNT = 40


@pytest.fixture
def recorded_host(db, run, tmp_path):
    """A test-driver host of COUNT machines, listed and recorded by an earlier session."""
    uri = write_host(tmp_path / "far.xml", COUNT, seed=5, prefix="far-")
    approved_hosts.approve([uri])  # this user's own host, connected at every start
    earlier = build_services()
    try:
        host = earlier.inventory.add_host(uri)
        assert run(earlier.inventory.connect_host(host, autoconnect=True))
        run(earlier.inventory.load_host(host))
        run(earlier.inventory.writes.written())
        names = sorted(m.name for m in earlier.inventory.machines_of(uri))
    finally:
        earlier.shutdown()
    assert len(names) == COUNT
    return uri, tmp_path / "far.xml", names


def _window(qtbot, services, tmp_path) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(services, settings)
    qtbot.addWidget(win)
    win.show()
    return win


def test_machines_of_an_unreachable_host_are_listed_with_their_last_known_state(
        qtbot, run, services, recorded_host, tmp_path):
    uri, path, names = recorded_host
    path.rename(path.with_suffix(".moved"))  # the host does not answer any more
    win = _window(qtbot, services, tmp_path)
    attempts = run(start_initial_hosts(services.inventory, []))
    model = win.machine_model
    assert model.rowCount() == COUNT  # from the inventory: this host never answers
    run(asyncio_gather(attempts))
    assert not services.inventory.hosts[uri].connected
    assert sorted(model.machine(r).name for r in range(COUNT)) == names
    state = model.index(0, STATE)
    machine = model.machine(0)
    assert not machine.live and state.data().endswith("(last known)")
    assert datetime.now(timezone.utc) - machine.last_seen < timedelta(minutes=5)
    tip = model.index(0, NAME).data(Qt.ItemDataRole.ToolTipRole)
    assert "Last known state" in tip and "last seen" in tip and "Actions on this machine need its host" in tip
    # Actions that need the host are disabled, and say why.
    win.machines_view.selectAll()
    for action in win.menu_actions.lifecycle.values():
        assert not action.isEnabled()
        assert "need its host" in action.toolTip()
    assert not win.menu_actions.migrate.isEnabled()
    # The status bar still counts them, and host:down finds them.
    assert f"{COUNT} machines" in win.health.text()
    win.filter_edit.setText("host:down")
    qtbot.waitUntil(lambda: win.machine_proxy.rowCount() == COUNT)
    win.filter_edit.setText("host:up")
    qtbot.waitUntil(lambda: win.machine_proxy.rowCount() == 0)


def test_rows_turn_live_without_duplicates_when_the_host_answers(qtbot, run, services, recorded_host, tmp_path):
    uri, path, names = recorded_host
    moved = path.with_suffix(".moved")
    path.rename(moved)
    win = _window(qtbot, services, tmp_path)
    run(asyncio_gather(run(start_initial_hosts(services.inventory, []))))
    model = win.machine_model
    assert model.rowCount() == COUNT and not any(model.machine(r).live for r in range(COUNT))
    inserted, removed, changed = [], [], []
    model.rowsInserted.connect(lambda *a: inserted.append(a))
    model.rowsRemoved.connect(lambda *a: removed.append(a))
    model.modelReset.connect(lambda: removed.append("reset"))
    model.dataChanged.connect(lambda *a: changed.append(a))
    moved.rename(path)  # the host is back
    assert run(services.host_actions.connect(services.inventory.hosts[uri]))
    qtbot.waitUntil(lambda: all(model.machine(r).live for r in range(model.rowCount())), timeout=5000)
    assert model.rowCount() == COUNT and inserted == [] and removed == [] and changed
    assert sorted(model.machine(r).name for r in range(COUNT)) == names
    assert not model.index(0, STATE).data().endswith("(last known)")
    win.machines_view.selectAll()
    assert any(action.isEnabled() for action in win.menu_actions.lifecycle.values())

    # When the host goes away again, the rows stay, as last known facts from that moment.
    before = datetime.now(timezone.utc)
    run(services.host_actions.disconnect(services.inventory.hosts[uri]))
    qtbot.waitUntil(lambda: not any(model.machine(r).live for r in range(model.rowCount())), timeout=5000)
    assert model.rowCount() == COUNT
    assert all(model.machine(r).last_seen >= before for r in range(COUNT))


def test_a_machine_undefined_while_the_host_was_down_goes_when_it_answers(
        qtbot, run, services, recorded_host, tmp_path):
    uri, path, names = recorded_host
    text = path.read_text()
    start = text.index("  <domain")
    end = text.index("</domain>", start) + len("</domain>\n")
    gone = names[0] if f"<name>{names[0]}</name>" in text[start:end] else None
    path.write_text(text[:start] + text[end:])  # the first domain was undefined meanwhile
    win = _window(qtbot, services, tmp_path)
    run(asyncio_gather(run(start_initial_hosts(services.inventory, []))))
    model = win.machine_model
    qtbot.waitUntil(lambda: model.rowCount() == COUNT - 1 and all(model.machine(r).live for r in range(COUNT - 1)),
                    timeout=5000)
    if gone:
        assert gone not in {model.machine(r).name for r in range(COUNT - 1)}


def test_machines_json_lists_the_known_machines_of_an_unreachable_host(recorded_host, db_url):
    uri, path, names = recorded_host
    path.rename(path.with_suffix(".moved"))
    result = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "machines", "--json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 3, result.stderr
    assert f"cannot connect to {uri}" in result.stderr
    rows = json.loads(result.stdout)
    assert sorted(r["name"] for r in rows) == names
    for row in rows:
        assert row["live"] is False and row["host"] == uri
        assert datetime.now(timezone.utc) - datetime.fromisoformat(row["last_seen"]) < timedelta(minutes=5)


def test_machines_json_marks_live_rows(recorded_host, db_url):
    uri, _path, names = recorded_host
    result = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "machines", "--json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert sorted(r["name"] for r in rows) == names and all(r["live"] is True for r in rows)


async def asyncio_gather(attempts):
    import asyncio
    return await asyncio.gather(*attempts)
