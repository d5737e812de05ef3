"""Responsiveness of the real main window (offscreen) over N machines on test:///default.

    python bench/responsiveness.py [N] [IDLE_SECONDS]     (default 2000 and 5; issue 8: 10000 and 30)

The machines are defined on libvirt's shared in-process test host by a second client,
which then plays "another libvirt client" for the event latency. Prints:
  load_gap_N:      longest gap of a 5 ms GUI timer while the window loads every row (target 50 ms)
  event_latency_N: another client's suspend/resume to the row showing it: p50, p99 (target p99 100 ms)
  filter_N:        slowest keystroke of typing a filter, and its longest GUI gap (target 50 ms)
  sort_N:          slowest click on a column header (target 50 ms)
  bulk_N:          start then force off 1,000 machines: longest GUI gap (target 50 ms), total time
  idle_cpu_N:      CPU used by the whole process while idle after load, % of one core (target 1 %)
  rss_N:           resident memory after all that (target 400 MB)
"""
from __future__ import annotations

import asyncio
import os
import resource
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import libvirt  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QSettings, Qt, QTimer  # noqa: E402
import qasync  # noqa: E402

from ecp_desktop.testing.hostgen import domain_xml  # noqa: E402

URI = "test:///default"


class GapMeter:
    """A 5 ms timer on the GUI thread; the longest time between two of its ticks."""

    def __init__(self) -> None:
        self.clock, self.worst = QElapsedTimer(), 0
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        self.worst = max(self.worst, self.clock.restart())

    def start(self) -> None:
        self.worst = 0
        self.clock.start()
        self.timer.start(5)

    def stop(self) -> int:
        self.timer.stop()
        return self.worst


async def main(n: int, idle_s: float) -> None:
    from ecp_desktop.services.composition import build_services
    from ecp_desktop.views.common.qt_process import settle_heap
    from ecp_desktop.services.setup.startup import open_inventory
    import tempfile
    work = tempfile.mkdtemp()
    open_inventory(f"sqlite:///{work}/bench.sqlite3")
    other = libvirt.open(URI)
    for i in range(n):
        other.defineXML(domain_xml(f"vm-{i:05d}", f"55555555-0000-0000-0000-{i:012d}", 5, 1, 256, i)
                        .replace('<test:runstate xmlns:test="http://libvirt.org/schemas/domain/test/1.0">5'
                                 '</test:runstate>', ""))
    from ecp_desktop.views.window.main_window import MainWindow
    services = build_services()
    window = MainWindow(services, QSettings(f"{work}/s.ini", QSettings.Format.IniFormat))
    window.show()
    gaps = GapMeter()
    gaps.start()
    host = services.inventory.add_host(URI)
    await services.inventory.connect_host(host)
    while window.machine_proxy.rowCount() < n + 1:
        await asyncio.sleep(0.005)
    print(f"load_gap_{n}: longest GUI gap {gaps.stop()} ms while loading {n + 1} rows (target 50 ms)")
    settle_heap()

    model = window.machine_model
    changed: dict[str, float] = {}
    def on_changed(top, bottom, _roles=()) -> None:  # a change covers a run of adjacent rows
        now = time.perf_counter()
        for row in range(top.row(), bottom.row() + 1):
            changed.setdefault(model.machine(row).name, now)
    model.dataChanged.connect(on_changed)
    latencies = []
    for i in range(0, min(n, 200)):
        name = f"vm-{i:05d}"
        dom = other.lookupByName(name)
        dom.create()
        await asyncio.sleep(0.02)
        changed.pop(name, None)
        t0 = time.perf_counter()
        dom.suspend()
        while name not in changed and time.perf_counter() - t0 < 2:
            await asyncio.sleep(0.001)
        latencies.append((changed.get(name, time.perf_counter()) - t0) * 1000)
        dom.destroy()
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"event_latency_{n}: p50 {statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms over "
          f"{len(latencies)} changes by another client (target p99 100 ms)")

    await asyncio.sleep(0.5)
    worst_key = 0.0
    gaps.start()
    for text in ("v", "vm", "vm-", "vm-0", "vm-00", "vm-001", "vm-0012", "state:run", "state:shut", ""):
        t0 = time.perf_counter()
        window.filter_edit.setText(text)
        window.machine_proxy.rowCount()
        worst_key = max(worst_key, (time.perf_counter() - t0) * 1000)
        await asyncio.sleep(0.03)
    print(f"filter_{n}: slowest keystroke {worst_key:.0f} ms, longest GUI gap {gaps.stop()} ms (target 50 ms)")

    worst_sort = 0.0
    for column in range(window.machine_model.columnCount()):
        t0 = time.perf_counter()
        window.machines_view.sortByColumn(column, Qt.SortOrder.AscendingOrder)
        worst_sort = max(worst_sort, (time.perf_counter() - t0) * 1000)
        await asyncio.sleep(0.02)
    window.machines_view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    print(f"sort_{n}: slowest column sort {worst_sort:.0f} ms (target 50 ms)")

    bulk = [m for m in services.inventory.machines.values() if m.state == "shutoff"][:1000]
    gaps.start()
    t0 = time.perf_counter()
    await services.lifecycle.apply_many("start", bulk)
    started = [services.inventory.machines[m.key] for m in bulk]
    await services.lifecycle.apply_many("force_off", started)
    print(f"bulk_{n}: start + force off {len(bulk)} machines in {time.perf_counter() - t0:.2f} s, "
          f"longest GUI gap {gaps.stop()} ms (target 50 ms)")

    await asyncio.sleep(1.0)
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(idle_s)
    idle = (time.process_time() - cpu0) / (time.perf_counter() - t0) * 100
    print(f"idle_cpu_{n}: {idle:.2f} % of one core over {idle_s:.0f} s (target 1 %)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rss_{n}: peak {rss:.0f} MB (target 400 MB)")
    services.shutdown()
    window.close()
    for dom in other.listAllDomains():
        if dom.name().startswith("vm-"):
            dom.undefine()
    other.close()


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    idle_s = float(sys.argv[2]) if len(sys.argv) > 2 else 5
    from ecp_desktop.views.common.qt_process import make_qt_app
    from ecp_desktop.services.hosts.libvirt_loop import register_event_impl
    register_event_impl()
    app = make_qt_app(sys.argv[:1])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(main(n, idle_s))
