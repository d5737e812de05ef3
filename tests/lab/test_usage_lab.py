"""Live usage from a real QEMU guest (TCG) and its host: what libvirt's test driver cannot
give (it answers the stat groups with state.* only, and no host CPU times that move)."""
from __future__ import annotations

import math
import time
import libvirt
import pytest

from ecp_desktop.services.usage.ring import CPU, MEMORY
from ecp_desktop.services.usage.service import UsageService
from ecp_desktop.views.hosts.host_model import IN_USE, HostTableModel
from ecp_desktop.views.machines.machine_model import USAGE, MachineTableModel
from ecp_desktop.views.usage.usage_column import UsageColumn

from .linux_guest import linux_guest_xml, wait_for_console

pytestmark = pytest.mark.lab


def test_a_running_guest_and_its_host_show_cpu_and_memory(qtbot, run, services, lab_daemon, guest_dir, tmp_path):
    inventory = services.inventory
    uri = lab_daemon.uri("qemu")
    admin = libvirt.open(uri)
    console = str(tmp_path / "console.log")
    try:
        # The lab's Linux guest keeps rewriting 16 MiB of memory (DIRTY=1): its vCPU is busy. (A
        # guest with nothing to boot halts in its BIOS, at 0 % CPU: CI saw that.)
        admin.defineXML(linux_guest_xml("busy1", guest_dir, console, fill_mib=16, dirty=True)).create()
        wait_for_console(console, "GUEST-FILLED", timeout=120)
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
        assert 0 < cpu <= 100, cpu  # % of its one vCPU (busy: near 100)
        # without a balloon driver QEMU reports its process size (guest RAM and its own): over 128 MiB
        assert not math.isnan(memory) and 0 < memory < 2**30, memory
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
