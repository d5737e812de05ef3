"""Inventory writes while the database cannot be written (issue 24, point 3).

During a full-disk outage 18 machine-row and desired-state writes failed and were never
written again: afterwards machines the user had started were "shutoff, desired shutoff" in
the inventory while libvirt ran them, and the status bar said "cannot rollback - no
transaction is active". Now every inventory write is queued, coalesced per machine and
retried until it lands, and the cause is said in words.

The faults are real: SQLite's own limits (``max_page_count``: SQLITE_FULL with the same
rollback chain as the full disk; ``query_only``: SQLITE_READONLY), a PostgreSQL database
that refuses connections (``ALLOW_CONNECTIONS false``), a port nobody listens on. The full
disk itself is in tests/lab/test_full_disk.py (a real tmpfs; root).
"""
from __future__ import annotations

import errno
import os
import socket

import libvirt
import peewee
import pytest

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.services.core import database_faults as faults
from ecp_desktop.services.inventory import notes as machine_notes
from ecp_desktop.services.inventory.machines import MachineInfo
from ecp_desktop.services.inventory.pending import HostWrites, MachineWrite, merge
from ecp_desktop.testing.hostgen import write_host

BACKEND = os.environ.get("ECP_TEST_BACKEND", "sqlite")  # as tests/conftest.py reads it


# ----- the cause in words ----------------------------------------------------------------------
def test_a_full_sqlite_database_is_named_not_the_failed_rollback(tmp_path):
    """SQLite rolls a transaction back itself on SQLITE_FULL; peewee's rollback then fails,
    and that failure is what is raised: the cause is found behind it."""
    db = peewee.SqliteDatabase(str(tmp_path / "full.sqlite3"), pragmas={"journal_mode": "wal"})
    db.execute_sql("CREATE TABLE t (v TEXT)")
    db.execute_sql(f"PRAGMA max_page_count = {db.execute_sql('PRAGMA page_count').fetchone()[0]}")
    with pytest.raises(peewee.OperationalError) as raised:
        with db.atomic():
            db.execute_sql("INSERT INTO t VALUES (?)", ("x" * 100_000,))
    db.close()
    assert "cannot rollback" in str(raised.value)  # what used to be shown
    fault = faults.fault_of(raised.value)
    assert fault.kind == faults.DISK_FULL and "database or disk is full" in fault.detail
    assert faults.describe(raised.value).startswith("the disk holding the inventory database is full")
    assert faults.retryable(raised.value)


def test_a_read_only_sqlite_database_is_named(tmp_path):
    db = peewee.SqliteDatabase(str(tmp_path / "ro.sqlite3"))
    db.execute_sql("CREATE TABLE t (v TEXT)")
    db.execute_sql("PRAGMA query_only = 1")
    with pytest.raises(peewee.OperationalError) as raised:
        db.execute_sql("INSERT INTO t VALUES ('x')")
    db.close()
    assert faults.fault_of(raised.value).kind == faults.READ_ONLY
    assert "read-only" in faults.describe(raised.value)


def test_a_postgresql_server_that_is_not_there_is_named():
    psycopg2 = pytest.importorskip("psycopg2")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    db = peewee.PostgresqlDatabase("ecp", host="127.0.0.1", port=port, user="nobody", connect_timeout=3)
    with pytest.raises(peewee.OperationalError) as raised:
        db.connect()
    assert isinstance(raised.value.__context__, psycopg2.OperationalError)
    assert faults.fault_of(raised.value).kind == faults.SERVER_GONE
    assert faults.retryable(raised.value)


def test_a_mistake_in_what_is_written_is_not_retried(tmp_path):
    db = peewee.SqliteDatabase(str(tmp_path / "dup.sqlite3"))
    db.execute_sql("CREATE TABLE t (v TEXT UNIQUE)")
    db.execute_sql("INSERT INTO t VALUES ('x')")
    with pytest.raises(peewee.IntegrityError) as raised:
        db.execute_sql("INSERT INTO t VALUES ('x')")
    db.close()
    assert not faults.retryable(raised.value) and faults.fault_of(raised.value).kind == faults.UNKNOWN


@pytest.mark.parametrize("code, kind", [(errno.ENOSPC, faults.DISK_FULL), (errno.EROFS, faults.READ_ONLY),
                                        (errno.EACCES, faults.PERMISSION)])
def test_an_errno_deep_in_the_chain_is_named(code, kind):
    """Built by hand (a pure function of the exception chain): the system call's error as
    the cause of a driver error, wrapped again by peewee, as a driver raising from it does."""
    try:
        try:
            try:
                raise OSError(code, "from the system")
            except OSError as os_error:
                raise RuntimeError("driver: write failed") from os_error
        except RuntimeError as driver:
            raise peewee.OperationalError(driver) from None
    except peewee.OperationalError as exc:
        assert faults.fault_of(exc).kind == kind
        assert faults.kind_of_text(faults.describe(exc)) == kind  # the status bar reads it back


