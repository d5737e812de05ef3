"""Lifecycle actions as tasks: outcome, libvirt's error text on refusal, history in the database."""
import pytest

from ecp_desktop.models import schema
from ecp_desktop.services.lifecycle import ACTIONS

from .conftest import LAB_URI


@pytest.fixture
def lab(qtbot, run, services):
    host = services.inventory.add_host(LAB_URI)
    assert run(services.inventory.connect_host(host))
    qtbot.waitUntil(lambda: len(services.inventory.machines_of(LAB_URI)) == 4, timeout=5000)
    return services


def by_name(services, name):
    return next(m for m in services.inventory.machines_of(LAB_URI) if m.name == name)


@pytest.mark.parametrize("action, name, before, after", [
    ("start", "stopped01", "shutoff", "running"),
    ("force_off", "web01", "running", "shutoff"),
    ("shutdown", "web01", "running", "shutoff"),
    ("pause", "web01", "running", "paused"),
    ("resume", "paused01", "paused", "running"),
    ("reboot", "web01", "running", "running"),
])
def test_action_changes_the_machine_and_is_recorded(qtbot, run, lab, action, name, before, after):
    machine = by_name(lab, name)
    assert machine.state == before
    record = run(lab.lifecycle.apply(action, machine))
    assert record.status == "succeeded", record.error_message
    assert record.title == f"{ACTIONS[action].verb} {name}" and record.duration is not None
    qtbot.waitUntil(lambda: by_name(lab, name).state == after, timeout=2000)
    lab.executors.database.submit(lambda: None).result()
    with schema.database.connection_context():
        row = schema.Task.get(schema.Task.title == record.title)
    assert row.status == "succeeded" and row.finished_at is not None and row.host_uri == LAB_URI


def test_refused_action_keeps_libvirts_error_text(run, lab):
    record = run(lab.lifecycle.apply("start", by_name(lab, "web01")))  # already running
    assert record.status == "failed"
    assert "already running" in record.error_message
    assert record.error.code is not None and record.error.operation == "start"
    assert record.error.host_uri == LAB_URI and record.error.machine == "web01"
    lab.executors.database.submit(lambda: None).result()
    with schema.database.connection_context():
        row = schema.Task.get(schema.Task.id == record.db_id)
    assert row.status == "failed" and "already running" in row.error_message and row.error_code == record.error.code


def test_bulk_action_runs_one_task_per_machine(qtbot, run, lab):
    running = [m for m in lab.inventory.machines_of(LAB_URI) if m.state == "running"]
    records = run(lab.lifecycle.apply_many("force_off", running))
    assert [r.status for r in records] == ["succeeded"] * len(running)
    qtbot.waitUntil(lambda: all(m.state == "shutoff" for m in lab.inventory.machines_of(LAB_URI)
                                if m.name != "paused01"), timeout=2000)
    assert len(lab.tasks.tasks) == len(running)


def test_action_on_machine_that_vanished_fails_with_no_domain(run, lab):
    machine = by_name(lab, "stopped01")
    host = lab.inventory.hosts[LAB_URI]
    run(host.call(lambda conn: conn.lookupByName("stopped01").undefine()))
    record = run(lab.lifecycle.apply("start", machine))
    assert record.status == "failed" and record.error.code_name == "NO_DOMAIN"
    assert "no longer exists" in record.error_message
