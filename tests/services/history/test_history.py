"""A machine's definition history on the test driver: an Edit Hardware flow records a version
by this app (its task, its operator), a definition changed outside the app is recorded as such
at the next import, a definition read again (or laid out differently) adds nothing, the diff
shows the changed line, retention trims, and an inventory at version 9 is upgraded to 10."""
import getpass
import json
import os
import socket

import libvirt
import pytest

from ecp_desktop.models import schema, upgrades
from ecp_desktop.models.db import database
from ecp_desktop.services.hardware.changes import ChangeSet
from ecp_desktop.services.hardware.service import HardwareService
from ecp_desktop.services.history import versions as history
from ecp_desktop.services.inventory import store
from ecp_desktop.services.inventory.definitions import record_found
from ecp_desktop.services.inventory.importer import import_host

from ..hardware.test_hardware import HOST_XML, OFF01, machine

INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE


@pytest.fixture
def host_uri(tmp_path):
    """Edit Hardware's test host: run01 running, off01 (256 MiB, disks vda and vdb) shut off."""
    path = tmp_path / "hardware.xml"
    path.write_text(HOST_XML)
    return f"test://{path}"


@pytest.fixture
def conn(host_uri):
    """A connection of the test's own: what it defines is a change made outside the app."""
    libvirt.registerErrorHandler(lambda *_: None, None)
    connection = libvirt.open(host_uri)
    yield connection
    connection.close()


@pytest.fixture
def host(qtbot, run, services, host_uri):
    connected = services.inventory.add_host(host_uri)
    assert run(services.inventory.connect_host(connected))
    qtbot.waitUntil(lambda: len(services.inventory.machines_of(host_uri)) == 2, timeout=5000)
    return connected


def on_db(services, fn, *args):
    return services.executors.database.submit(fn, *args).result()


def test_an_edit_hardware_flow_records_a_version_by_this_app(run, services, host, host_uri):
    first = run(host.call(lambda c: c.lookupByUUIDString(OFF01).XMLDesc(INACTIVE)))
    on_db(services, record_found, host_uri, OFF01, first)
    hardware = HardwareService(services.inventory, services.engine)
    planned = run(hardware.plan(machine(services, host_uri, "off01"), ChangeSet(memory_mib=512, max_memory_mib=512)))
    outcome = run(hardware.run(planned))
    assert outcome.applied, outcome.record.outcome
    newest, imported = on_db(services, history.versions, host_uri, OFF01)
    assert (imported.number, imported.origin, imported.summary) == (1, history.IMPORTED, "first definition")
    assert (newest.number, newest.origin) == (2, history.APP)
    assert newest.summary == "memory 256 MiB → 512 MiB"
    assert newest.task_id == outcome.record.db_id  # the flow in the tasks pane
    assert newest.by.startswith(getpass.getuser() + "@")
    assert newest.origin_text() == (f"this app (task {newest.task_id}, by {getpass.getuser()} on "
                                    f"{socket.gethostname()} (process {os.getpid()}))")
    assert '+  <memory unit="KiB">524288</memory>' in on_db(services, history.diff_with_previous, newest.id)


def test_a_definition_changed_outside_the_app_is_recorded_at_the_next_import(db, conn, host_uri):
    host_id = store.ensure_host(host_uri, "", False)
    assert import_host(conn, host_id, host_uri).added == 2
    (imported,) = history.versions(host_uri, OFF01)
    assert imported.origin == history.IMPORTED
    # Outside the app (as `virsh edit` would): a second disk target renamed, the memory doubled.
    xml = conn.lookupByUUIDString(OFF01).XMLDesc(INACTIVE)
    conn.defineXML(xml.replace("<memory unit='KiB'>262144</memory>", "<memory unit='KiB'>524288</memory>")
                   .replace("dev='vdb'", "dev='vdc'"))
    assert import_host(conn, host_id, host_uri).updated == 1
    outside, first = history.versions(host_uri, OFF01)
    assert first == imported
    assert (outside.number, outside.origin, outside.task_id, outside.by) == (2, history.OUTSIDE, None, "")
    assert outside.summary == "maximum memory 256 MiB → 512 MiB; disk vdc added; disk vdb removed"
    changed = history.diff(first.id, outside.id)
    assert changed.startswith("--- version 1\n+++ version 2\n")
    assert '-  <memory unit="KiB">262144</memory>' in changed and '+  <memory unit="KiB">524288</memory>' in changed
    # Read again unchanged: nothing more.
    assert import_host(conn, host_id, host_uri).unchanged == 2
    assert len(history.versions(host_uri, OFF01)) == 2


def test_a_definition_read_before_a_flow_recorded_a_newer_one_is_not_recorded_after_it(db, conn, host_uri):
    host_id = store.ensure_host(host_uri, "", False)
    import_host(conn, host_id, host_uri)
    read_after = history.newest_digests(host_uri, [OFF01, "no-such-machine"])
    assert list(read_after) == [OFF01]
    stale = conn.lookupByUUIDString(OFF01).XMLDesc(INACTIVE).replace("</uuid>", "</uuid><title>by hand</title>")
    history.record(host_uri, OFF01, stale.replace("by hand", "by a flow"), history.APP, task_id=7)
    assert history.record_found_many(host_uri, [(OFF01, stale)], read_after=read_after) == 0
    assert [v.origin for v in history.versions(host_uri, OFF01)] == [history.APP, history.IMPORTED]
    assert history.record_found_many(host_uri, [(OFF01, stale)],
                                     read_after=history.newest_digests(host_uri, [OFF01])) == 1


