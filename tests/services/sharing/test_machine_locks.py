"""Operations on one machine are serialized across app instances on one inventory (issue 7):
another process holding a machine's lock makes this instance's action wait for it, or
fail in words when it waits too long; the machine is untouched meanwhile."""
from __future__ import annotations

import subprocess
import sys
import time

from ecp_desktop.services.actions.restore import Candidate
from ecp_desktop.services.sharing import machine_locks
from ecp_desktop.services.tasks.engine import Group, Step
from ecp_desktop.services.tasks.records import FAILED, ROLLBACK_FAILED, SUCCEEDED

from ...helpers import LAB_URI, TEMPLATE_URI, TPL_UUID

URI = "test:///default"
HOLDER = """
import sys, time
from ecp_desktop.services.sharing import machine_locks
from ecp_desktop.services.setup.startup import open_inventory
open_inventory(sys.argv[1])
with machine_locks.held(sys.argv[2], sys.argv[3], timeout=5):
    print("held", flush=True)
    time.sleep(float(sys.argv[4]))
"""


def hold(db_url, machine, seconds, uri=URI, uuid=None):
    """Another process that holds the machine's lock for ``seconds`` (a real second instance)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, db_url, uri, uuid or machine.uuid, str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def loaded(services, run):
    host = services.inventory.add_host(URI)
    assert run(services.inventory.connect_host(host))
    run(services.inventory.load_host(host))
    return services.inventory.machines_of(URI)[0], host


def state(run, host, uuid):
    return run(host.call(lambda conn: conn.lookupByUUIDString(uuid).state()[0]))


def test_an_action_waits_for_another_instance_operating_on_the_machine(services, run, db_url):
    machine, host = loaded(services, run)
    holder = hold(db_url, machine, 1.5)
    held_at = time.monotonic()
    try:
        record = run(services.lifecycle.apply("pause", machine), timeout=20)
    finally:
        holder.wait(timeout=10)
        holder.stdout.close()
    assert record.status == "succeeded"
    assert time.monotonic() - held_at >= 1.2  # it went after the other instance, not beside it
    assert state(run, host, machine.uuid) == 3  # paused
    run(host.call(lambda conn: conn.lookupByUUIDString(machine.uuid).resume()))  # test:///default is shared


def test_an_action_that_waits_too_long_fails_in_words_and_changes_nothing(services, run, db_url, monkeypatch):
    monkeypatch.setattr(machine_locks, "WAIT_SECONDS", 0.5)
    machine, host = loaded(services, run)
    before = state(run, host, machine.uuid)
    action = "pause" if before == 1 else "resume"  # test:///default's state is shared within a process
    holder = hold(db_url, machine, 4)
    try:
        record = run(services.lifecycle.apply(action, machine), timeout=20)
        assert record.status == "failed"
        assert "another app instance has been operating on test" in record.error_message
        assert state(run, host, machine.uuid) == before  # untouched
    finally:
        holder.kill()
        holder.wait(timeout=10)
        holder.stdout.close()
    # The holder is gone (killed: the kernel or the server dropped its lock): the action goes through.
    assert run(services.lifecycle.apply(action, machine), timeout=20).status == "succeeded"


BUSY = "another app instance has been operating on"


def stop_holder(holder):
    holder.kill()
    holder.wait(timeout=10)
    holder.stdout.close()


def lab_machines(services, run):
    host = services.inventory.add_host(LAB_URI)
    assert run(services.inventory.connect_host(host))
    run(services.inventory.load_host(host))
    return {m.name: m for m in services.inventory.machines_of(LAB_URI)}, host


def test_a_bulk_action_waits_per_machine_and_reports_the_busy_one(services, run, db_url, monkeypatch):
    monkeypatch.setattr(machine_locks, "WAIT_SECONDS", 0.5)
    machines, host = lab_machines(services, run)
    holder = hold(db_url, machines["web01"], 5, uri=LAB_URI)
    try:
        steps = run(services.lifecycle.apply_many("pause", [machines["web01"], machines["db01"]]), timeout=20)
    finally:
        stop_holder(holder)
    assert [s.status for s in steps] == [FAILED, SUCCEEDED]
    assert BUSY in steps[0].error_message and steps[0].root().status == FAILED
    assert state(run, host, machines["web01"].uuid) == 1 and state(run, host, machines["db01"].uuid) == 3


def test_restore_starts_through_the_lock(services, run, db_url, monkeypatch):
    from ecp_desktop.services.config import approved_hosts
    approved_hosts.approve([LAB_URI])  # this user's own host: restore may connect to it
    monkeypatch.setattr(machine_locks, "WAIT_SECONDS", 0.5)
    machines, host = lab_machines(services, run)
    stopped = machines["stopped01"]
    holder = hold(db_url, stopped, 5, uri=LAB_URI)
    try:
        report = run(services.restore.run({LAB_URI: [Candidate(LAB_URI, stopped.uuid, stopped.name)]}), timeout=20)
    finally:
        stop_holder(holder)
    (result,) = report.results
    assert result.outcome == "failed" and BUSY in str(result.error)
    assert state(run, host, stopped.uuid) == 5  # still shut off
    report = run(services.restore.run({LAB_URI: [Candidate(LAB_URI, stopped.uuid, stopped.name)]}), timeout=20)
    assert report.results[0].outcome == "started" and state(run, host, stopped.uuid) == 1


def test_a_template_flow_step_waits_for_the_lock_and_is_rolled_back(services, run, db_url, monkeypatch):
    monkeypatch.setattr(machine_locks, "WAIT_SECONDS", 0.5)
    host = services.inventory.add_host(TEMPLATE_URI)
    assert run(services.inventory.connect_host(host))
    run(services.inventory.load_host(host))
    flow = run(services.templates.plan(TEMPLATE_URI, TPL_UUID, 1, "locked-{n}"))
    new_uuid = flow.children[0].target_uuid
    holder = hold(db_url, None, 5, uri=TEMPLATE_URI, uuid=new_uuid)
    try:
        root = run(services.templates.run(flow), timeout=30)
    finally:
        stop_holder(holder)
    assert root.status == FAILED and BUSY in root.error_message
    names = run(host.call(lambda conn: {d.name() for d in conn.listAllDomains()}))
    assert "locked-1" not in names


def test_an_undo_waits_for_the_lock_and_says_what_it_left(services, run, db_url, monkeypatch):
    monkeypatch.setattr(machine_locks, "WAIT_SECONDS", 0.5)
    machines, host = lab_machines(services, run)
    web = machines["web01"]
    was = run(host.call(lambda conn: conn.lookupByUUIDString(web.uuid).autostart()))
    flow = Group("lock_test", "Autostart web01", children=[
        Step("set_autostart", "Autostart web01", {"uuid": web.uuid, "name": web.name, "value": not was},
             LAB_URI, web.uuid, web.name)])
    root = run(services.engine.run(flow), timeout=20)
    assert root.status == SUCCEEDED
    holder = hold(db_url, web, 5, uri=LAB_URI)
    try:
        # what crash recovery and Cancel do: undo what ran; the undo waits for the lock, then fails
        run(services.engine.rollback(root, "undo for the test"), timeout=20)
    finally:
        stop_holder(holder)
    assert root.status == ROLLBACK_FAILED and "autostart of web01" in root.summary
    assert run(host.call(lambda conn: conn.lookupByUUIDString(web.uuid).autostart())) == (not was)


def test_a_migration_step_holds_the_lock_before_it_asks_libvirt(services, run, db_url, monkeypatch):
    monkeypatch.setattr(machine_locks, "WAIT_SECONDS", 0.5)
    machines, host = lab_machines(services, run)
    web = machines["web01"]
    flow = Group("migrate", "Migrate web01", children=[
        Step("migrate_domain", "Migrate web01 (p2p)", {"uuid": web.uuid, "name": web.name, "method": "p2p",
                                                       "destination": "test:///default"}, LAB_URI, web.uuid,
             web.name)])
    holder = hold(db_url, web, 5, uri=LAB_URI)
    try:
        root = run(services.engine.run(flow), timeout=20)
    finally:
        stop_holder(holder)
    step = root.children[0]
    assert step.status == FAILED and BUSY in step.error_message
    assert state(run, host, web.uuid) == 1  # untouched, still running here


def test_the_command_line_action_waits_for_another_instance(db, db_url, tmp_path):
    import libvirt
    conn = libvirt.open(URI)
    uuid = conn.lookupByName("test").UUIDString()
    conn.close()
    holder = hold(db_url, None, 1.5, uuid=uuid)
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", URI,
                               "pause", "test"], capture_output=True, text=True, timeout=60)
    finally:
        holder.wait(timeout=10)
        holder.stdout.close()
    assert done.returncode == 0, done.stderr
    assert "Pause test\tsucceeded" in done.stdout
    assert time.monotonic() - started >= 1.2  # it went after the other instance, not beside it
