"""Live usage from a real QEMU guest (TCG) and its host: what libvirt's test driver cannot
give (it answers the stat groups with state.* only, and no host CPU times that move)."""
from __future__ import annotations

import math
import time
from pathlib import Path

import libvirt
import pytest

from ecp_desktop.services.usage.ring import CPU, MEMORY
from ecp_desktop.services.usage.service import UsageService
from ecp_desktop.views.host_model import IN_USE, HostTableModel
from ecp_desktop.views.machine_model import USAGE, MachineTableModel
from ecp_desktop.views.usage_column import UsageColumn

pytestmark = pytest.mark.lab
TINY_XML = (Path(__file__).parent / "tiny-tcg.xml").read_text()


def test_a_running_guest_and_its_host_show_cpu_and_memory(qtbot, run, services, lab_daemon):
    inventory = services.inventory
    uri = lab_daemon.uri("qemu")
    admin = libvirt.open(uri)
    try:
        admin.defineXML(TINY_XML).create()  # a TCG guest: its vCPU is busy emulating from the start
        host = inventory.add_host(uri)
        assert run(inventory.connect_host(host)), host.reason
        qtbot.waitUntil(lambda: [m.state for m in inventory.machines_of(uri)] == ["running"], timeout=5000)
        (tiny,) = inventory.machines_of(uri)
        usage = UsageService(inventory, interval=1.0)
        machines = MachineTableModel(inventory, usage=UsageColumn(usage))
        hosts = HostTableModel(inventory, usage=usage)
        run(usage.sample_now())
        time.sleep(1.0)
        run(usage.sample_now())  # rates need two readings
        cpu, memory = usage.current(tiny.key, CPU), usage.current(tiny.key, MEMORY)
        assert 0 < cpu <= 100.5, cpu  # % of its one vCPU
        assert not math.isnan(memory) and 0 < memory <= 64 * 2**20, memory
        row = machines.row_of(tiny.key)
        text = machines.index(row, USAGE).data()
        assert text.endswith("MiB") and " % · " in text, text
        now = usage.host(uri)
        assert 0 <= now.cpu <= 100 and 0 < now.memory_used < now.memory_total, now
        in_use = hosts.index(0, IN_USE).data()
        assert in_use.startswith("CPU ") and " % · memory " in in_use, in_use
    finally:
        for dom in admin.listAllDomains():
            if dom.isActive():
                dom.destroy()
            dom.undefine()
        admin.close()