def test_the_same_definition_laid_out_differently_is_recorded_once(db, conn, host_uri):
    host_id = store.ensure_host(host_uri, "", False)
    import_host(conn, host_id, host_uri)
    xml = conn.lookupByUUIDString(OFF01).XMLDesc(INACTIVE)
    shuffled = xml.replace("<disk type='file' device='disk'>", "<disk device='disk'   type='file'>").replace(
        "\n  ", "\n      ")
    assert shuffled != xml
    assert history.record(host_uri, OFF01, shuffled, history.APP) is None
    assert record_found(host_uri, OFF01, xml) is None
    assert len(history.versions(host_uri, OFF01)) == 1
    with database.connection_context():
        assert schema.DefinitionText.select().count() == 2  # one per machine, each stored once


def test_retention_keeps_the_newest_versions_and_the_young_ones(db, conn, host_uri):
    host_id = store.ensure_host(host_uri, "", False)
    import_host(conn, host_id, host_uri)
    xml = conn.lookupByUUIDString(OFF01).XMLDesc(INACTIVE)
    for title in ("one", "two", "three"):
        edited = xml.replace("</uuid>", f"</uuid><title>{title}</title>")
        assert history.record(host_uri, OFF01, edited, history.APP, keep=2, keep_days=90) is not None
    assert [v.number for v in history.versions(host_uri, OFF01)] == [4, 3, 2, 1]  # all younger than 90 days
    with database.connection_context():
        schema.DefinitionVersion.update(recorded_at=schema.utcnow().replace(year=2000)).execute()
    back = history.record(host_uri, OFF01, xml, history.APP, keep=2, keep_days=90)
    assert [v.number for v in history.versions(host_uri, OFF01)] == [5, 4]
    assert "<title>three</title>" in history.text(history.versions(host_uri, OFF01)[1].id)
    assert "<title>" not in history.text(back.id)
    with database.connection_context():  # the texts no version names any more are gone
        assert schema.DefinitionText.select().count() == 3  # off01's two, run01's one
    with pytest.raises(history.UnknownVersion, match="no definition version"):
        history.text(10_000)


def test_an_inventory_at_version_9_is_upgraded_to_10_and_keeps_its_machines(fresh_db):
    with fresh_db.connection_context():
        fresh_db.create_tables([schema.SchemaVersion])
        for version, name, step in upgrades.STEPS:
            if version <= 9:
                with fresh_db.atomic():
                    step(fresh_db)
                    schema.SchemaVersion.create(version=version, name=name)
        assert "definition_version" not in fresh_db.get_tables()
        host_id = store.ensure_host("test:///old", "old", False)
        schema.Machine.create(host=host_id, uuid=OFF01, name="off01", definition="<domain><name>off01</name></domain>")
        assert upgrades.upgrade(fresh_db) == list(range(10, upgrades.LATEST_VERSION + 1))  # 10, and any later
        assert {"definition_version", "definition_text"} <= set(fresh_db.get_tables())
    assert history.versions("test:///old", OFF01) == []
    first = history.record("test:///old", OFF01, "<domain><name>off01</name></domain>", None)
    assert first.origin == history.IMPORTED and history.text(first.id) == "<domain>\n  <name>off01</name>\n</domain>"


@pytest.fixture
def default_host(qtbot, run, services):
    """test:///default, connected with events: a definition another connection of this
    process makes reaches the app as a libvirt "defined" event. Its machine's definition is
    put back afterwards (the host is shared by the whole process)."""
    own = libvirt.open("test:///default")
    original = own.lookupByName("test").XMLDesc(INACTIVE)
    connected = services.inventory.add_host("test:///default")
    assert run(services.inventory.connect_host(connected))
    qtbot.waitUntil(lambda: len(services.inventory.machines_of("test:///default")) == 1, timeout=5000)
    run(services.inventory.writes.written())
    yield own
    own.defineXML(original)
    own.close()


def test_a_definition_changed_outside_the_app_while_connected_is_recorded_as_outside(
        qtbot, run, services, default_host):
    dom = default_host.lookupByName("test")
    uuid, xml = dom.UUIDString(), dom.XMLDesc(INACTIVE)
    on_db(services, record_found, "test:///default", uuid, xml)
    default_host.defineXML(xml.replace("</uuid>", "</uuid><description>changed by hand</description>"))
    qtbot.waitUntil(lambda: len(on_db(services, history.versions, "test:///default", uuid)) == 2, timeout=5000)
    outside, _imported = on_db(services, history.versions, "test:///default", uuid)
    assert outside.origin == history.OUTSIDE and outside.summary == "definition changed"
    assert "+  <description>changed by hand</description>" in on_db(services, history.diff_with_previous, outside.id)


