"""Cost of live usage sampling over N running machines on one test-driver host.

    python bench/usage.py [N] [GUI_SECONDS]     (default 1000 and 6; issue 21: 10000)

Prints, each with its target (issue 21), in one run:
  bare_N:    libvirt's own getAllDomainStats call (running machines, the five stat groups):
             wall and process CPU per call, the floor everything else is compared with
  extra_N:   the sampler's CPU beyond that call per interval, as % of one core at a 2 s
             interval (target 5 %): on the test driver's answers (state only) and on
             QEMU-like answers (cpu, balloon, 2 NICs, 1 disk per machine), and the ratio to the bare call
  gui_gap_N: the GUI thread's longest gap (a 5 ms QTimer's lateness) while the machines table
             with its Usage column and the Usage tab are live at 2 s (target 50 ms)
  memory_N:  the ring buffers holding an hour of samples for N machines (target 100 MB)
"""
from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import libvirt  # noqa: E402

from ecp_desktop.services.usage import counters  # noqa: E402
from ecp_desktop.services.usage.sampler import HostSampler  # noqa: E402
from ecp_desktop.testing.hostgen import host_xml  # noqa: E402

INTERVAL = 2.0
ROUNDS = 7


def running_host(n: int) -> str:
    """A test-driver host file whose N machines all run."""
    xml = host_xml(n).replace(">5</test:runstate>", ">1</test:runstate>").replace(">3</test:runstate>",
                                                                                ">1</test:runstate>")
    path = Path(tempfile.mkdtemp()) / "usage.xml"
    path.write_text(xml, encoding="utf-8")
    return f"test://{path}"


class QemuLike:
    """Answers as QEMU gives them (the test driver reports state only), counters moving."""

    def __init__(self, conn: libvirt.virConnect) -> None:
        self.doms = [dom for dom, _stats in conn.getAllDomainStats(counters.STATS, counters.FLAGS)]
        self.t0 = time.monotonic()

    def records(self) -> list:
        t = time.monotonic() - self.t0 + 10
        out = []
        for i, dom in enumerate(self.doms):
            k = i % 7 + 1
            out.append((dom, {
                "state.state": 1, "state.reason": 1, "cpu.time": int(t * 1e8 * k), "cpu.user": int(t * 6e7 * k),
                "cpu.system": int(t * 4e7 * k), "balloon.current": 2097152, "balloon.maximum": 2097152,
                "balloon.unused": 1048576 - k * 1000, "balloon.available": 2000000, "balloon.usable": 1500000,
                "balloon.rss": 1800000, "balloon.last-update": int(t),
                "net.count": 2, "net.0.name": "vnet0", "net.0.rx.bytes": int(t * 1e5 * k), "net.0.rx.pkts": int(t * 80),
                "net.0.tx.bytes": int(t * 3e4 * k), "net.0.tx.pkts": int(t * 50), "net.0.rx.errs": 0,
                "net.0.rx.drop": 0, "net.0.tx.errs": 0, "net.0.tx.drop": 0,
                "net.1.name": "vnet1", "net.1.rx.bytes": int(t * 100), "net.1.tx.bytes": int(t * 10),
                "block.count": 1, "block.0.name": "vda", "block.0.path": "/var/lib/libvirt/images/x.qcow2",
                "block.0.rd.reqs": int(t * 10), "block.0.rd.bytes": int(t * 4096 * k), "block.0.rd.times": int(t * 1e6),
                "block.0.wr.reqs": int(t * 20), "block.0.wr.bytes": int(t * 8192 * k), "block.0.wr.times": int(t * 2e6),
                "block.0.fl.reqs": int(t), "block.0.fl.times": int(t * 1e5), "block.0.allocation": 10 << 30,
                "block.0.capacity": 20 << 30, "block.0.physical": 10 << 30}))
        return out


def timed(fn, *args) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - w0, time.process_time() - c0


def headless(n: int, uri: str) -> None:
    conn = libvirt.open(uri)
    bare = [timed(lambda: conn.getAllDomainStats(counters.STATS, counters.FLAGS)) for _ in range(ROUNDS)]
    bare_wall, bare_cpu = statistics.median(w for w, _c in bare), statistics.median(c for _w, c in bare)
    print(f"bare_{n}: getAllDomainStats of {n} running machines: {bare_wall * 1000:.1f} ms wall, "
          f"{bare_cpu * 1000:.1f} ms CPU per call (libvirt's own cost; the floor)")

    for label, answers in (("test driver's answers (state only)", None), ("QEMU-like answers", QemuLike(conn))):
        sampler = HostSampler(uri, lambda uuid: 2, interval=INTERVAL)
        if answers is not None:
            sampler.read_stats = lambda _conn, _uuids=None, answers=answers: answers.records()
        ours = {"ingest": 0.0, "host": 0.0}

        def measured(name, fn, ours=ours):
            def run(*args):
                c0 = time.process_time()
                fn(*args)
                ours[name] += time.process_time() - c0
            return run
        sampler.ingest = measured("ingest", sampler.ingest)
        sampler._sample_host = measured("host", sampler._sample_host)  # noqa: SLF001
        runs = []
        for _ in range(ROUNDS):
            ours["ingest"] = ours["host"] = 0.0
            sampler.sample(conn)
            runs.append(ours["ingest"] + ours["host"])
            time.sleep(0.05)
        extra = statistics.median(runs)
        print(f"extra_{n}: the sampler's own CPU per sample (rates, ring, host CPU/memory), {label}: "
              f"{extra * 1000:.1f} ms = {extra / INTERVAL * 100:.2f} % of a core at {INTERVAL:g} s "
              f"(target 5 %; {extra / bare_cpu:.2f} x the bare call's CPU)")
    ring = sampler.machines
    print(f"memory_{n}: ring buffers for an hour of {n} machines: {ring.nbytes / 1e6:.1f} MB (target 100 MB): "
          f"float16 (slots x samples x 6 metrics), {ring.fine.shape[1]} samples at {INTERVAL:g} s + "
          f"{ring.coarse.shape[1]} at {ring.coarse_step:g} s, {ring.capacity} slots")
    conn.close()


