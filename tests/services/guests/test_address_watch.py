"""The Addresses column's reads: only the running machines someone looks at, one call per host,
again after a lifecycle change, never for a fleet's other hosts."""
from ecp_desktop.services.guests.address_watch import AddressWatch
from ecp_desktop.testing.hostgen import write_host


def test_only_watched_running_machines_are_read_and_a_change_reads_again(qtbot, run, services, tmp_path):
    inventory = services.inventory
    uris = [write_host(tmp_path / f"a{i}.xml", 30, seed=i, prefix=f"a{i}-") for i in range(2)]
    for uri in uris:
        host = inventory.add_host(uri)
        assert run(inventory.connect_host(host))
        run(inventory.load_host(host))
    now = [1000.0]
    watch = AddressWatch(inventory, clock=lambda: now[0])
    changed: list = []
    watch.changed.connect(changed.extend)
    run(watch.read_now())
    assert watch.reads == 0  # nobody looks: no call at all

    running = [m for m in inventory.machines_of(uris[0]) if m.state == "running"][:3]
    stopped = next(m for m in inventory.machines_of(uris[0]) if m.state == "shutoff")
    assert len(running) == 3
    viewer = object()
    watch.watch(viewer, {m.key for m in running} | {stopped.key})
    run(watch.read_now())
    assert watch.reads == 1  # one call for the host's three running machines; the other host none
    assert set(changed) == {m.key for m in running}
    for m in running:
        assert watch.addresses(m.key) and all(a.source for a in watch.addresses(m.key).values())
    assert watch.addresses(stopped.key) == {}

    run(watch.read_now())
    assert watch.reads == 1  # not due again before the refresh interval
    now[0] += watch.refresh
    run(watch.read_now())
    assert watch.reads == 2

    # A machine that stops loses its addresses at once; one that changes is read again soon.
    first = running[0]
    run(inventory.hosts[uris[0]].call(lambda conn: conn.lookupByUUIDString(first.uuid).destroy()))
    qtbot.waitUntil(lambda: inventory.machines[first.key].state == "shutoff", timeout=3000)
    changed.clear()
    run(watch.read_now())
    assert changed == [first.key] and watch.addresses(first.key) == {}
    assert watch.reads == 2  # said without asking the host
    inventory.machines_changed.emit([inventory.machines[running[1].key]])
    run(watch.read_now())
    assert watch.reads == 3
    watch.watch(viewer, set())
    now[0] += watch.refresh
    run(watch.read_now())
    assert watch.reads == 3  # nothing watched: nothing read
