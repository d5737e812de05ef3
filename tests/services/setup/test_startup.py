"""Setup opens each host once (issue 19): the probe's connection is the one the local-host
step, the preview and the import read, and it is closed once, at the end, however setup ends.

Opens are counted by wrapping libvirt's own ``open``/``openReadOnly``/``openAuth``: the app's
one opening function (``hosts.opening.open_connection``) calls them through the ``libvirt``
module, so every open on every path is seen, and nothing of the app is replaced. Closes are
counted on ``virConnect.close`` (a connection dropped without it is not counted as closed).
"""
import io
import json

import libvirt
import pytest
from PySide6.QtCore import Qt

from ecp_desktop.cli import setup as cli_setup
from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.services.config import preferences
from ecp_desktop.services.core.errors import HypervisorError
from ecp_desktop.services.hosts.opening import SharedConnections
from ecp_desktop.services.setup.pipeline import HookRegistry
from ecp_desktop.services.setup.steps import SetupOptions, run_setup
from ecp_desktop.testing.hostgen import write_host

DEMO = "test:///default"


class Opens:
    def __init__(self, monkeypatch):
        self.conns: list[tuple[str, libvirt.virConnect]] = []
        self.closes: dict[int, int] = {}
        for name in ("open", "openReadOnly", "openAuth"):
            monkeypatch.setattr(libvirt, name, self._counted(getattr(libvirt, name)))
        real_close = libvirt.virConnect.close

        def close(conn):
            self.closes[id(conn)] = self.closes.get(id(conn), 0) + 1
            return real_close(conn)
        monkeypatch.setattr(libvirt.virConnect, "close", close)

    def _counted(self, real):
        def wrapper(uri, *args):
            conn = real(uri, *args)
            self.conns.append((uri, conn))  # kept: their ids stay unique while the test runs
            return conn
        return wrapper

    def per_host(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for uri, _conn in self.conns:
            counts[uri] = counts.get(uri, 0) + 1
        return counts

    def closed_once(self) -> bool:
        return all(self.closes.get(id(conn)) == 1 for _uri, conn in self.conns)


@pytest.fixture
def opens(monkeypatch):
    return Opens(monkeypatch)


@pytest.fixture
def big_host(tmp_path):
    return write_host(tmp_path / "big.xml", 120, seed=5)


def imported(uri):
    with database.connection_context():
        return schema.Machine.select().join(schema.Host).where(schema.Host.uri == uri).count()


def test_the_setup_command_opens_each_host_once_and_closes_it_once(fresh_db, db_url, big_host, opens):
    out = io.StringIO()
    code = cli_setup.run("setup", db_url, [big_host], local=DEMO, as_json=True, remember_database=False, out=out)
    assert code == 0, out.getvalue()
    report = json.loads(out.getvalue())
    # probed (the demo host is offered too), recorded as the local host, imported: one open each
    assert {p["uri"] for p in report["connections"] if p["reachable"]} >= {big_host, DEMO}
    counts = opens.per_host()
    assert counts[big_host] == 1 and counts[DEMO] == 1 and set(counts.values()) == {1}, counts
    assert opens.closed_once()
    assert imported(big_host) == 120


def test_the_local_host_and_an_imported_host_being_the_same_is_one_open(fresh_db, db_url, big_host, opens):
    code = cli_setup.run("setup", db_url, [big_host], local=big_host, remember_database=False, out=io.StringIO())
    assert code == 0
    assert opens.per_host()[big_host] == 1 and opens.closed_once()


def test_a_failed_step_or_a_cancelled_run_still_closes_every_connection_once(fresh_db, tmp_path, big_host, opens):
    failed = run_setup(SetupOptions(connections=[big_host], local_uri=f"test://{tmp_path}/absent.xml"),
                       hooks=HookRegistry())
    assert not failed.ok and opens.per_host()[big_host] == 1 and opens.closed_once()

    class Cancelled(BaseException):  # as Ctrl+C does: past the step's own error handling
        pass

    def progress(_done, _total, what):
        if what.startswith("importing"):  # mid-import, with every connection open
            raise Cancelled(what)
    before = len(opens.conns)
    with pytest.raises(Cancelled):
        run_setup(SetupOptions(connections=[big_host], local_uri=DEMO), hooks=HookRegistry(), progress=progress)
    assert len(opens.conns) > before and opens.closed_once()


def test_a_close_while_a_reader_holds_the_connections_waits_for_it_and_nothing_is_kept_after(opens):
    shared = SharedConnections()
    conn = shared.get(DEMO)
    assert shared.get(DEMO) is conn and opens.per_host() == {DEMO: 1}
    with shared.in_use():  # a preview or a setup run still reading (the wizard was closed meanwhile)
        shared.close()
        assert not opens.closes and conn.getType() == "TEST"
    assert opens.closed_once()
    shared.close()  # again (the run's end, then the wizard's): nothing is closed twice
    late = libvirt.openReadOnly(DEMO)  # a probe that answers after setup ended closes its own
    assert not shared.keep(DEMO, late)
    late.close()
    with pytest.raises(HypervisorError, match="setup is over"):
        shared.get(DEMO)
    assert opens.per_host() == {DEMO: 2} and opens.closed_once()


# ---- the wizard ------------------------------------------------------------------------

@pytest.fixture
def wizard(qtbot, tmp_path, big_host, opens):
    from ecp_desktop.views.setup.wizard import SetupWizard
    w = SetupWizard(database_url=f"sqlite:///{tmp_path / 'wizard.sqlite3'}", database_locked=False,
                    typed_connections=[big_host], probe_timeout=5)
    qtbot.addWidget(w)
    w.show()
    yield w
    if database.obj is not None:
        database.close()
    preferences.set_restore_at_start("")  # walk_to answered the wizard's question; unanswered again


def walk_to(qtbot, wizard, page_type):
    while not isinstance(wizard.currentPage(), page_type):
        if hasattr(wizard.currentPage(), "restore") and wizard.currentPage().restore.choice() is None:
            wizard.currentPage().restore.buttons["never"].setChecked(True)  # the question before Run Setup
        qtbot.waitUntil(lambda: wizard.currentPage().isComplete(), timeout=15000)
        wizard.next()
    return wizard.currentPage()


def test_the_wizard_probes_previews_and_imports_through_one_open_per_host(qtbot, wizard, big_host, opens):
    from ecp_desktop.views.setup.wizard import ConnectionsPage, ImportPage, ProgressPage
    connections = walk_to(qtbot, wizard, ConnectionsPage)
    qtbot.waitUntil(lambda: not connections.detecting, timeout=15000)
    connections.items[DEMO].setCheckState(0, Qt.CheckState.Checked)
    imports = walk_to(qtbot, wizard, ImportPage)
    qtbot.waitUntil(lambda: imports.pending == 0, timeout=15000)
    assert imports.hosts[big_host].childCount() == 120
    assert opens.per_host()[big_host] == 1 and not opens.closes  # the probe's: still open for the import
    with qtbot.waitSignal(wizard.setup_finished, timeout=30000) as finished:
        walk_to(qtbot, wizard, ProgressPage)
    assert finished.args[0].ok
    counts = opens.per_host()
    assert counts[big_host] == 1 and counts[DEMO] == 1 and set(counts.values()) == {1}, counts
    assert opens.closed_once()  # by the run, at its end
    assert imported(big_host) == 120
    wizard.button(wizard.WizardButton.FinishButton).click()  # closing the wizard closes nothing twice
    qtbot.wait(100)
    assert opens.closed_once()


def test_a_wizard_cancelled_after_the_preview_closes_the_probes_connections(qtbot, wizard, big_host, opens):
    from ecp_desktop.views.setup.wizard import ImportPage
    imports = walk_to(qtbot, wizard, ImportPage)
    qtbot.waitUntil(lambda: imports.pending == 0, timeout=15000)
    assert opens.per_host()[big_host] == 1 and not opens.closes
    wizard.reject()
    qtbot.waitUntil(opens.closed_once, timeout=5000)  # on a worker thread, not the GUI thread
