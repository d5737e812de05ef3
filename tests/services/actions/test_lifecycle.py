"""Lifecycle actions as tasks: outcome, libvirt's error text on refusal, history in the database."""
import pytest

from ecp_desktop.models import schema
from ecp_desktop.services.actions.lifecycle import ACTIONS, WORKERS_PER_HOST
from ecp_desktop.services.inventory.machines import MachineInfo
from ecp_desktop.testing.hostgen import write_host

from ...helpers import LAB_URI


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


def test_bulk_action_is_one_task_with_a_step_per_machine(qtbot, run, lab):
    chosen = [by_name(lab, name) for name in ("web01", "db01", "paused01")]
    steps = run(lab.lifecycle.apply_many("force_off", chosen))
    assert [s.title for s in steps] == ["Force off web01", "Force off db01", "Force off paused01"]
    assert [s.status for s in steps] == ["succeeded"] * 3
    bulk = steps[0].parent
    assert bulk is not None and bulk.title == "Force off 3 machines" and bulk.children == steps
    assert bulk.status == "succeeded" and bulk.progress == 100 and bulk.outcome == "all 3 done"
    assert [t for t in lab.tasks.tasks if t.parent is None] == [bulk]  # one entry in the task list
    qtbot.waitUntil(lambda: all(m.state == "shutoff" for m in lab.inventory.machines_of(LAB_URI)), timeout=2000)
    lab.executors.database.submit(lambda: None).result()
    with schema.database.connection_context():
        parent = schema.Task.get(schema.Task.id == bulk.db_id)
        children = list(schema.Task.select().where(schema.Task.parent_id == parent.id).order_by(schema.Task.id))
    assert parent.status == "succeeded" and parent.summary == "all 3 done"
    assert [c.title for c in children] == [s.title for s in steps] and {c.status for c in children} == {"succeeded"}


def test_bulk_action_with_failures_says_how_many_and_keeps_the_others(qtbot, run, lab):
    ghost = MachineInfo(LAB_URI, "00000000-0000-0000-0000-000000000009", "ghost", "shutoff")
    steps = run(lab.lifecycle.apply_many("start", [by_name(lab, "web01"), by_name(lab, "stopped01"), ghost]))
    assert [s.status for s in steps] == ["failed", "succeeded", "failed"]  # web01 runs already
    assert "already running" in steps[0].error_message and steps[2].error.code_name == "NO_DOMAIN"
    bulk = steps[0].parent
    assert bulk.status == "failed" and bulk.outcome == "2 of 3 failed; 1 done"
    qtbot.waitUntil(lambda: by_name(lab, "stopped01").state == "running", timeout=2000)


def test_cancelling_a_bulk_action_starts_no_more_steps(qtbot, run, services, tmp_path):
    uri = write_host(tmp_path / "fleet.xml", 150, seed=5)
    host = services.inventory.add_host(uri)
    assert run(services.inventory.connect_host(host))
    run(services.inventory.load_host(host))
    stopped = [m for m in services.inventory.machines_of(uri) if m.state == "shutoff"]
    assert len(stopped) > WORKERS_PER_HOST + 2

    def cancel_after_the_first_step(record) -> None:
        if record.parent is not None and record.finished and record.parent.cancel is not None:
            record.parent.cancel()  # as the tasks pane's Cancel button does
    services.tasks.task_changed.connect(cancel_after_the_first_step)
    steps = run(services.lifecycle.apply_many("start", stopped))
    services.tasks.task_changed.disconnect(cancel_after_the_first_step)
    started = [s for s in steps if s.status == "succeeded"]
    skipped = [s for s in steps if s.status == "cancelled"]
    assert started and len(started) <= WORKERS_PER_HOST and len(started) + len(skipped) == len(steps)
    assert all("not started" in s.error_message for s in skipped)
    bulk = steps[0].parent
    assert bulk.status == "cancelled" and f"{len(skipped)} of {len(steps)} not started" in bulk.outcome
    states = run(host.call(lambda conn: {d.UUIDString(): d.isActive() for d in conn.listAllDomains()}))
    assert all(states[s.target_uuid] for s in started)
    assert not any(states[s.target_uuid] for s in skipped)  # the machines it did not start are still off


def test_action_on_machine_that_vanished_fails_with_no_domain(run, lab):
    machine = by_name(lab, "stopped01")
    host = lab.inventory.hosts[LAB_URI]
    run(host.call(lambda conn: conn.lookupByName("stopped01").undefine()))
    record = run(lab.lifecycle.apply("start", machine))
    assert record.status == "failed" and record.error.code_name == "NO_DOMAIN"
    assert "no longer exists" in record.error_message
