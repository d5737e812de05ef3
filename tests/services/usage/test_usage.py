"""Live usage: rates from libvirt's bulk stats, the bounded history, the sampling switch,
the Usage tab's graphs and the machines table's Usage column."""
from __future__ import annotations

import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableView

from ecp_desktop.services.usage.ring import CPU, DISK_READ, DISK_WRITE, MEMORY, NET_RX, NET_TX, UsageRing
from ecp_desktop.services.usage.sampler import HostSampler
from ecp_desktop.services.usage.service import UsageService
from ecp_desktop.testing.hostgen import write_host
from ecp_desktop.views.hosts.host_model import IN_USE, HostTableModel
from ecp_desktop.views.machines.machine_filter import MachineFilterProxy
from ecp_desktop.views.machines.machine_model import NAME, USAGE, MachineRole, MachineTableModel
from ecp_desktop.views.usage.usage_column import UsageColumn, UsageRole, show_usage_column
from ecp_desktop.views.usage.usage_tab import UsageTab


class FakeDomain:
    def __init__(self, uuid: str) -> None:
        self._uuid = uuid

    def UUIDString(self) -> str:  # noqa: N802  (libvirt's name)
        return self._uuid


def qemu_like(uuid: str, t: float, cpu_share: float, *, mem_kib: int = 1048576) -> tuple:
    """A record as QEMU answers getAllDomainStats, ``t`` seconds after the machine started."""
    return (FakeDomain(uuid), {
        "state.state": 1, "state.reason": 1, "cpu.time": int(t * 1e9 * cpu_share),
        "balloon.current": mem_kib, "balloon.unused": mem_kib // 4,
        "net.count": 2, "net.0.rx.bytes": int(t * 1000), "net.0.tx.bytes": int(t * 500),
        "net.1.rx.bytes": int(t * 24), "net.1.tx.bytes": 0,
        "block.count": 1, "block.0.rd.bytes": int(t * 4096), "block.0.wr.bytes": int(t * 8192)})


def _hosts_sampled(usage: UsageService, run) -> set[str]:
    """The hosts one sample of everything watched reads."""
    got: list[str] = []
    usage.sampled.connect(got.append)
    run(usage.sample_now())
    usage.sampled.disconnect(got.append)
    return set(got)


def test_counters_become_rates():
    sampler = HostSampler("test:///x", lambda uuid: 2, interval=2.0)
    for t in (0.0, 2.0, 4.0):
        sampler.ingest([qemu_like("a", t, 1.0), qemu_like("b", t, 0.5)], t, 1e9 + t)
    ring = sampler.machines
    assert ring.current("a", CPU) == 50.0 and ring.current("b", CPU) == 25.0  # of 2 vCPUs
    assert ring.current("a", MEMORY) == 768 * 1024 * 1024  # balloon.current less unused
    assert ring.current("a", NET_RX) == 1024 and ring.current("a", NET_TX) == 500
    assert ring.current("a", DISK_READ) == 4096 and ring.current("a", DISK_WRITE) == 8192
    # a restart (the counter went back) and a long pause give no rate, only memory
    sampler.ingest([qemu_like("a", 1.0, 1.0)], 6.0, 1e9 + 6)
    assert math.isnan(ring.current("a", CPU)) and not math.isnan(ring.current("a", MEMORY))
    assert math.isnan(ring.current("b", MEMORY))  # not in that sample: not running
    sampler.ingest([qemu_like("a", 101.0, 1.0)], 106.0, 1e9 + 106)
    assert math.isnan(ring.current("a", CPU))


def test_history_is_bounded_and_older_samples_are_averaged():
    ring_sampler = HostSampler("test:///x", lambda uuid: 1, interval=2.0,
                               ring=lambda: UsageRing(fine=10, coarse=6, coarse_step=10.0, retention=60.0))
    for i in range(100):  # 200 s at 2 s: more than both tiers hold
        ring_sampler.ingest([qemu_like("a", 2.0 * i, 0.25 if i < 50 else 0.75)], 2.0 * i, 1000.0 + 2 * i)
    times, values = ring_sampler.machines.series("a")
    assert len(times) == 6 + 10 - 1 or len(times) == 6 + 10  # coarse buckets older than the fine tier
    assert np.all(np.diff(times) > 0)
    assert values[-1, CPU] == 75.0 and abs(values[0, CPU] - 75.0) < 0.1
    # a machine no longer sampled gives its slot back after the retention
    for i in range(100, 140):
        ring_sampler.ingest([qemu_like("b", 2.0 * i, 0.1)], 2.0 * i, 1000.0 + 2 * i)
    assert "a" not in ring_sampler.machines.slots


