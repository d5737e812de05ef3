"""The inventory's PostgreSQL server stops mid-operation (issue 7): the window says so,
flows that need the database are refused instead of half-done, plain actions go on, and
every task record is written once the server is back: nothing recorded is lost. Nor is
machine state (issue 24): the machine's row and desired state written meanwhile land too,
and the status bar names the cause.

A private server (scripts/pg-test-server.sh), stopped and started again on the same port.
"""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from ecp_desktop.services.composition import build_services
from ecp_desktop.testing.inventory import set_up_inventory

from ..helpers import query
from ..helpers import TEMPLATE_URI, TPL_UUID

pytestmark = pytest.mark.postgresql_only
SERVER = Path(__file__).resolve().parents[2] / "scripts" / "pg-test-server.sh"


class Server:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="ecp-pg-loss.")
        self.port = ""

    def start(self) -> str:
        env = {"ECP_PG_PORT": self.port} if self.port else {}
        import os
        out = subprocess.run([str(SERVER), "start", self.dir], capture_output=True, text=True, timeout=120,
                             env={**os.environ, **env})
        assert out.returncode == 0, out.stderr
        url = out.stdout.strip().splitlines()[-1]
        port = url.rsplit(":", 1)[1].split("/")[0]
        assert self.port in ("", port), f"the server came back on port {port}, not {self.port}"
        self.port = port
        return url.rsplit("/", 1)[0] + "/ecp_loss"

    def stop(self) -> None:
        subprocess.run([str(SERVER), "stop", self.dir], capture_output=True, timeout=120)


@pytest.fixture
def server():
    import psycopg2
    import shutil
    running = Server()
    url = running.start()
    admin = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    admin.cursor().execute("CREATE DATABASE ecp_loss")
    admin.close()
    yield running, url
    running.stop()
    shutil.rmtree(running.dir, ignore_errors=True)


def test_postgres_stopped_mid_operation_refuses_flows_and_loses_no_task_record(server, run, qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from ecp_desktop.views.window.main_window import MainWindow
    pg, url = server
    set_up_inventory(url)  # setup has run: the inventory records machines
    services = build_services()
    window = MainWindow(services, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    try:
        host = services.inventory.add_host(TEMPLATE_URI)
        assert run(services.inventory.connect_host(host))
        run(services.inventory.load_host(host))
        busy = next(m for m in services.inventory.machines_of(TEMPLATE_URI) if m.name == "busy")
        assert run(services.lifecycle.apply("pause", busy)).status == "succeeded"
        run(services.tasks.flush())
        assert len(query(url, "SELECT id FROM task")) == 1

        pg.stop()  # the server goes away mid-session
        resumed = run(services.lifecycle.apply("resume", busy))
        assert resumed.status == "succeeded"  # a plain action needs libvirt, not the database
        qtbot.waitUntil(lambda: services.tasks.database_away != "", timeout=10000)
        assert "Inventory database away" in window.health.text()
        qtbot.waitUntil(lambda: services.inventory.database_away != "", timeout=10000)  # the row's write
        assert "Inventory database away (server gone)" in window.health.text()

        flow = run(services.templates.plan(TEMPLATE_URI, TPL_UUID, 2, "lost-{n}"))
        refused = run(services.templates.run(flow))
        assert refused.status == "cancelled" and "inventory database is away" in refused.error_message
        names = run(host.call(lambda conn: [d.name() for d in conn.listAllDomains()]))
        assert not any(n.startswith("lost-") for n in names)  # nothing half-done in libvirt

        pg.start()  # back: the queued records are written by the retry, in order
        qtbot.waitUntil(lambda: services.tasks.database_away == "", timeout=20000)
        run(services.tasks.flush())
        rows = query(url, "SELECT title, status FROM task WHERE parent_id IS NULL ORDER BY id")
        assert [r[1] for r in rows] == ["succeeded", "succeeded", "cancelled"], rows
        assert [r[0] for r in rows] == ["Pause busy", "Resume busy", "Create 2 machines from tpl"]
        steps = query(url, f"SELECT status FROM task WHERE parent_id = {refused.db_id}")
        assert steps and {s for (s,) in steps} == {"cancelled"}
        qtbot.waitUntil(lambda: services.inventory.database_away == "", timeout=20000)
        run(services.inventory.writes.written())
        assert "Inventory database away" not in window.health.text()
        assert query(url, f"SELECT state, desired_state FROM machine WHERE uuid = '{busy.uuid}'") == [
            ("running", "running")]  # resumed while the server was away: recorded once it is back
    finally:
        services.shutdown()