def test_a_definition_changed_while_the_host_was_disconnected_is_recorded_as_outside_on_reconnect(
        qtbot, run, services, default_host):
    dom = default_host.lookupByName("test")
    uuid, xml = dom.UUIDString(), dom.XMLDesc(INACTIVE)
    on_db(services, record_found, "test:///default", uuid, xml)
    host = services.inventory.hosts["test:///default"]
    run(host.close())  # no "defined" event reaches the app from now on
    default_host.defineXML(xml.replace("</uuid>", "</uuid><description>edited while away</description>"))
    qtbot.wait(200)
    assert len(on_db(services, history.versions, "test:///default", uuid)) == 1
    assert run(services.inventory.connect_host(host))
    qtbot.waitUntil(lambda: len(on_db(services, history.versions, "test:///default", uuid)) == 2, timeout=5000)
    outside, _imported = on_db(services, history.versions, "test:///default", uuid)
    assert outside.origin == history.OUTSIDE
    assert "+  <description>edited while away</description>" in on_db(services, history.diff_with_previous, outside.id)


def test_a_flow_of_the_app_is_not_taken_for_an_outside_change(qtbot, run, services, default_host):
    uuid = default_host.lookupByName("test").UUIDString()
    on_db(services, record_found, "test:///default", uuid, default_host.lookupByName("test").XMLDesc(INACTIVE))
    hardware = HardwareService(services.inventory, services.engine)
    outcome = run(hardware.run(run(hardware.plan(machine(services, "test:///default", "test"),
                                                 ChangeSet(title="edited here")))))
    assert outcome.applied, outcome.record.outcome
    qtbot.wait(300)  # the "defined" event's check has come and gone
    assert [v.origin for v in on_db(services, history.versions, "test:///default", uuid)] == [
        history.APP, history.IMPORTED]


def test_the_history_command_lists_versions_and_shows_a_diff(db, db_url, conn, host_uri):
    from ...cli.test_commands import cli
    host_id = store.ensure_host(host_uri, "", False)
    import_host(conn, host_id, host_uri)
    xml = conn.lookupByUUIDString(OFF01).XMLDesc(INACTIVE)
    conn.defineXML(xml.replace("<memory unit='KiB'>262144</memory>", "<memory unit='KiB'>524288</memory>"))
    import_host(conn, host_id, host_uri)
    listed = cli("history", "off01", db_url=db_url)
    assert listed.returncode == 0, listed.stderr
    header, newest, first = listed.stdout.splitlines()
    assert header.split() == ["VERSION", "RECORDED", "BY", "WHAT", "CHANGED"]
    assert newest.startswith("2") and "changed outside ECP Desktop" in newest
    assert "maximum memory 256 MiB → 512 MiB" in newest
    assert first.startswith("1") and "imported" in first and "first definition" in first
    as_json = json.loads(cli("history", OFF01, "--json", db_url=db_url).stdout)
    assert [(v["number"], v["origin"]) for v in as_json["versions"]] == [(2, "outside"), (1, "imported")]
    diff = cli("history", "off01", "--diff", "2", db_url=db_url)
    assert diff.returncode == 0 and '+  <memory unit="KiB">524288</memory>' in diff.stdout.splitlines()
    same = cli("history", "off01", "--diff", "2", "2", db_url=db_url)
    assert same.stdout == "the two versions are the same\n"
    unknown = cli("history", "off01", "--diff", "7", db_url=db_url)
    assert unknown.returncode == 2 and "has no version 7 (it has versions 1 to 2)" in unknown.stderr
    assert cli("history", "nobody", db_url=db_url).returncode == 2


def test_two_instances_seeing_the_same_change_record_it_once(db, conn, host_uri):
    """Two app instances on a shared inventory both read the changed definition (each its own
    database connection, at the same moment): one version, not one per instance."""
    import threading
    host_id = store.ensure_host(host_uri, "", False)
    import_host(conn, host_id, host_uri)
    changed = conn.lookupByUUIDString(OFF01).XMLDesc(INACTIVE).replace("</uuid>", "</uuid><title>by hand</title>")
    start, results = threading.Barrier(2), []

    def instance():
        start.wait()
        results.append(record_found(host_uri, OFF01, changed))
        database.close()
    threads = [threading.Thread(target=instance) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [v.origin for v in history.versions(host_uri, OFF01)] == [history.OUTSIDE, history.IMPORTED]
    assert sorted(r is None for r in results) == [False, True]


def test_a_rename_is_a_version_by_the_app_that_names_its_task(qtbot, run, services, host, host_uri):
    first = run(host.call(lambda c: c.lookupByUUIDString(OFF01).XMLDesc(INACTIVE)))
    on_db(services, record_found, host_uri, OFF01, first)
    record = run(services.renamer.rename(machine(services, host_uri, "off01"), "db01"))
    assert record.status == "succeeded", record.outcome
    newest = on_db(services, history.versions, host_uri, OFF01)[0]
    assert (newest.number, newest.origin, newest.task_id) == (2, history.APP, record.db_id)
    assert newest.summary == "renamed off01 → db01"