def test_an_hour_of_10000_machines_fits_in_100_mb():
    ring = UsageRing()
    with ring.lock:
        ring.slots_for([f"m{i}" for i in range(10_000)])
    assert ring.nbytes <= 100_000_000, ring.nbytes
    # an hour: 10 min at 2 s, then 30 s buckets
    assert ring.fine.shape[1] * 2 == 600 and ring.coarse.shape[1] * ring.coarse_step == 3600


def test_float16_keeps_realistic_values():
    ring = UsageRing(slot_step=4)
    values = np.array([[99.5, 512 * 2**30, 3e9, 1.5, 0.0, 70e3]])
    with ring.lock:
        ring.add(1e9, ring.slots_for(["a"]), values)
    _t, got = ring.series("a")
    assert np.allclose(got[0], values[0], rtol=2e-3, atol=0.1)


def _host_with(tmp_path, run, services, count=30):
    uri = write_host(tmp_path / "usage.xml", count)
    inventory = services.inventory
    host = inventory.add_host(uri)
    assert run(inventory.connect_host(host))
    run(inventory.load_host(host))
    return inventory, host


def test_the_test_driver_gives_running_machines_with_state_only(tmp_path, run, services):
    inventory, host = _host_with(tmp_path, run, services)
    usage = UsageService(inventory, interval=2.0)
    run(usage.sample_now())
    machines = inventory.machines_of(host.uri)
    running = [m for m in machines if m.state == "running"]
    stopped = [m for m in machines if m.state != "running"]
    assert running and stopped
    assert all(not math.isnan(usage.sampled_at(m.key)) for m in running)
    assert all(math.isnan(usage.sampled_at(m.key)) for m in stopped)  # paused and shut off: none
    # libvirt's test driver answers these stat groups with state.* only: nothing to graph
    assert all(math.isnan(v) for v in usage.currents(running[0].key).values())
    # the host: no CPU times that move, memory from getInfo/getFreeMemory
    assert usage.host(host.uri).memory_total == 128 * 2**30

    # a machine that stops gets no more samples
    victim = running[0]
    run(host.call(lambda conn: conn.lookupByUUIDString(victim.uuid).destroy()))
    before = usage.sampled_at(victim.key)
    time.sleep(0.01)
    run(usage.sample_now())
    assert usage.sampled_at(victim.key) == before
    assert usage.sampled_at(running[1].key) > before


def test_sampling_runs_only_while_active(qtbot, tmp_path, run, services):
    inventory, host = _host_with(tmp_path, run, services, count=10)
    usage = UsageService(inventory, interval=0.05)
    seen = []
    usage.sampled.connect(seen.append)
    qtbot.wait(120)
    assert seen == []  # not active yet: nothing sampled
    usage.set_active(True)
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=3000)
    usage.set_active(False)
    qtbot.wait(60)  # a call in flight may still land
    stopped_at = len(seen)
    qtbot.wait(300)
    assert len(seen) == stopped_at
    assert seen[0] == host.uri


def _fed(usage: UsageService, uri: str, shares: dict[str, float], rounds: int = 5) -> None:
    """Samples as QEMU would give them for these running machines (UUID -> CPU share)."""
    sampler = usage._sampler(usage._inventory.hosts[uri])  # noqa: SLF001  (the test feeds it)
    now = time.time()
    for i in range(rounds):
        t = 2.0 * i
        sampler.ingest([qemu_like(u, t, share) for u, share in shares.items()], t, now - 2 * (rounds - i))


def test_usage_tab_draws_graphs_with_a_time_axis(qtbot, tmp_path, run, services):
    inventory, host = _host_with(tmp_path, run, services, count=10)
    usage = UsageService(inventory)
    machine = next(m for m in inventory.machines_of(host.uri) if m.state == "running")
    _fed(usage, host.uri, {machine.uuid: 0.5})
    tab = UsageTab(usage)
    qtbot.addWidget(tab)
    tab.resize(500, 700)
    tab.show()
    tab.show_machine(machine)
    assert all(isinstance(p.getAxis("bottom"), pg.DateAxisItem) for p in tab.plots)
    x, y = tab.curves[CPU].getData()
    assert len(x) == 5 and abs(x[-1] - time.time()) < 10 and np.nanmax(y) > 0
    assert machine.name in tab.note.text()
    assert tab.note.textFormat() == Qt.TextFormat.PlainText
    assert not tab.grab().isNull()
    tab.show_machine(None)
    assert len(tab.curves[CPU].getData()[0] or []) == 0


