"""The inventory database: URLs, schema versions, pragmas and the inventory writes."""
import sqlite3

import pytest

from ecp_desktop.models import upgrades, schema
from ecp_desktop.models.db import DatabaseUrlError
from ecp_desktop.services.inventory import store
from ecp_desktop.services.inventory.machines import MachineInfo
from ecp_desktop.services.setup.startup import open_inventory


def machine(uuid: str, name: str, state: str = "running") -> MachineInfo:
    return MachineInfo(host_uri="test:///x", uuid=uuid, name=name, state=state, vcpus=2, memory_kib=1024)


@pytest.mark.parametrize("url, words", [
    ("mysql://u@h/db", "unsupported database URL"),
    ("sqlite://", "no file path"),
    ("postgresql://user@localhost", "names no database"),
])
def test_unusable_urls_are_refused_in_plain_words(url, words):
    with pytest.raises(DatabaseUrlError, match=words):
        open_inventory(url)


def test_a_directory_is_not_a_database(tmp_path):
    with pytest.raises(DatabaseUrlError, match="is a directory"):
        open_inventory(f"sqlite:///{tmp_path}")


def test_a_file_that_is_not_a_database_is_refused_and_kept(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my precious notes\n" * 100)
    with pytest.raises(DatabaseUrlError, match="cannot use the database"):
        open_inventory(f"sqlite:///{notes}")
    assert notes.read_text() == "my precious notes\n" * 100


def test_schema_is_created_once_and_versioned(tmp_path):
    url = f"sqlite:///{tmp_path / 'inv.sqlite3'}"
    db = open_inventory(url)
    with db.connection_context():
        assert upgrades.current_version(db) == upgrades.LATEST_VERSION
        assert {"host", "machine", "task", "setting", "schema_version"} <= set(db.get_tables())
        assert upgrades.upgrade(db) == []  # a second run applies nothing
        assert schema.SchemaVersion.select().count() == len(upgrades.STEPS)
    db.close()


def test_newer_schema_than_the_app_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'inv.sqlite3'}"
    db = open_inventory(url)
    with db.connection_context():
        schema.SchemaVersion.create(version=upgrades.LATEST_VERSION + 5, name="from the future")
        with pytest.raises(RuntimeError, match="newer than this app knows"):
            upgrades.upgrade(db)
    db.close()


@pytest.mark.sqlite_only
def test_sqlite_runs_in_wal_mode_with_foreign_keys(db):
    with db.connection_context():
        assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1


def test_listing_upserts_by_uuid_and_marks_vanished_machines_missing(db):
    host_id = store.ensure_host("test:///x", "x", False)
    store.replace_host_machines(host_id, [machine("u1", "web"), machine("u2", "db")])
    store.replace_host_machines(host_id, [machine("u1", "web-renamed", "shutoff")])
    with db.connection_context():
        rows = {m.uuid: m for m in schema.Machine.select()}
    assert len(rows) == 2
    assert rows["u1"].name == "web-renamed" and rows["u1"].state == "shutoff" and not rows["u1"].missing
    assert rows["u2"].missing, "a vanished machine is kept, marked missing"
    store.replace_host_machines(host_id, [machine("u1", "web-renamed"), machine("u2", "db")])
    with db.connection_context():
        assert not schema.Machine.get(schema.Machine.uuid == "u2").missing


def test_large_listing_is_written_in_chunks(db):
    host_id = store.ensure_host("test:///big", "big", False)
    store.replace_host_machines(host_id, [machine(f"u{i}", f"m{i}") for i in range(2500)])
    with db.connection_context():
        assert schema.Machine.select().where(schema.Machine.host == host_id).count() == 2500


@pytest.mark.sqlite_only
def test_the_database_file_is_plain_sqlite(db_url, db):
    path = db_url.removeprefix("sqlite:///")
    store.ensure_host("test:///x", "x", False)
    with sqlite3.connect(path) as raw:
        assert raw.execute("select uri from host where uri = 'test:///x'").fetchall() == [("test:///x",)]
