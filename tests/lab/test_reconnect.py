"""Connection loss and recovery against a real libvirtd: reason shown, backoff, events again."""
import libvirt

from ecp_desktop.services.hosts.connection import HostState

import pytest

pytestmark = pytest.mark.lab


def test_daemon_restart_reconnects_and_events_flow_again(qtbot, run, services, lab_daemon):
    inventory = services.inventory
    uri = lab_daemon.uri("test")
    host = inventory.add_host(uri)
    assert run(inventory.connect_host(host)), host.reason
    qtbot.waitUntil(lambda: len(inventory.machines_of(uri)) == 1, timeout=5000)

    lab_daemon.stop()
    qtbot.waitUntil(lambda: host.state is HostState.DISCONNECTED, timeout=5000)
    assert host.reason, "the host row says why it went away"
    assert host.next_attempt_at is not None, "a reconnect is scheduled"
    assert inventory.machines_of(uri), "the machines stay listed while the host is away"

    lab_daemon.start()
    qtbot.waitUntil(lambda: host.state is HostState.CONNECTED, timeout=15000)
    qtbot.waitUntil(lambda: len(inventory.machines_of(uri)) == 1, timeout=5000)

    # Events were registered again on the new connection: another client's change arrives.
    other = libvirt.open(uri)
    try:
        other.lookupByName("test").suspend()
        (machine,) = inventory.machines_of(uri)
        qtbot.waitUntil(lambda: inventory.machines_of(uri)[0].state == "paused", timeout=2000)
    finally:
        other.close()


def test_killed_daemon_is_reported_and_other_hosts_carry_on(qtbot, run, services, lab_daemon):
    from tests.helpers import LAB_URI
    inventory = services.inventory
    remote = inventory.add_host(lab_daemon.uri("test"))
    local = inventory.add_host(LAB_URI)
    assert run(inventory.connect_host(remote)) and run(inventory.connect_host(local))
    qtbot.waitUntil(lambda: bool(inventory.machines_of(remote.uri) and inventory.machines_of(LAB_URI)), timeout=10000)
    lab_daemon.kill()
    qtbot.waitUntil(lambda: remote.state is HostState.DISCONNECTED, timeout=10000)
    assert local.connected
    stopped = next(m for m in inventory.machines_of(LAB_URI) if m.name == "stopped01")
    assert run(services.lifecycle.apply("start", stopped)).status == "succeeded"
    record = run(services.lifecycle.apply("start", inventory.machines_of(remote.uri)[0]))
    assert record.status == "failed" and "not connected" in record.error_message


def test_a_hung_daemon_is_noticed_by_keepalive_and_the_host_comes_back(qtbot, run, services, lab_daemon):
    """SIGSTOP: the socket stays open but nothing answers; only keepalive (5 s x 3) can tell."""
    inventory = services.inventory
    uri = lab_daemon.uri("test")
    host = inventory.add_host(uri)
    assert run(inventory.connect_host(host)), host.reason
    qtbot.waitUntil(lambda: len(inventory.machines_of(uri)) == 1, timeout=5000)
    lab_daemon.hang()
    try:
        qtbot.waitUntil(lambda: host.state is not HostState.CONNECTED, timeout=45000)
        assert "keepalive" in host.reason
        assert inventory.machines_of(uri), "the machines stay listed while the host is away"
    finally:
        lab_daemon.unhang()
    qtbot.waitUntil(lambda: host.state is HostState.CONNECTED, timeout=60000)
    other = libvirt.open(uri)
    try:
        other.lookupByName("test").suspend()
        qtbot.waitUntil(lambda: inventory.machines_of(uri)[0].state == "paused", timeout=3000)
    finally:
        other.close()