def test_a_metric_the_machine_cannot_have_is_not_called_unreported(qtbot, tmp_path, run, services):
    """A machine without a network card or a disk (QEMU reports net.count/block.count 0) moves
    no bytes there; only a count the driver leaves out is "not reported"."""
    inventory, host = _host_with(tmp_path, run, services, count=10)
    usage = UsageService(inventory)
    bare, unreported = [m for m in inventory.machines_of(host.uri) if m.state == "running"][:2]
    sampler = usage._sampler(host)  # noqa: SLF001  (the test feeds it)
    now = time.time()
    for i in range(3):
        t = 2.0 * i
        without_devices = qemu_like(bare.uuid, t, 0.5)
        without_devices[1].update({"net.count": 0, "block.count": 0})
        for key in ("net.0.rx.bytes", "net.0.tx.bytes", "net.1.rx.bytes", "net.1.tx.bytes",
                    "block.0.rd.bytes", "block.0.wr.bytes"):
            del without_devices[1][key]
        no_interface_stats = qemu_like(unreported.uuid, t, 0.5)
        for key in [k for k in no_interface_stats[1] if k.startswith("net.")]:
            del no_interface_stats[1][key]
        sampler.ingest([without_devices, no_interface_stats], t, now - 2 * (3 - i))
    tab = UsageTab(usage)
    qtbot.addWidget(tab)
    tab.show()
    tab.show_machine(bare)
    assert tab.note.text().startswith(f"{bare.name}: ") and "Not reported" not in tab.note.text()
    tab.show_machine(unreported)
    assert tab.note.text().endswith("Not reported by this host's driver: network")


def test_usage_column_sorts_by_current_cpu(model_tester, qtbot, tmp_path, run, services):
    inventory, host = _host_with(tmp_path, run, services, count=12)
    usage = UsageService(inventory)
    usage_col = USAGE
    model = MachineTableModel(inventory, usage=UsageColumn(usage))
    proxy = MachineFilterProxy()
    proxy.setSourceModel(model)
    model_tester(model)
    running = [m for m in inventory.machines_of(host.uri) if m.state == "running"]
    shares = {m.uuid: 0.1 * (i + 1) for i, m in enumerate(running)}
    _fed(usage, host.uri, shares)
    proxy.sort(usage_col, Qt.SortOrder.DescendingOrder)
    values = [model.index(r, usage_col).data(UsageRole) for r in range(model.rowCount())]
    sampled = [v for v in values if v is not None]
    assert len(sampled) == len(running) and sampled == sorted(sampled, reverse=True)
    assert values[:len(sampled)] == sampled  # unsampled (not running) rows last
    top = model.machine(0)
    per_vcpu = {m.uuid: shares[m.uuid] / m.vcpus for m in running}  # CPU % is of the machine's vCPUs
    assert per_vcpu[top.uuid] == max(per_vcpu.values())
    assert model.index(0, usage_col).data().endswith(" % · 768.0 MiB")

    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(proxy)
    show_usage_column(view, usage_col, usage, MachineRole)
    view.resize(900, 300)
    view.show()
    assert not view.grab().isNull()  # paints the sparklines without error

    # a sample repaints the column: no model signal, so a set filter is not run again for it
    proxy.set_filter_text("running")
    calls = []
    original = model.accepts
    model.accepts = lambda *a: calls.append(1) or original(*a)
    usage.sampled.emit(host.uri)
    assert calls == []
    model_tester(model)


