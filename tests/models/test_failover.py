"""A database that fails over (issue 19): the inventory on a PostgreSQL primary with a
streaming-replication standby, opened by a multi-host URL (``target_session_attrs=read-write``).
The primary dies in the middle of a bulk action and the standby is promoted: the app finds
the new primary by itself, the status bar says the database was away and then no longer,
and no task record or inventory write is lost (the queues write them again).

Real servers: a primary and a synchronous standby from Debian's packages
(scripts/pg-failover.sh), one pair for the module.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import peewee
import pytest

from ecp_desktop.models.db import DatabaseUrlError, check_database, make_database, postgres_hosts
from ecp_desktop.services.config import credentials
from ecp_desktop.services.composition import build_services
from ecp_desktop.services.core import database_faults
from ecp_desktop.services.core.aio import spawn
from ecp_desktop.testing.hostgen import write_host
from ecp_desktop.testing.inventory import set_up_inventory

pytestmark = pytest.mark.postgresql_only
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pg-failover.sh"


def _pair(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=180)


def _rows(url: str, sql: str, *, fetch: bool = True) -> list[tuple]:
    """Rows as another process reads them, through the same multi-host URL (libpq picks the
    server that accepts writes: the primary of the moment)."""
    import psycopg2
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return [tuple(row) for row in cur.fetchall()] if fetch else []
    finally:
        conn.close()


@pytest.fixture(scope="module")
def pair():
    """(the pair's directory, its multi-host URL); stopped and removed after the module."""
    if not glob.glob("/usr/lib/postgresql/*/bin/pg_basebackup"):
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL's server binaries are missing: CI must provide the failover tier")
        pytest.skip("PostgreSQL's server binaries are not installed (scripts/setup.sh test installs them)")
    folder = tempfile.mkdtemp(prefix="ecp-pg-failover.")
    try:
        started = _pair("start", folder)
        assert started.returncode == 0, started.stderr
        yield folder, started.stdout.strip().splitlines()[-1]
    finally:
        _pair("stop", folder)
        shutil.rmtree(folder, ignore_errors=True)


def _port(folder: str, server: str) -> int:
    return int(Path(folder, server, "port").read_text())


def test_a_multi_host_url_opens_on_the_primary(pair):
    folder, url = pair
    assert [port for _host, port in postgres_hosts(url)] == [_port(folder, "primary"), _port(folder, "standby")]
    db = make_database(url)  # libpq reads the whole URL: both servers, and the session it must get
    with db.connection_context():
        port, standby = db.execute_sql("SELECT inet_server_port(), pg_is_in_recovery()").fetchone()
    assert (port, standby) == (_port(folder, "primary"), False)


def test_a_multi_host_url_takes_its_password_from_the_keyring_never_from_what_is_saved(pair):
    """The password of a role on the pair comes from the keyring's account for the URL (here
    this session's answer, which the keyring stands for); the URL that is saved has none."""
    _folder, url = pair
    _rows(url, "CREATE ROLE ecp_failover LOGIN PASSWORD 'fo-s3cret'", fetch=False)
    user_url = url.replace("postgres@", "ecp_failover@", 1)
    credentials.register_database_passwords()
    with pytest.raises(DatabaseUrlError) as refused:
        check_database(user_url)
    assert refused.value.needs_password
    credentials.remember_for_session(credentials.database_account(user_url), "fo-s3cret")
    assert check_database(user_url).startswith("PostgreSQL ")
    saved, password = credentials.split_database_url(user_url.replace("ecp_failover@", "ecp_failover:fo-s3cret@"))
    assert (saved, password) == (user_url, "fo-s3cret")
    with pytest.raises(DatabaseUrlError, match="not a number"):
        make_database(user_url.replace(",127.0.0.1:", ",127.0.0.1:x"))


def test_a_standby_refusing_writes_is_a_retryable_read_only_fault(pair):
    """What a standby answers to a write (SQLSTATE 25006): a fault of the place, written again
    later, never taken for a mistake in what was written (which would be dropped)."""
    folder, _url = pair
    standby = peewee.PostgresqlDatabase("ecp_test", host="127.0.0.1", port=_port(folder, "standby"), user="postgres")
    with standby.connection_context(), pytest.raises(peewee.DatabaseError) as refused:
        standby.execute_sql("CREATE TABLE refused (x int)")
    fault = database_faults.fault_of(refused.value)
    assert fault.kind == database_faults.READ_ONLY, fault
    assert database_faults.retryable(refused.value)


def test_failover_mid_bulk_action_loses_no_record_and_the_window_says_away_then_back(pair, run, qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from ecp_desktop.views.window.main_window import MainWindow
    folder, url = pair
    set_up_inventory(url).close()  # setup has run: the inventory records machines
    services = build_services()
    window = MainWindow(services, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    # The status bar each time a service says the database went away or came back (the window
    # listens first, so its text is already the new one).
    said: list[tuple[str, str, str]] = []
    for name, service in (("tasks", services.tasks), ("inventory", services.inventory)):
        service.database_changed.connect(lambda away, name=name: said.append((name, away, window.health.text())))
    try:
        uri = write_host(tmp_path / "failover.xml", 90, seed=19, prefix="fo-")
        host = services.inventory.add_host(uri)
        assert run(services.inventory.connect_host(host))
        run(services.inventory.load_host(host))
        run(services.inventory.writes.written())
        chosen = [m for m in services.inventory.machines_of(uri) if m.state == "shutoff"]
        assert len(chosen) >= 12

        # The primary dies when a third of the steps are done, from the loop itself: the bulk
        # action is certainly in the middle, and every later write meets a dead primary.
        done: list[int] = []

        def stop_primary_midway(record) -> None:
            if record.parent is None or record.status != "succeeded" or done:
                return
            finished = sum(1 for step in record.parent.children if step.status == "succeeded")
            if finished >= len(chosen) // 3:
                stopped = _pair("stop-primary", folder)
                assert stopped.returncode == 0, stopped.stderr
                done.append(finished)
        services.tasks.task_changed.connect(stop_primary_midway)
        bulk = spawn(services.lifecycle.apply_many("start", chosen))

        qtbot.waitUntil(lambda: services.tasks.database_away != "", timeout=20000)
        assert done and done[0] < len(chosen)
        assert "Inventory database away" in window.health.text()
        still_running = not bulk.done()
        promoted = _pair("promote", folder)
        assert promoted.returncode == 0, promoted.stderr
        promoted_at = time.monotonic()

        qtbot.waitUntil(bulk.done, timeout=30000)
        qtbot.waitUntil(lambda: not services.tasks.database_away and not services.inventory.database_away,
                        timeout=30000)
        back_after = time.monotonic() - promoted_at
        run(services.tasks.flush())
        run(services.inventory.writes.written())
        print(f"failover: primary stopped after {done[0]} of {len(chosen)} steps; "
              f"bulk action still running at the promotion: {still_running}; "
              f"the app wrote again {back_after:.1f} s after the promotion")
        assert back_after < 3 * database_faults.RETRY_SECONDS

        # The window said it: away (the cause named), then the line is gone.
        assert any(away and "Inventory database away" in text for _name, away, text in said), said
        assert {name: away for name, away, _text in said} == {"tasks": "", "inventory": ""}, said
        assert "Inventory database away" not in said[-1][2], said  # the last change: both back
        assert "Inventory database away" not in window.health.text()
        assert "Inventory database back" in window.statusBar().currentMessage()

        # Written on the promoted standby: the bulk task, once, and each step, once, finished.
        assert _rows(url, "SELECT inet_server_port(), pg_is_in_recovery()") == [(_port(folder, "standby"), False)]
        steps = bulk.result()
        parent = steps[0].parent
        top = _rows(url, f"SELECT id, status FROM task WHERE title = '{parent.title}' AND parent_id IS NULL")
        assert top == [(parent.db_id, "succeeded")]
        rows = _rows(url, f"SELECT id, status FROM task WHERE parent_id = {parent.db_id} ORDER BY id")
        assert sorted(rows) == sorted((step.db_id, "succeeded") for step in steps)
        assert len(rows) == len(chosen)
        # The inventory's writes made during the outage landed: every machine runs and should.
        uuids = ", ".join(f"'{m.uuid}'" for m in chosen)
        states = _rows(url, f"SELECT state, desired_state FROM machine WHERE uuid IN ({uuids})")
        assert states == [("running", "running")] * len(chosen)
    finally:
        services.shutdown()