def test_the_status_line_names_the_first_cause_given():
    line, tip = faults.status_line("", "")
    assert line == tip == ""
    line, tip = faults.status_line("", "OperationalError: cannot rollback - no transaction is active")
    assert line.startswith("Inventory database away, retrying") and "nothing recorded is lost" in line
    full = "the disk holding the inventory database is full (OperationalError: database or disk is full)"
    line, tip = faults.status_line(full, "OperationalError: cannot rollback - no transaction is active")
    assert line.startswith("Inventory database away (disk full), retrying")
    assert tip.splitlines()[0] == f"Inventory database: {full}"


# ----- coalescing and order ----------------------------------------------------------------------
def info(uuid: str, state: str) -> MachineInfo:
    return MachineInfo(host_uri="test:///x", uuid=uuid, name=uuid, state=state)


def test_pending_writes_are_bounded_by_the_machines_not_by_the_events():
    pending: dict[str, HostWrites] = {}
    for round_ in range(500):  # a long outage: every machine changes again and again
        for n in range(10):
            state = "running" if round_ % 2 else "shutoff"
            pending = merge(pending, {"h": HostWrites(machines={f"m{n}": MachineWrite(info=info(f"m{n}", state))},
                                                      desired={f"m{n}": state})})
    (writes,) = pending.values()
    assert writes.size() == 20 and writes.machines["m3"].info.state == "running"
    assert writes.desired["m3"] == "running"


def test_newer_writes_win_and_what_must_come_first_still_does():
    older = HostWrites(machines={"a": MachineWrite(info=info("a", "running")), "b": MachineWrite(forget=True)},
                       policy={"a": ("always", "")})
    # seen then gone: its last facts are still written, then marked missing
    gone = older.then(HostWrites(machines={"a": MachineWrite(missing=True)}))
    assert gone.machines["a"] == MachineWrite(False, info("a", "running"), True)
    # deleted, then the same UUID back (a flow undone, then made again): delete first, then the row
    back = older.then(HostWrites(machines={"b": MachineWrite(info=info("b", "running"))}))
    assert back.machines["b"] == MachineWrite(True, info("b", "running"), False)
    # a newer listing supersedes the older facts, but not an older deletion (kept before it)
    listed = older.then(HostWrites(listing="listing"))
    assert listed.listing == "listing" and listed.machines == {} and listed.forgets_before == {"b"}
    # a policy's parts given separately are both kept; a host removed makes the rest moot
    both = older.then(HostWrites(policy={"a": ("", "leave-paused")}))
    assert both.policy["a"] == ("always", "leave-paused")
    assert older.then(HostWrites(forget_host=True)) == HostWrites(forget_host=True)


# ----- a real outage in the middle of a bulk action -----------------------------------------------
def database_refuses(services, db_url: str, refuse: bool) -> None:
    """Make the inventory database refuse writes, for real, in order with the writes queued
    before: SQLite's connection on the database thread turns query-only (SQLITE_READONLY);
    a PostgreSQL database stops accepting connections (the app connects per write)."""
    if BACKEND == "postgresql":
        from ...helpers import query
        admin = db_url.rsplit("/", 1)[0] + "/postgres"
        name = db_url.rsplit("/", 1)[1]
        query(admin, f"ALTER DATABASE {name} ALLOW_CONNECTIONS {'false' if refuse else 'true'}")
    else:
        services.executors.database.submit(database.execute_sql, f"PRAGMA query_only = {int(refuse)}")


def rows(uri: str) -> dict[str, tuple[str, str, str]]:
    """uuid -> (state, desired state, restore policy), as the database has them."""
    with database.connection_context():
        query = (schema.Machine.select(schema.Machine.uuid, schema.Machine.state, schema.Machine.desired_state,
                                       schema.Machine.restore_policy)
                 .join(schema.Host).where(schema.Host.uri == uri).tuples())
        return {uuid: (state, desired, policy) for uuid, state, desired, policy in query}


def libvirt_states(run, host) -> dict[str, str]:
    states = {libvirt.VIR_DOMAIN_RUNNING: "running", libvirt.VIR_DOMAIN_PAUSED: "paused",
              libvirt.VIR_DOMAIN_SHUTOFF: "shutoff"}
    return run(host.call(lambda conn: {d.UUIDString(): states[d.state()[0]] for d in conn.listAllDomains()}))


@pytest.fixture
def outage_host(tmp_path, run, services, db_url):
    uri = write_host(tmp_path / "outage.xml", 40, seed=24, prefix="out-")
    host = services.inventory.add_host(uri)
    assert run(services.inventory.connect_host(host))
    run(services.inventory.load_host(host))
    run(services.inventory.writes.written())
    services.inventory.writes.retry_seconds = 0.3
    yield uri, host
    database_refuses(services, db_url, False)  # whatever the test left
    services.executors.database.submit(lambda: None).result(timeout=10)


