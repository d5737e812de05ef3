"""The live inventory over real libvirt: listing, events from other clients, reconnects."""
import time

import libvirt
import pytest

from ecp_desktop.models import schema
from ecp_desktop.services.hosts.connection import HostState

from ...helpers import LAB_URI


@pytest.fixture(autouse=True)
def set_up(db):
    """Setup's local host record: the inventory records machines only once setup has run
    (tests/services/setup/test_gate.py shows the other side)."""
    from ecp_desktop.services.setup.steps import SetupOptions, SetupRun, step_local_host
    with schema.database.connection_context():
        step_local_host(SetupRun(options=SetupOptions(local_uri="test:///default")))


def connect(run, services, uri):
    inventory = services.inventory
    host = inventory.add_host(uri)
    assert run(inventory.connect_host(host)), host.reason
    return host


def wait_loaded(qtbot, inventory, uri, count):
    qtbot.waitUntil(lambda: len(inventory.machines_of(uri)) == count, timeout=5000)


def test_connecting_lists_machines_and_records_facts(qtbot, run, services):
    host = connect(run, services, LAB_URI)
    wait_loaded(qtbot, services.inventory, LAB_URI, 4)
    assert host.state is HostState.CONNECTED
    assert host.facts.driver_type == "TEST" and host.facts.cpus == 2 and host.facts.memory_mib == 8192
    services.executors.database.submit(lambda: None).result()
    with schema.database.connection_context():
        assert schema.Machine.select().count() == 4
        assert schema.Host.get(schema.Host.uri == LAB_URI).driver_type == "TEST"


def test_state_change_by_another_client_reaches_the_row_quickly(qtbot, run, services):
    inventory = services.inventory
    connect(run, services, "test:///default")
    wait_loaded(qtbot, inventory, "test:///default", 1)
    (key,) = [k for k in inventory.machines if k[0] == "test:///default"]
    other = libvirt.open("test:///default")  # another client, like virsh
    try:
        started = time.monotonic()
        other.lookupByName("test").suspend()
        qtbot.waitUntil(lambda: inventory.machines[key].state == "paused", timeout=1000)
        assert time.monotonic() - started < 0.5
        other.lookupByName("test").resume()
        qtbot.waitUntil(lambda: inventory.machines[key].state == "running", timeout=1000)
    finally:
        other.close()


def test_rename_elsewhere_is_a_rename_not_delete_and_add(qtbot, run, services):
    inventory = services.inventory
    connect(run, services, "test:///default")
    wait_loaded(qtbot, inventory, "test:///default", 1)
    removed, added = [], []
    inventory.machines_removed.connect(removed.extend)
    inventory.machines_added.connect(added.extend)
    other = libvirt.open("test:///default")
    try:
        dom = other.lookupByName("test")
        dom.destroy()
        dom.rename("renamed-elsewhere", 0)
        qtbot.waitUntil(lambda: [m.name for m in inventory.machines_of("test:///default")] == ["renamed-elsewhere"],
                        timeout=2000)
        assert removed == [] and added == []
        dom = other.lookupByName("renamed-elsewhere")
        dom.rename("test", 0)
        dom.create()
        qtbot.waitUntil(lambda: inventory.machines_of("test:///default")[0].state == "running", timeout=2000)
    finally:
        other.close()


def test_defined_and_undefined_elsewhere_appear_and_disappear(qtbot, run, services):
    inventory = services.inventory
    connect(run, services, "test:///default")
    wait_loaded(qtbot, inventory, "test:///default", 1)
    other = libvirt.open("test:///default")
    try:
        dom = other.defineXML("<domain type='test'><name>newcomer</name><memory>131072</memory>"
                              "<os><type>hvm</type></os></domain>")
        qtbot.waitUntil(lambda: any(m.name == "newcomer" for m in inventory.machines_of("test:///default")),
                        timeout=2000)
        dom.undefine()
        qtbot.waitUntil(lambda: len(inventory.machines_of("test:///default")) == 1, timeout=2000)
    finally:
        other.close()
    services.executors.database.submit(lambda: None).result()
    with schema.database.connection_context():
        gone = schema.Machine.get(schema.Machine.name == "newcomer")
    assert gone.missing, "the inventory keeps the machine, marked missing"


