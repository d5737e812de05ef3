"""Evacuating a real host (QEMU, TCG) onto another, each daemon in its own network namespace.

Two tiny guests leave host ma for mb through the migration service's one migrate path; a
failure in the middle (a name taken on the destination after the plan) is undone by
migrating back (*move back*) or leaves that one machine where it was (*keep going*). Every
test ends with each guest on exactly one host, checked on both daemons.
"""
from __future__ import annotations

import pytest

from ecp_desktop.services.maintenance import mark
from ecp_desktop.services.maintenance.evacuate import EvacuationService, stayed
from ecp_desktop.services.maintenance.return_home import ReturnHome

from ..helpers import TINY_XML
from .guests import clear_host, open_admin, tiny_guest_xml, where_is

pytestmark = pytest.mark.lab
GUESTS = {"evac-big": ("c0ffee00-0000-4000-8000-0000000000e1", 96),
          "evac-small": ("c0ffee00-0000-4000-8000-0000000000e2", 64)}


def _guest_xml(name: str) -> str:
    uuid, mib = GUESTS[name]
    return tiny_guest_xml(name, uuid, mib)


@pytest.fixture
def pair(lab_pair, services, run, qtbot):
    a, b = lab_pair
    for uri in (a.tcp_uri, b.tcp_uri):
        clear_host(uri)
    admin = open_admin(a.tcp_uri)
    for name in GUESTS:
        admin.defineXML(_guest_xml(name)).create()
    admin.close()
    for uri in (a.tcp_uri, b.tcp_uri):
        host = services.inventory.add_host(uri)
        assert run(services.inventory.connect_host(host)), host.reason
        run(services.inventory.load_host(host))
    qtbot.waitUntil(lambda: all((a.tcp_uri, uuid) in services.inventory.machines for uuid, _ in GUESTS.values()),
                    timeout=5000)
    try:
        yield a, b
    finally:
        for uri in (a.tcp_uri, b.tcp_uri):
            clear_host(uri)


def _plan(services, run, a, b):
    evacuation = EvacuationService(services.migrations)
    plan = run(evacuation.plan(a.tcp_uri, [b.tcp_uri]), timeout=30)
    assert plan.possible, [m.reason for m in plan.refused]
    assert [m.machine.name for m in plan.moves] == ["evac-big", "evac-small"]  # largest memory first
    assert {m.destination for m in plan.moves} == {b.tcp_uri}
    return evacuation, plan


def _in_maintenance(services, uri) -> bool:
    return services.executors.database.submit(mark.mark_of, uri).result() is not None


def test_two_guests_leave_the_host_and_each_runs_on_exactly_one_host(pair, services, run):
    a, b = pair
    evacuation, plan = _plan(services, run, a, b)
    outcome = run(evacuation.run(plan, parallel=2), timeout=120)
    assert outcome.task.status == "succeeded", outcome.task.outcome
    assert outcome.done and all(w.now_on == [b.tcp_uri] for w in outcome.machines)
    for uuid, _mib in GUESTS.values():
        assert where_is(uuid, a.tcp_uri, b.tcp_uri) == {b.tcp_uri: "running"}
    assert _in_maintenance(services, a.tcp_uri)


def _name_taken_on(b, name: str) -> None:
    """Another machine of that name appears on the destination after the plan: its migration fails."""
    conn = open_admin(b.tcp_uri)
    conn.defineXML(TINY_XML.replace("tiny1", name).replace("c0ffee00-0000-4000-8000-000000000001",
                                                           "c0ffee00-0000-4000-8000-0000000000ee"))
    conn.close()


def test_a_failure_with_move_back_brings_the_moved_guest_back(pair, services, run):
    a, b = pair
    evacuation, plan = _plan(services, run, a, b)
    _name_taken_on(b, "evac-small")
    outcome = run(evacuation.run(plan, policy="move-back", parallel=1), timeout=180)
    assert outcome.task.status == "failed", outcome.task.outcome
    assert "moved evac-big back to the source" in outcome.task.outcome
    for uuid, _mib in GUESTS.values():
        assert where_is(uuid, a.tcp_uri, b.tcp_uri) == {a.tcp_uri: "running"}
    assert not outcome.done and all(w.now_on == [a.tcp_uri] for w in outcome.machines)
    assert not outcome.maintenance and not _in_maintenance(services, a.tcp_uri)


def test_a_failure_with_keep_going_leaves_that_guest_and_moves_the_other(pair, services, run):
    a, b = pair
    evacuation, plan = _plan(services, run, a, b)
    _name_taken_on(b, "evac-small")
    outcome = run(evacuation.run(plan, policy="keep-going", parallel=1), timeout=180)
    assert stayed(outcome.task) == ["evac-small"]
    assert where_is(GUESTS["evac-big"][0], a.tcp_uri, b.tcp_uri) == {b.tcp_uri: "running"}
    assert where_is(GUESTS["evac-small"][0], a.tcp_uri, b.tcp_uri) == {a.tcp_uri: "running"}
    assert not outcome.done and outcome.maintenance
    assert {w.name: w.now_on for w in outcome.machines} == {"evac-big": [b.tcp_uri], "evac-small": [a.tcp_uri]}

    # Exit Maintenance with the machines back: only the one that moved goes home.
    return_home = ReturnHome(evacuation)
    back = run(return_home.plan(a.tcp_uri), timeout=60)
    assert [(r.name, r.now_on, r.moves) for r in back.returns] == [("evac-big", b.tcp_uri, True)], back.as_json()
    root = run(return_home.leave(a.tcp_uri, back), timeout=180)
    assert root.status == "succeeded", root.outcome
    for uuid, _mib in GUESTS.values():
        assert where_is(uuid, a.tcp_uri, b.tcp_uri) == {a.tcp_uri: "running"}
    assert not _in_maintenance(services, a.tcp_uri)


def test_the_command_line_evacuates_and_says_where_each_guest_is(pair, db_url):
    import json
    import subprocess
    import sys
    a, b = pair
    done = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", a.tcp_uri,
                           "--connect", b.tcp_uri, "evacuate", a.tcp_uri, "--to", b.tcp_uri, "--parallel", "2",
                           "--json"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["exit"] == 0 and report["task"]["status"] == "succeeded" and report["maintenance"] is True
    assert {m["machine"]: m["now_on"] for m in report["machines"]} == {name: [b.tcp_uri] for name in GUESTS}
    for uuid, _mib in GUESTS.values():
        assert where_is(uuid, a.tcp_uri, b.tcp_uri) == {b.tcp_uri: "running"}
    again = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", a.tcp_uri,
                            "--connect", b.tcp_uri, "evacuate", a.tcp_uri, "--check-only"],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "nothing to move" in again.stdout, again.stderr
    home = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", a.tcp_uri,
                           "--connect", b.tcp_uri, "maintenance", a.tcp_uri, "off", "--return", "--json"],
                          capture_output=True, text=True, timeout=180)
    assert home.returncode == 0, home.stderr
    report = json.loads(home.stdout)
    assert sorted(m["machine"] for m in report["plan"]["machines"]) == sorted(GUESTS)
    assert report["task"]["status"] == "succeeded" and report["maintenance"] is False
    for uuid, _mib in GUESTS.values():
        assert where_is(uuid, a.tcp_uri, b.tcp_uri) == {a.tcp_uri: "running"}