def test_the_window_samples_only_while_it_can_be_seen(qtbot, services, tmp_path):
    """The Usage tab is in the details; hiding or minimising the window stops sampling."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QDockWidget

    from ecp_desktop.services.usage.service import UsageService
    from ecp_desktop.views.window.main_window import MainWindow
    services.usage = usage = UsageService(services.inventory, interval=1)  # the window's, sampling every second
    window = MainWindow(services, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    titles = [window.details.tabText(i) for i in range(window.details.count())]
    assert "Snapshots" in titles and window.usage_tab.parentWidget() is not window.details
    assert any(d.windowTitle() == "Usage" and d.widget() is window.usage_tab for d in window.findChildren(QDockWidget))
    window.show()
    qtbot.waitUntil(lambda: usage.active, timeout=3000)
    window.showMinimized()
    qtbot.waitUntil(lambda: not usage.active, timeout=3000)
    window.showNormal()
    qtbot.waitUntil(lambda: usage.active, timeout=3000)
    window.hide()
    qtbot.waitUntil(lambda: not usage.active, timeout=3000)


def test_only_the_host_the_usage_tab_shows_is_sampled(qtbot, run, services, tmp_path):
    """A fleet costs nothing while nobody looks: with the tab hidden no host is sampled;
    shown with a machine, only that machine's host."""
    from ecp_desktop.services.usage.service import UsageService
    from ecp_desktop.testing.hostgen import write_host
    from ecp_desktop.views.usage.usage_tab import UsageTab
    inventory = services.inventory
    uris = [write_host(tmp_path / f"h{i}.xml", 20, seed=i, prefix=f"h{i}-") for i in range(2)]
    for uri in uris:
        host = inventory.add_host(uri)
        assert run(inventory.connect_host(host))
        run(inventory.load_host(host))
    usage = UsageService(inventory, interval=60)
    tab = UsageTab(usage)
    qtbot.addWidget(tab)
    sampled = []
    usage.sampled.connect(sampled.append)
    run(usage.sample_now())
    assert sampled == []  # the tab shows nothing: nothing is sampled
    machine = next(m for m in inventory.machines_of(uris[1]) if m.state == "running")
    tab.show()
    tab.show_machine(machine)
    run(usage.sample_now())
    assert set(sampled) == {uris[1]}
    tab.hide()
    sampled.clear()
    run(usage.sample_now())
    assert sampled == []


def test_the_usage_column_samples_the_hosts_of_the_rows_in_view(qtbot, run, services, tmp_path):
    """Of a fleet, only the hosts whose machines the table shows are sampled: scrolling or
    filtering to another host's machines moves the sampling there."""
    inventory = services.inventory
    uris = [write_host(tmp_path / f"v{i}.xml", 40, seed=i, prefix=f"v{i}-") for i in range(2)]
    for uri in uris:
        host = inventory.add_host(uri)
        assert run(inventory.connect_host(host))
        run(inventory.load_host(host))
    usage = UsageService(inventory, interval=60)
    model = MachineTableModel(inventory, usage=UsageColumn(usage))
    proxy = MachineFilterProxy()
    proxy.setSourceModel(model)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(proxy)
    refresher = show_usage_column(view, USAGE, usage, MachineRole)
    proxy.sort(NAME)  # v0-… rows first: 80 rows, a short view shows only the first host's
    view.resize(700, 200)
    view.show()
    qtbot.waitExposed(view)
    qtbot.waitUntil(lambda: refresher.hosts_in_view() == {uris[0]})

    def sampled_hosts() -> set[str]:
        return _hosts_sampled(usage, run)
    qtbot.waitUntil(lambda: sampled_hosts() == {uris[0]}, timeout=3000)
    # Of that host, only the machines in view: a host of thousands costs the few rows on screen.
    bottom = view.rowAt(view.viewport().height() - 1)
    shown = {view.model().index(r, 0).data(MachineRole).key for r in range(bottom + 1)}
    running = {m.key for m in inventory.machines_of(uris[0]) if m.state == "running"}
    assert running & shown and running - shown
    before = {k: usage.sampled_at(k) for k in running}
    time.sleep(0.01)
    assert sampled_hosts() == {uris[0]}
    assert all(usage.sampled_at(k) > before[k] for k in running & shown)
    assert all(usage.sampled_at(k) == before[k] or math.isnan(before[k]) for k in running - shown)
    view.horizontalHeader().setSortIndicator(USAGE, Qt.SortOrder.DescendingOrder)  # the order needs them all
    qtbot.waitUntil(lambda: sampled_hosts() and all(not math.isnan(usage.sampled_at(k)) for k in running),
                    timeout=3000)
    view.horizontalHeader().setSortIndicator(NAME, Qt.SortOrder.AscendingOrder)
    first = view.model().index(0, USAGE)
    assert first.data(UsageRole) is not None or first.data() == ""  # a sampled row says its value
    view.scrollToBottom()  # now the second host's rows
    qtbot.waitUntil(lambda: sampled_hosts() == {uris[1]}, timeout=3000)
    proxy.set_filter_text("no-such-machine")  # nothing in view: nothing sampled
    qtbot.waitUntil(lambda: sampled_hosts() == set(), timeout=3000)