def test_unreachable_host_reports_why_and_retries_without_blocking_others(qtbot, run, services):
    inventory = services.inventory
    dead = inventory.add_host("qemu+tcp://127.0.0.1:1/system")
    live = inventory.add_host(LAB_URI)
    run(inventory.connect_host(dead))
    assert dead.state is HostState.DISCONNECTED
    assert "Connection refused" in dead.reason and "could not be reached" in dead.reason
    assert dead.next_attempt_at is not None, "a reconnect is scheduled"
    assert run(inventory.connect_host(live))
    wait_loaded(qtbot, inventory, LAB_URI, 4)
    delays = []
    dead.state_changed.connect(lambda h: delays.append(round(h.next_attempt_at - time.monotonic()))
                               if h.state is HostState.DISCONNECTED else None)
    qtbot.waitUntil(lambda: len(delays) >= 1, timeout=4000)
    assert delays == [2], "the second failure waits twice as long as the first (backoff)"
    assert "Connection refused" in dead.reason


def test_removing_a_host_removes_its_rows_and_forgets_it(qtbot, run, services):
    inventory = services.inventory
    connect(run, services, LAB_URI)
    wait_loaded(qtbot, inventory, LAB_URI, 4)
    run(inventory.remove_host(LAB_URI))
    assert inventory.machines_of(LAB_URI) == [] and LAB_URI not in inventory.hosts
    with schema.database.connection_context():
        assert schema.Host.select().where(schema.Host.uri == LAB_URI).count() == 0


def test_connect_twice_or_concurrently_opens_one_connection(qtbot, run, services):
    import asyncio
    inventory = services.inventory
    host = inventory.add_host(LAB_URI)
    opened = []
    host.state_changed.connect(lambda h: opened.append(h.state) if h.state is HostState.CONNECTED else None)

    async def both():
        return await asyncio.gather(inventory.connect_host(host), host.connect())

    assert run(both()) == [True, True]
    assert run(host.connect()) is True
    assert opened == [HostState.CONNECTED], "one connection, announced once"


def test_change_during_the_initial_listing_is_not_lost(qtbot, run, services, monkeypatch):
    """A machine changes while the host is being listed: the listing's older snapshot must not win.

    The test driver lists too fast to change anything meanwhile, so the real listing is
    wrapped to let another client suspend the machine, and its event be handled, before
    the (now stale) listing returns. This injects timing only; libvirt stays real.
    """
    import time as _time
    from ecp_desktop.services.inventory import machines as inventory_module
    real_list = inventory_module.list_machines

    def slow_list(conn, uri):
        listed = real_list(conn, uri)
        other = libvirt.open("test:///default")
        other.lookupByName("test").suspend()
        other.close()
        _time.sleep(0.3)  # the event and its refresh are handled on the loop meanwhile
        return listed

    monkeypatch.setattr(inventory_module, "list_machines", slow_list)
    inventory = services.inventory
    loaded = []
    inventory.host_loaded.connect(lambda host, count: loaded.append(count))
    host = inventory.add_host("test:///default")
    assert run(inventory.connect_host(host))
    qtbot.waitUntil(lambda: loaded == [1], timeout=3000)  # the stale listing has been applied
    qtbot.waitUntil(lambda: inventory.machines_of("test:///default")[0].state == "paused", timeout=2000)
    other = libvirt.open("test:///default")
    other.lookupByName("test").resume()
    other.close()


def test_removing_a_host_waits_for_calls_still_using_its_connection(qtbot, run, services):
    """Closing a libvirt connection under a running call crashes the process; the release
    must wait for the call. The call's sleep stands for a slow host (timing only)."""
    import time as _time
    from ecp_desktop.services.core.aio import spawn
    inventory = services.inventory
    host = connect(run, services, LAB_URI)

    def slow_listing(conn):
        _time.sleep(0.3)
        return sorted(d.name() for d in conn.listAllDomains())

    in_flight = spawn(host.call(slow_listing, operation="slow listing"))
    run(inventory.remove_host(LAB_URI))
    assert host.state is HostState.DISCONNECTED
    qtbot.waitUntil(in_flight.done, timeout=3000)
    assert in_flight.result() == ["db01", "paused01", "stopped01", "web01"]


def test_host_without_live_events_still_connects_and_says_so(qtbot, run, services, monkeypatch):
    """Fault injection: some drivers cannot deliver domain events, and none here refuses them,
    so the registration call is made to fail the way libvirt does. Everything else is real."""
    def refuse(self, *args):
        raise libvirt.libvirtError("internal error: could not initialize domain event timer")

    monkeypatch.setattr(libvirt.virConnect, "domainEventRegisterAny", refuse)
    from ecp_desktop.views.hosts.host_model import HostTableModel
    model = HostTableModel(services.inventory)
    host = services.inventory.add_host(LAB_URI)
    assert run(services.inventory.connect_host(host)), host.reason
    qtbot.waitUntil(lambda: len(services.inventory.machines_of(LAB_URI)) == 4, timeout=3000)
    assert "could not initialize domain event timer" in host.events_error
    assert "Live updates unavailable" in model.index(0, 0).data(3)  # tooltip