def test_writes_refused_mid_bulk_action_are_written_once_the_database_is_back(qtbot, run, services, db_url,
                                                                             outage_host, tmp_path):
    from PySide6.QtCore import QSettings

    from ecp_desktop.views.window.main_window import MainWindow
    uri, host = outage_host
    inventory = services.inventory
    window = MainWindow(services, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    stopped = [m for m in inventory.machines_of(uri) if m.state == "shutoff"]
    assert len(stopped) >= 12
    done = []

    def halfway(record) -> None:  # the database goes read-only in the middle of the bulk action
        if record.parent is not None and record.status == "succeeded":
            done.append(record)
            if len(done) == 4:
                database_refuses(services, db_url, True)
    services.tasks.task_changed.connect(halfway)
    try:
        steps = run(services.lifecycle.apply_many("start", stopped), timeout=30)
    finally:
        services.tasks.task_changed.disconnect(halfway)
    assert {s.status for s in steps} == {"succeeded"}  # libvirt did all of them
    qtbot.waitUntil(lambda: inventory.database_away != "", timeout=10000)
    kind = faults.SERVER_GONE if BACKEND == "postgresql" else faults.READ_ONLY
    assert inventory.writes.fault.kind == kind, inventory.database_away
    assert f"Inventory database away ({kind})" in window.health.text()
    # More intents while away: kept too, coalesced per machine.
    inventory.set_restore_policy([m.key for m in stopped[:3]], "always")
    for _ in range(20):
        inventory.record_desired(uri, [stopped[0].uuid], "running")
    assert inventory.writes.waiting() <= 3 * len(inventory.machines_of(uri)) + 1

    database_refuses(services, db_url, False)
    qtbot.waitUntil(lambda: inventory.database_away == "", timeout=10000)
    run(inventory.writes.written())
    qtbot.waitUntil(lambda: services.tasks.database_away == "", timeout=15000)  # its own retry, every 5 s
    assert "Inventory database away" not in window.health.text()
    truth = libvirt_states(run, host)
    recorded = rows(uri)
    assert {u: r[0] for u, r in recorded.items()} == truth  # the inventory equals libvirt
    assert all(recorded[m.uuid][1] == "running" for m in stopped)  # and the user's intents
    assert [recorded[m.uuid][2] for m in stopped[:3]] == ["always"] * 3


def test_a_notes_save_during_an_outage_is_refused_in_words(run, services, db_url, outage_host):
    uri, _host = outage_host
    machine = services.inventory.machines_of(uri)[0]
    before = run(services.inventory.read_notes(machine.key))
    database_refuses(services, db_url, True)
    try:
        with pytest.raises(machine_notes.NotesNotSaved) as refused:
            run(services.inventory.save_notes(machine.key, "do not stop: payroll", before.version))
        assert "not saved" in str(refused.value) and "save again" in str(refused.value)
        assert faults.kind_of_text(refused.value.why) != faults.UNKNOWN
    finally:
        database_refuses(services, db_url, False)
    assert run(services.inventory.read_notes(machine.key)) == before  # nothing half-written
    saved = run(services.inventory.save_notes(machine.key, "do not stop: payroll", before.version))
    assert saved.text == "do not stop: payroll"


def test_a_machine_undone_and_made_again_while_away_gets_a_fresh_row(qtbot, run, services, db_url, outage_host):
    """Order that matters survives coalescing: a deletion queued before a new row is written first."""
    uri, host = outage_host
    inventory = services.inventory
    machine = inventory.machines_of(uri)[0]
    inventory.set_restore_policy([machine.key], "never")
    run(inventory.writes.written())
    database_refuses(services, db_url, True)
    inventory.writes.forget(uri, [machine.uuid])
    qtbot.waitUntil(lambda: inventory.database_away != "", timeout=10000)
    inventory.writes.machine(uri, machine.uuid, machine)
    database_refuses(services, db_url, False)
    qtbot.waitUntil(lambda: inventory.database_away == "", timeout=10000)
    run(inventory.writes.written())
    assert rows(uri)[machine.uuid][2] != "never"  # deleted, then a fresh row: not the old one


@pytest.mark.sqlite_only
def test_a_write_the_database_rejects_is_dropped_alone_and_said(qtbot, run, services, outage_host, caplog):
    """A mistake in what is written (here a real trigger of the database rejects one desired
    state) is not retried forever and does not take the other writes with it."""
    uri, _host = outage_host
    inventory = services.inventory
    first, second = inventory.machines_of(uri)[:2]
    services.executors.database.submit(database.execute_sql, (
        "CREATE TRIGGER no_bogus BEFORE UPDATE OF desired_state ON machine WHEN NEW.desired_state = 'bogus' "
        "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END")).result(timeout=10)
    inventory.record_desired(uri, [first.uuid], "bogus")
    inventory.set_restore_policy([second.key], "always")
    run(inventory.writes.written())
    qtbot.waitUntil(lambda: inventory.writes.waiting() == 0, timeout=5000)
    run(inventory.writes.written())
    assert inventory.database_away == ""  # not the place's fault: no "away", no retry
    assert "inventory write for" in caplog.text and "refused by a trigger" in caplog.text
    recorded = rows(uri)
    assert recorded[first.uuid][1] != "bogus" and recorded[second.uuid][2] == "always"
    inventory.record_desired(uri, [first.uuid], "running")  # and later writes still land
    run(inventory.writes.written())
    assert rows(uri)[first.uuid][1] == "running"