def test_the_hosts_pane_shows_each_hosts_cpu_and_memory_in_use(qtbot, run, services, tmp_path, model_tester):
    """The In use column: the host's own CPU and memory (libvirt's node stats), for every
    connected host, without its machines' stats being read."""
    inventory, host = _host_with(tmp_path, run, services, count=5)
    usage = UsageService(inventory, interval=60)
    hosts = HostTableModel(inventory, usage=usage)
    model_tester(hosts)
    row = next(r for r in range(hosts.rowCount()) if hosts.host(r) is host)
    assert hosts.index(row, IN_USE).data() == ""  # nothing sampled yet
    changed = []
    hosts.dataChanged.connect(lambda first, last, *_: changed.append((first.row(), first.column())))
    run(usage.sample_now())  # no machine view looks: only the host's own figures
    run(usage.sample_now())  # CPU % needs two readings
    text = hosts.index(row, IN_USE).data()
    # The test driver has no CPU times that move (a real host's CPU %: tests/lab/test_usage_lab.py)
    # and reports 128 GiB; its free memory answer makes all of it in use.
    assert text == "memory 128.0 GiB of 128.0 GiB", text
    qtbot.waitUntil(lambda: (row, IN_USE) in changed)  # the hosts sampled together: one repaint
    assert math.isnan(usage.current((host.uri, next(iter(inventory.machines_of(host.uri))).uuid), CPU))


def test_the_hosts_pane_samples_only_the_hosts_on_screen(qtbot, run, services, tmp_path):
    """A fleet's hosts pane shows a few of its hosts: only those have their In use read."""
    from ecp_desktop.views.common.rows_in_view import RowsInView
    from ecp_desktop.views.hosts.host_model import HostRole

    inventory = services.inventory
    uris = [write_host(tmp_path / f"p{i}.xml", 2, seed=i, prefix=f"p{i}-") for i in range(12)]
    for uri in uris:
        assert run(inventory.connect_host(inventory.add_host(uri)))
    usage = UsageService(inventory, interval=60)
    hosts = HostTableModel(inventory, usage=usage)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(hosts)
    usage.watch(view, set())  # as the window's machines view does: no machine in view
    rows = RowsInView(view, IN_USE, HostRole, hosts.sample_rows_in_view)
    view.resize(700, 150)
    view.show()
    qtbot.waitExposed(view)
    qtbot.waitUntil(lambda: 0 < len(rows.rows()) < len(uris))
    shown = {h.uri for h in rows.rows()}

    def sampled() -> set[str]:
        return _hosts_sampled(usage, run)
    qtbot.waitUntil(lambda: sampled() == shown, timeout=3000)
    view.scrollToBottom()
    qtbot.waitUntil(lambda: sampled() == {h.uri for h in rows.rows()} != shown, timeout=3000)


def test_the_sparkline_is_drawn_beside_the_usage_text_never_under_it(qtbot):
    from PySide6.QtCore import QRectF
    from ecp_desktop.views.usage.usage_column import SPARK_ROOM, usage_cell_layout
    from ecp_desktop.views.window.window_layout import MACHINE_SAMPLES
    view = QTableView()
    qtbot.addWidget(view)
    metrics = view.fontMetrics()
    text = "100 % · 15.9 GiB"
    # The Usage column as the window sizes it (its widest usual value and some room), and wider.
    usual = metrics.horizontalAdvance(MACHINE_SAMPLES[USAGE]) + 3 * metrics.averageCharWidth() + 16 + SPARK_ROOM
    for width in (usual, usual + 120):
        cell = QRectF(3, 3, width - 6, 20)
        spark, words = usage_cell_layout(cell, metrics.horizontalAdvance(text))
        assert spark is not None and not spark.intersects(words) and spark.right() < words.left()
        assert spark.width() >= 48  # a minute of samples one can read
        assert words.width() >= metrics.horizontalAdvance(text) and cell.contains(spark) and cell.contains(words)
    # Too narrow for both: the words, and no line over them.
    spark, words = usage_cell_layout(QRectF(3, 3, metrics.horizontalAdvance(text) + 10, 20),
                                     metrics.horizontalAdvance(text))
    assert spark is None
