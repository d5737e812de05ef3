"""The inventory on a real PostgreSQL server: schema, upserts, task history, the CLI.

Needs ECP_TEST_POSTGRES_URL (test.sh starts a private server and sets it). In CI a
missing server is a failure, not a skip.
"""
import json
import subprocess
import sys

import pytest

from ecp_desktop.models import upgrades, schema
from ecp_desktop.services.inventory import store
from ecp_desktop.services.inventory.machines import MachineInfo
from ecp_desktop.testing.inventory import set_up_inventory

from ..helpers import LAB_URI

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(pg_url):
    db = set_up_inventory(pg_url)  # as setup leaves it: the inventory records machines only after it
    yield db
    db.close()


def test_schema_migrates_on_postgresql(pg):
    with pg.connection_context():
        assert upgrades.current_version(pg) == upgrades.LATEST_VERSION
        assert {"host", "machine", "task", "setting", "schema_version"} <= set(pg.get_tables())
        assert upgrades.upgrade(pg) == []


def test_inventory_writes_and_queries_on_postgresql(pg):
    host_id = store.ensure_host("test:///pg", "pg", False)
    assert store.ensure_host("test:///pg", "pg", False) == host_id
    rows = [MachineInfo("test:///pg", f"u{i}", f"m{i}", "running", 1, 1024) for i in range(900)]
    store.replace_host_machines(host_id, rows)
    store.replace_host_machines(host_id, rows[:899] + [MachineInfo("test:///pg", "u0", "renamed", "shutoff")])
    with pg.connection_context():
        assert schema.Machine.select().count() == 900
        assert schema.Machine.get(schema.Machine.uuid == "u0").name == "renamed"
        assert schema.Machine.get(schema.Machine.uuid == "u899").missing
    store.set_setting("k", "v1")
    store.set_setting("k", "v2")
    assert store.get_setting("k") == "v2"


def test_app_services_record_tasks_on_postgresql(pg, qtbot, run, event_loop_qt):
    from ecp_desktop.services.composition import build_services
    services = build_services()
    try:
        host = services.inventory.add_host(LAB_URI)
        assert run(services.inventory.connect_host(host))
        qtbot.waitUntil(lambda: len(services.inventory.machines) == 4, timeout=5000)
        stopped = next(m for m in services.inventory.machines.values() if m.name == "stopped01")
        assert run(services.lifecycle.apply("start", stopped)).status == "succeeded"
        services.executors.database.submit(lambda: None).result()
        with pg.connection_context():
            assert schema.Task.get(schema.Task.title == "Start stopped01").status == "succeeded"
            assert schema.Machine.select().count() == 4
    finally:
        services.shutdown()


def test_cli_on_postgresql(pg_url):
    result = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", pg_url, "--connect", LAB_URI,
                             "machines", "--json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 4


def test_setup_on_postgresql_from_version_1_imports_long_and_unicode_names(pg_url, tmp_path):
    """A version-1 inventory (issue 2's schema) is upgraded by setup, then import runs."""
    from ecp_desktop.models.db import open_database
    from ecp_desktop.services.setup.pipeline import HookRegistry
    from ecp_desktop.services.setup.steps import SetupOptions, run_setup

    from ..helpers.zoo import LONG_NAME, ZOO, write_zoo
    db = open_database(pg_url)
    with db.connection_context():
        upgrades.STEPS[0][2](db)  # what version 1 created, recorded as such
        db.create_tables([schema.SchemaVersion])
        schema.SchemaVersion.create(version=1, name="initial")
    uri = write_zoo(tmp_path / "zoo.xml")
    try:
        report = run_setup(SetupOptions(connections=[uri], local_uri="test:///default"), hooks=HookRegistry())
        assert report.ok, report.outcomes
        assert "applied steps 2, 3" in report.outcomes[0].message
        with db.connection_context():
            names = {m.name for m in schema.Machine.select()}
        assert names == set(ZOO) and LONG_NAME in names
        again = run_setup(SetupOptions(connections=[uri], local_uri="test:///default"), hooks=HookRegistry())
        assert again.imports[0].unchanged == len(ZOO)
    finally:
        db.close()
