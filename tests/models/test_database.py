"""The inventory database: URLs, schema versions, pragmas and the inventory writes."""
import sqlite3

import peewee
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


class V1StoragePool(schema.BaseModel):
    """ext_storage_pool as the networks-and-pools extension made it before issue 23 (frozen):
    sizes could not be unknown, so a size past a signed 64-bit column stopped the import."""
    host_uri = peewee.CharField()
    uuid = peewee.CharField(max_length=36)
    name = peewee.TextField()
    pool_type = peewee.CharField(default="")
    active = peewee.BooleanField(default=False)
    autostart = peewee.BooleanField(default=False)
    target_path = peewee.TextField(default="")
    capacity = peewee.BigIntegerField(default=0)
    allocation = peewee.BigIntegerField(default=0)
    available = peewee.BigIntegerField(default=0)
    missing = peewee.BooleanField(default=False)
    last_seen_at = peewee.DateTimeField(default=schema.utcnow)

    class Meta:
        table_name = "ext_storage_pool"
        indexes = ((("host_uri", "uuid"), True),)


def test_the_pool_table_of_the_previous_version_is_upgraded_and_keeps_its_rows(fresh_db):
    from ecp_desktop.extensions.networks_pools import SIZES, StoragePool
    from ecp_desktop.services.setup.pipeline import DONE, load_extension_hooks
    from ecp_desktop.services.setup.steps import SetupOptions, run_setup

    from ..helpers import VIRT_MANAGER_URI
    with fresh_db.connection_context():
        upgrades.upgrade(fresh_db)  # the inventory as the previous version left it
        fresh_db.create_tables([V1StoragePool])
        V1StoragePool.create(host_uri=VIRT_MANAGER_URI, uuid="0ld00000-0000-4000-8000-000000000001",
                             name="old-pool", capacity=2**40)
        assert not any(c.null for c in fresh_db.get_columns("ext_storage_pool") if c.name in SIZES)
    options = SetupOptions(connections=[VIRT_MANAGER_URI], local_uri="test:///default")
    for run in range(2):  # the second run finds the table up to date, and upserts on its unique index
        report = run_setup(options, hooks=load_extension_hooks())
        hook = next(o for o in report.outcomes if o.name == "networks-and-pools")
        assert hook.status == DONE and report.problems == [], hook.message
        upgraded = "upgraded its pool table (sizes may be unknown: capacity, allocation, available)"
        assert (upgraded in hook.message) == (run == 0)
    with fresh_db.connection_context():
        assert all(c.null for c in fresh_db.get_columns("ext_storage_pool") if c.name in SIZES)
        old = StoragePool.get(StoragePool.name == "old-pool")
        assert (old.capacity, old.missing) == (2**40, True)  # kept, and marked missing: libvirt has no such pool
        present = StoragePool.select().where((StoragePool.host_uri == VIRT_MANAGER_URI) & ~StoragePool.missing)
        assert present.count() == 16  # (4 of the test file's pools have no <uuid>: a new one at each open)
        scsi = present.where(StoragePool.name == "pool-scsi").get()
        assert (scsi.capacity, scsi.available) == (107374182400, None)
