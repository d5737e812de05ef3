"""Operations on one machine are serialized across app instances on one inventory (issue 7):
another process holding a machine's lock makes this instance's action wait for it, or
fail in words when it waits too long; the machine is untouched meanwhile."""
from __future__ import annotations

import subprocess
import sys
import time

from ecp_desktop.services.sharing import machine_locks

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


def hold(db_url, machine, seconds):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, db_url, URI, machine.uuid, str(seconds)],
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
