"""The app against a real libvirtd with the QEMU driver (TCG guests), and a hung daemon."""
import time
from pathlib import Path

import libvirt
import pytest

from ecp_desktop.services.hosts.connection import HostState

from tests.helpers import LAB_URI

pytestmark = pytest.mark.lab
TINY_XML = (Path(__file__).parent / "tiny-tcg.xml").read_text()


def test_real_qemu_machine_lifecycle_through_the_app(qtbot, run, services, lab_daemon):
    inventory = services.inventory
    uri = lab_daemon.uri("qemu")
    admin = libvirt.open(uri)  # another client, like virsh
    try:
        admin.defineXML(TINY_XML)
        host = inventory.add_host(uri)
        assert run(inventory.connect_host(host)), host.reason
        assert host.facts.driver_type == "QEMU" and host.facts.hypervisor_version > 0
        qtbot.waitUntil(lambda: [m.name for m in inventory.machines_of(uri)] == ["tiny1"], timeout=5000)
        (tiny,) = inventory.machines_of(uri)
        assert tiny.state == "shutoff" and tiny.memory_kib == 64 * 1024 and tiny.persistent

        record = run(services.lifecycle.apply("start", tiny), timeout=30)
        assert record.status == "succeeded", record.error_message
        qtbot.waitUntil(lambda: inventory.machines_of(uri)[0].state == "running", timeout=5000)
        assert admin.lookupByName("tiny1").isActive()

        # Stopped by another client: the row follows the daemon's event.
        admin.lookupByName("tiny1").destroy()
        qtbot.waitUntil(lambda: inventory.machines_of(uri)[0].state == "shutoff", timeout=5000)

        refused = run(services.lifecycle.apply("resume", inventory.machines_of(uri)[0]))
        assert refused.status == "failed" and refused.error.code_name == "OPERATION_INVALID"
        assert "not paused" in refused.error.message or "not running" in refused.error.message
    finally:
        for dom in admin.listAllDomains():
            if dom.isActive():
                dom.destroy()
            dom.undefine()
        admin.close()


def test_a_hung_daemon_does_not_delay_other_hosts(qtbot, run, services, lab_daemon):
    from ecp_desktop.services.core.aio import spawn
    inventory = services.inventory
    lab_daemon.hang()
    hung = inventory.add_host(lab_daemon.uri("test"))
    opening = spawn(inventory.connect_host(hung))
    qtbot.waitUntil(lambda: hung.state is HostState.CONNECTING, timeout=2000)
    started = time.monotonic()
    local = inventory.add_host(LAB_URI)
    assert run(inventory.connect_host(local))
    qtbot.waitUntil(lambda: len(inventory.machines_of(LAB_URI)) == 4, timeout=3000)
    stopped = next(m for m in inventory.machines_of(LAB_URI) if m.name == "stopped01")
    assert run(services.lifecycle.apply("start", stopped)).status == "succeeded"
    assert time.monotonic() - started < 1.0, "the other host was not held up"
    assert not opening.done() and hung.state is HostState.CONNECTING
    lab_daemon.unhang()
    qtbot.waitUntil(opening.done, timeout=10000)
    assert opening.result() is True and hung.connected
