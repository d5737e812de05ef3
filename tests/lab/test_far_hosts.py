"""Far hosts (issue 19): two lab hosts with 50 ms added each way on their links (scripts/lab.sh
delay, fixture far_pair), reached over TCP as a remote host is.

Listing a host takes a number of round trips (listing time / RTT) that does not grow with its
machine count: 200 machines take no more than 20 do, plus a small margin (TCP's slow start
for the bigger reply). An action's task appears at once, while libvirt answers later.
The figures are printed (pytest -s); bench/far_hosts.py prints the same ones.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from ecp_desktop.models import schema
from ecp_desktop.testing.far_hosts import define_tiny, measure_rtt, timed_listing
from ecp_desktop.services.core.aio import spawn
from ecp_desktop.services.tasks.records import PENDING, RUNNING, SUCCEEDED

pytestmark = pytest.mark.lab
TINY = Path(__file__).with_name("tiny-tcg.xml").read_text()
MARGIN_ROUND_TRIPS = 3  # the bigger reply's extra flights (slow start), and noise


def define_machines(daemon, start: int, stop: int, prefix: str = "far-") -> None:
    """Machines start..stop-1 on ``daemon``, defined over its Unix socket (not delayed)."""
    define_tiny(daemon.uri("qemu"), TINY, start, stop, prefix=prefix)


def test_listing_round_trips_do_not_grow_with_the_machine_count(run, services, far_pair):
    far = far_pair[0]
    rtt = measure_rtt(far.tcp_uri)
    assert rtt >= 0.09, f"the link is not far: RTT {rtt * 1000:.1f} ms ({far.delay_kind})"
    figures = {}
    define_machines(far, 0, 20)
    figures[20] = run(timed_listing(services.inventory, far.tcp_uri, 20), timeout=120)
    define_machines(far, 20, 200)
    figures[200] = run(timed_listing(services.inventory, far.tcp_uri, 200), timeout=120)
    trips = {n: listing / rtt for n, (_first, listing) in figures.items()}
    print(f"\nRTT {rtt * 1000:.1f} ms ({far.delay_kind}, 50 ms each way)")
    for n, (first, listing) in figures.items():
        print(f"{n} machines: connect + list {first:.3f} s ({first / rtt:.1f} RTT), "
              f"list again {listing:.3f} s ({trips[n]:.1f} RTT)")
    assert trips[200] <= trips[20] + MARGIN_ROUND_TRIPS, trips
    # The connect and first listing too: no round trip per machine there either.
    assert figures[200][0] / rtt <= figures[20][0] / rtt + MARGIN_ROUND_TRIPS, figures


def test_an_actions_task_appears_at_once_while_libvirt_answers_later(qtbot, run, services, far_pair):
    far = far_pair[1]
    define_machines(far, 0, 3, prefix="act-")
    inventory = services.inventory
    host = inventory.add_host(far.tcp_uri)
    assert run(inventory.connect_host(host), timeout=30), host.reason
    qtbot.waitUntil(lambda: len(inventory.machines_of(far.tcp_uri)) == 3, timeout=30000)
    machine = next(m for m in inventory.machines_of(far.tcp_uri) if m.name == "act-000")
    rtt = measure_rtt(far.tcp_uri)

    seen: dict = {}

    def on_added(record) -> None:
        if record.target_uuid == machine.uuid and "at" not in seen:
            seen.update(at=time.perf_counter(), record=record, status=record.status)
    services.tasks.task_added.connect(on_added)
    try:
        t0 = time.perf_counter()
        action = spawn(services.lifecycle.apply("start", machine))  # the one path of every caller
        qtbot.waitUntil(lambda: "at" in seen, timeout=5000)
    finally:
        services.tasks.task_added.disconnect(on_added)
    visible = seen["at"] - t0
    record = seen["record"]
    assert seen["status"] in (PENDING, RUNNING)
    assert not action.done(), "the action ended before its task was seen"
    # It is in the task store (the database) too, still under way: libvirt has not answered.
    run(services.tasks.flush())
    with schema.database.connection_context():
        row = schema.Task.get(schema.Task.id == record.db_id)
    assert row.status in (PENDING, RUNNING) and not action.done()
    qtbot.waitUntil(action.done, timeout=30000)
    done = time.perf_counter() - t0
    assert action.result().status == SUCCEEDED, action.result().error_message
    print(f"\nRTT {rtt * 1000:.1f} ms: task visible after {visible * 1000:.1f} ms ({seen['status']} then), "
          f"the action done after {done * 1000:.0f} ms")
    assert visible < rtt / 4, f"task shown after {visible * 1000:.1f} ms, RTT {rtt * 1000:.1f} ms"
    assert done >= rtt  # libvirt's answer needs at least one round trip
    qtbot.waitUntil(lambda: next(m for m in inventory.machines_of(far.tcp_uri)
                                 if m.uuid == machine.uuid).state == "running", timeout=10000)