async def gui(n: int, uri: str, seconds: float) -> None:
    from PySide6.QtCore import QElapsedTimer, Qt, QTimer
    from PySide6.QtWidgets import QSplitter, QTableView

    from ecp_desktop.services.core.executors import Executors
    from ecp_desktop.services.inventory.live import Inventory
    from ecp_desktop.services.usage.service import UsageService
    from ecp_desktop.views.machines.machine_filter import MachineFilterProxy
    from ecp_desktop.views.machines.machine_model import USAGE, MachineRole, MachineTableModel
    from ecp_desktop.views.usage.usage_column import UsageColumn, show_usage_column
    from ecp_desktop.views.usage.usage_tab import UsageTab

    inventory = Inventory(Executors(), persist=False)
    usage = UsageService(inventory, interval=INTERVAL)
    usage_col = USAGE

    host = inventory.add_host(uri)
    await inventory.connect_host(host)
    while len(inventory.machines) < n:
        await asyncio.sleep(0.01)
    model = MachineTableModel(inventory, usage=UsageColumn(usage))
    proxy = MachineFilterProxy()
    proxy.setSourceModel(model)
    view = QTableView()
    view.setModel(proxy)
    view.setSortingEnabled(True)
    show_usage_column(view, usage_col, usage, MachineRole)
    tab = UsageTab(usage)
    window = QSplitter()
    window.addWidget(view)
    window.addWidget(tab)
    window.resize(1400, 800)
    window.show()
    tab.show_machine(model.machine(0))
    qemu = QemuLike(libvirt.open(uri))
    by_uuid = {dom.UUIDString(): i for i, dom in enumerate(qemu.doms)}
    sampler = usage._sampler(host)  # noqa: SLF001  (QEMU-like answers on the worker, after the real call)

    def read_stats(conn, _uuids=None):
        # Every machine of the host, whatever is in view: the Usage column sorted by usage.
        real = conn.getAllDomainStats(counters.STATS, counters.FLAGS)
        fake = qemu.records()
        return [(dom, fake[by_uuid[dom.UUIDString()]][1]) for dom, _stats in real]
    sampler.read_stats = read_stats

    clock, worst, gaps = QElapsedTimer(), [0], []
    timer = QTimer()

    def tick():
        gap = clock.restart()
        gaps.append(gap)
        worst[0] = max(worst[0], gap)
    timer.timeout.connect(tick)
    samples = []
    usage.sampled.connect(samples.append)
    usage.set_active(True)
    await asyncio.sleep(0.5)
    clock.start()
    timer.start(5)
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    cpu = (time.process_time() - cpu0) / (time.perf_counter() - t0) * 100
    timer.stop()
    t_sort = time.perf_counter()
    view.sortByColumn(usage_col, Qt.SortOrder.DescendingOrder)
    sort_ms = (time.perf_counter() - t_sort) * 1000
    usage.set_active(False)
    n_samples = len(samples)
    await asyncio.sleep(INTERVAL * 1.5)
    print(f"gui_gap_{n}: longest GUI gap {worst[0]} ms over {seconds:g} s with the Usage column and tab live "
          f"({n_samples} samples, QEMU-like answers; whole process {cpu:.1f} % of a core) (target 50 ms)")
    print(f"sort_{n}: sorting the table by current CPU: {sort_ms:.0f} ms (target 50 ms)")
    print(f"inactive_{n}: samples after set_active(False): {len(samples) - n_samples} (target 0)")
    window.close()
    inventory.close_all()


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 6.0
    libvirt.registerErrorHandler(lambda *_a: None, None)
    uri = running_host(n)
    headless(n, uri)
    import qasync
    from ecp_desktop.services.hosts.libvirt_loop import register_event_impl
    from ecp_desktop.views.common.qt_process import make_qt_app
    register_event_impl()
    app = make_qt_app(sys.argv[:1])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(gui(n, uri, seconds))
