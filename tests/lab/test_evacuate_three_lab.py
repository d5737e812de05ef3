"""Evacuating a host onto two others, three real daemons (QEMU, TCG) in their own network
namespaces: the plan spreads the guests; a destination that dies in the middle is handled by
the policy (*move back*: every guest back on the source; *keep going*: the others stay where
they went); the app killed in the middle is recovered by the next start. Every test ends
with each guest on exactly one of the hosts that answer.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from ecp_desktop.services.core.aio import spawn
from ecp_desktop.services.maintenance.evacuate import EvacuationService, stayed

from ..helpers import query
from .conftest import networked_hosts
from .guests import clear_host, open_admin, tiny_guest_xml, where_is

pytestmark = pytest.mark.lab
GUESTS = {"tri-a": ("c0ffee00-0000-4000-8000-0000000003a1", 96), "tri-b": ("c0ffee00-0000-4000-8000-0000000003a2", 80),
          "tri-c": ("c0ffee00-0000-4000-8000-0000000003a3", 64), "tri-d": ("c0ffee00-0000-4000-8000-0000000003a4", 48)}


@pytest.fixture(scope="module")
def trio():
    with networked_hosts("ecp-tri-", (("ta", "10.98.0.41"), ("tb", "10.98.0.42"), ("tc", "10.98.0.43"))) as hosts:
        yield hosts


@pytest.fixture
def three(trio, services, run, qtbot):
    """The guests running on ta; the app connected to all three."""
    a, b, c = trio
    for host in trio:
        host.start()  # again after a test killed it (a no-op when it runs)
        clear_host(host.tcp_uri)
    admin = open_admin(a.tcp_uri)
    for name, (uuid, mib) in GUESTS.items():
        admin.defineXML(tiny_guest_xml(name, uuid, mib)).create()
    admin.close()
    for host in trio:
        connection = services.inventory.add_host(host.tcp_uri)
        assert run(services.inventory.connect_host(connection)), connection.reason
        run(services.inventory.load_host(connection))
    qtbot.waitUntil(lambda: len(services.inventory.machines_of(a.tcp_uri)) == len(GUESTS), timeout=5000)
    yield a, b, c
    for host in trio:
        host.start()
        clear_host(host.tcp_uri)


def _plan(services, run, a, b, c):
    evacuation = EvacuationService(services.migrations)
    plan = run(evacuation.plan(a.tcp_uri, [b.tcp_uri, c.tcp_uri]), timeout=60)
    assert plan.possible, [m.reason for m in plan.refused]
    assert [m.machine.name for m in plan.moves] == list(GUESTS)  # largest memory first
    return evacuation, plan


def _only_on_one(uris: list[str]) -> dict[str, list[str]]:
    """{guest: hosts that have it}, asserting none is on two."""
    found = {name: sorted(where_is(uuid, *uris)) for name, (uuid, _mib) in GUESTS.items()}
    assert all(len(on) <= 1 for on in found.values()), found
    return found


def test_the_plan_spreads_the_guests_over_both_destinations_and_each_runs_once(three, services, run):
    a, b, c = three
    evacuation, plan = _plan(services, run, a, b, c)
    assert {m.destination for m in plan.moves} == {b.tcp_uri, c.tcp_uri}
    outcome = run(evacuation.run(plan, parallel=2), timeout=240)
    assert outcome.done, outcome.task.outcome
    found = _only_on_one([a.tcp_uri, b.tcp_uri, c.tcp_uri])
    assert found == {m.machine.name: [m.destination] for m in plan.moves}


def _kill_destination_mid_run(services, run, qtbot, policy: str, three):
    """tc stops answering once the run starts (its daemon frozen), then dies with its guests
    while tb receives its share: the migrations to tc fail."""
    a, b, c = three
    evacuation, plan = _plan(services, run, a, b, c)
    to_b = [m.machine.uuid for m in plan.moves if m.destination == b.tcp_uri]
    c.hang()
    job = spawn(evacuation.run(plan, policy=policy, parallel=1))
    qtbot.waitUntil(lambda: all(b.tcp_uri in where_is(uuid, b.tcp_uri) for uuid in to_b), timeout=180_000)
    c.crash_host()
    qtbot.waitUntil(job.done, timeout=240_000)
    return plan, job.result(), to_b


def test_a_destination_that_dies_with_move_back_leaves_every_guest_on_the_source(three, services, run, qtbot):
    a, b, c = three
    plan, outcome, _to_b = _kill_destination_mid_run(services, run, qtbot, "move-back", three)
    assert outcome.task.status == "failed", outcome.task.outcome
    found = _only_on_one([a.tcp_uri, b.tcp_uri])  # tc is down: what it had died with it
    assert found == {name: [a.tcp_uri] for name in GUESTS}, found
    assert not outcome.maintenance


def test_a_destination_that_dies_with_keep_going_leaves_the_others_where_they_went(three, services, run, qtbot):
    a, b, c = three
    plan, outcome, to_b = _kill_destination_mid_run(services, run, qtbot, "keep-going", three)
    found = _only_on_one([a.tcp_uri, b.tcp_uri])
    for move in plan.moves:
        expected = [b.tcp_uri] if move.machine.uuid in to_b else [a.tcp_uri]
        assert found[move.machine.name] == expected, (move.machine.name, found)
    assert sorted(stayed(outcome.task)) == sorted(m.machine.name for m in plan.moves if m.machine.uuid not in to_b)
    assert outcome.maintenance and not outcome.done


def test_the_app_killed_mid_evacuation_is_recovered_at_the_next_start(three, db_url, qtbot):
    """A `kill -9` of the evacuating process while migrations run; the next command's start
    recovers the flow: each guest ends on exactly one host, none lost, and what had moved
    stays where it is (a recovery nobody asked for never migrates back by itself); Retry
    Rollback (``tasks retry``) then moves them back."""
    a, b, c = three
    args = [sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", a.tcp_uri, "--connect", b.tcp_uri,
            "--connect", c.tcp_uri]
    evacuating = subprocess.Popen([*args, "evacuate", a.tcp_uri, "--parallel", "1"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        # The first guest has arrived somewhere: the others are still to go, or in flight.
        qtbot.waitUntil(lambda: any(where_is(uuid, b.tcp_uri, c.tcp_uri) for uuid, _ in GUESTS.values()),
                        timeout=120_000)
    finally:
        os.killpg(evacuating.pid, signal.SIGKILL)
        evacuating.wait(timeout=30)
    # The next start recovers what the dead process had in flight: each guest settled on one host.
    recovered = subprocess.run([*args, "finish-interrupted", "--json"], capture_output=True, text=True, timeout=300)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    report = json.loads(recovered.stdout)
    [flow] = report["finished"]
    assert flow["title"].startswith("Evacuate "), report
    found = _only_on_one([a.tcp_uri, b.tcp_uri, c.tcp_uri])  # none lost, none on two hosts
    moved = sorted(name for name, on in found.items() if on != [a.tcp_uri])
    assert moved, found  # at least the first guest had arrived before the kill
    assert flow["status"] == "rollback failed" and all(f"{name} not moved back" in flow["outcome"] for name in moved)
    # The user asks: Retry Rollback moves them back.
    [(root_id,)] = query(db_url, "SELECT id FROM task WHERE parent_id IS NULL AND kind = 'evacuate'")
    retried = subprocess.run([*args, "tasks", "retry", str(root_id)], capture_output=True, text=True, timeout=300)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    found = _only_on_one([a.tcp_uri, b.tcp_uri, c.tcp_uri])
    assert found == {name: [a.tcp_uri] for name in GUESTS}, (found, retried.stdout)  # every guest back


def test_stop_letting_running_migrations_finish_moves_no_more_and_aborts_none(three, services, run, qtbot):
    """The dialog's Stop → Let Them Finish (the flow's drain): no new migration starts, the ones
    running end where they were going, and under keep-going what moved stays; each guest is on
    exactly one host and none was aborted half-way."""
    a, b, c = three
    evacuation, plan = _plan(services, run, a, b, c)
    stopped = []

    async def stop_after_the_first_arrival(record, what):  # the user's Stop, as the first guest arrives
        if what == "done" and record.op == "evacuate_domain" and not stopped:
            stopped.append(record.target_name)
            record.root().drain()
    services.engine.listeners.append(stop_after_the_first_arrival)
    job = spawn(evacuation.run(plan, policy="keep-going", parallel=1))
    qtbot.waitUntil(job.done, timeout=240_000)
    outcome = job.result()
    assert outcome.task.status == "cancelled", outcome.task.outcome
    steps = [s for g in outcome.task.children for m in g.children for s in m.children if s.op == "evacuate_domain"]
    assert any(s.status == "cancelled" and s.error_message == "not started" for s in steps)  # no new one started
    assert not any("abort" in (s.error_message or "").lower() for s in steps)  # none aborted half-way
    found = _only_on_one([a.tcp_uri, b.tcp_uri, c.tcp_uri])
    assert all(len(on) == 1 for on in found.values()), found
    moved = {name for name, on in found.items() if on != [a.tcp_uri]}
    assert moved and len(moved) < len(GUESTS), found
