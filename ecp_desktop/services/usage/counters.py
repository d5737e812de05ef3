"""libvirt's bulk stats as numpy arrays, and cumulative counters turned into rates.

Runs on a host's worker thread. One Python pass over the records pulls out what the stat
groups report (QEMU: cpu.time, balloon.*, net.N.rx/tx.bytes, block.N.rd/wr.bytes); what a
driver does not report (libvirt's test driver reports state only) stays NaN."""
from __future__ import annotations

import math
import time

import libvirt
import numpy as np

from .ring import CPU, DISK_READ, DISK_WRITE, MEMORY, METRICS, NET_RX, NET_TX

STATS = (libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL | libvirt.VIR_DOMAIN_STATS_BALLOON
         | libvirt.VIR_DOMAIN_STATS_INTERFACE | libvirt.VIR_DOMAIN_STATS_BLOCK)
# running machines only; NOWAIT: a machine busy with a job reports what it has instead of
# making the whole call wait for it
FLAGS = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_RUNNING | getattr(
    libvirt, "VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT", 0)
# For machines named by the caller (virDomainListGetStats), which may refuse the listing filters:
# the caller names running machines only.
LIST_FLAGS = getattr(libvirt, "VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT", 0)
COUNTERS = 5  # cpu.time (ns), block read, block write, net rx, net tx (bytes): cumulative
_NAN = math.nan
_NET = [(f"net.{i}.rx.bytes", f"net.{i}.tx.bytes") for i in range(64)]
_BLOCK = [(f"block.{i}.rd.bytes", f"block.{i}.wr.bytes") for i in range(64)]
YIELD_EVERY = 1000  # records: the worker sleeps a moment so the GUI thread gets the interpreter lock


def memory_used(stats: dict) -> float:
    """Bytes the guest uses: balloon.current less what the guest reports unused; else the
    QEMU process's RSS; else the balloon's size; NaN when none is reported."""
    current = stats.get("balloon.current")
    unused = stats.get("balloon.unused")
    if current is not None and unused is not None:
        return max(0.0, (current - unused) * 1024.0)
    rss = stats.get("balloon.rss")
    if rss is not None:
        return rss * 1024.0
    return _NAN if current is None else current * 1024.0


def extract(records: list, vcpus_of) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(UUIDs, cumulative counters (k, COUNTERS), memory used in bytes (k,), vCPUs (k,))."""
    uuids: list[str] = []
    rows: list[tuple] = []
    mems: list[float] = []
    vcpus: list[int] = []
    for count, (dom, stats) in enumerate(records, 1):
        if count % YIELD_EVERY == 0:
            time.sleep(0.0005)
        uuid = dom.UUIDString()
        uuids.append(uuid)
        get = stats.get
        rd = wr = rx = tx = _NAN
        # A count of 0 is reported (a machine without a disk or a network card): it moves no
        # bytes there, 0 B/s; only a count the driver leaves out stays NaN ("not reported").
        n = get("block.count")
        if n is not None:
            rd = wr = 0
            for rkey, wkey in _BLOCK[:n]:
                rd += get(rkey, 0)
                wr += get(wkey, 0)
        n = get("net.count")
        if n is not None:
            rx = tx = 0
            for rkey, tkey in _NET[:n]:
                rx += get(rkey, 0)
                tx += get(tkey, 0)
        rows.append((get("cpu.time", _NAN), rd, wr, rx, tx))
        # memory_used(stats), inline (a call per machine is a tenth of this loop)
        current, unused = get("balloon.current"), get("balloon.unused")
        if current is not None and unused is not None:
            mems.append(max(0.0, (current - unused) * 1024.0))
        else:
            mems.append(memory_used(stats) if current is not None or "balloon.rss" in stats else _NAN)
        vcpus.append(vcpus_of(uuid))
    return (uuids, np.array(rows, np.float64).reshape(-1, COUNTERS), np.array(mems, np.float64),
            np.array(vcpus, np.float64))


class Rates:
    """The previous sample's counters per slot; turns a sample's counters into rates."""

    def __init__(self) -> None:
        self.prev = np.empty((0, COUNTERS))
        self.prev_t: float | None = None

    def values(self, mono: float, slots: np.ndarray, counters: np.ndarray, memory: np.ndarray,
               vcpus: np.ndarray, max_gap: float) -> np.ndarray:
        """(k, metrics) in natural units: CPU % of the machine's vCPUs, memory bytes, bytes/s.
        A rate needs the previous sample within ``max_gap`` seconds (not across a pause) and
        a counter that did not go back (a restart): else NaN."""
        capacity = int(slots.max()) + 1 if len(slots) else 0
        if capacity > len(self.prev):
            grown = np.full((capacity, COUNTERS), np.nan)
            grown[:len(self.prev)] = self.prev
            self.prev = grown
        out = np.full((len(slots), len(METRICS)), np.nan)
        out[:, MEMORY] = memory
        dt = None if self.prev_t is None else mono - self.prev_t
        if dt is not None and 0 < dt <= max_gap:
            with np.errstate(invalid="ignore", divide="ignore"):
                delta = counters - self.prev[slots]
                delta[delta < 0] = np.nan
                rate = delta / dt
                # At most 100 %: the sample's time is taken around the call, not where QEMU read
                # the counter, so a busy vCPU measures a little over (100.8 % seen in the lab).
                out[:, CPU] = np.minimum(rate[:, 0] / 1e9 / np.where(vcpus > 0, vcpus, 1) * 100.0, 100.0)
            out[:, DISK_READ], out[:, DISK_WRITE] = rate[:, 1], rate[:, 2]
            out[:, NET_RX], out[:, NET_TX] = rate[:, 3], rate[:, 4]
        self.prev.fill(np.nan)  # a machine missing from this sample has no previous next time
        self.prev[slots] = counters
        self.prev_t = mono
        return out


def host_cpu_times(conn: libvirt.virConnect) -> tuple[float, float] | None:
    """(busy, total) nanoseconds of all host CPUs so far, or None when not reported."""
    try:
        times = conn.getCPUStats(libvirt.VIR_NODE_CPU_STATS_ALL_CPUS)
    except libvirt.libvirtError:
        return None
    idle = times.get("idle", 0) + times.get("iowait", 0)
    busy = sum(v for k, v in times.items() if k not in ("idle", "iowait", "utilization"))
    return float(busy), float(busy + idle)


def host_memory(conn: libvirt.virConnect, node_stats: bool = True) -> tuple[float, float, bool]:
    """(used, total) bytes of host memory (NaN where not reported), and whether the node
    memory stats answered (when not, pass False next time: the fallback is asked directly)."""
    if node_stats:
        try:
            mem = conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS)
            free = mem.get("free", 0) + mem.get("buffers", 0) + mem.get("cached", 0)
            return (mem["total"] - free) * 1024.0, mem["total"] * 1024.0, True
        except (libvirt.libvirtError, KeyError):
            pass
    try:  # drivers without node memory stats (the test driver): total and free
        total = conn.getInfo()[1] * 1024.0 * 1024.0
    except libvirt.libvirtError:
        return _NAN, _NAN, False
    try:
        return max(0.0, total - conn.getFreeMemory()), total, False
    except libvirt.libvirtError:
        return _NAN, total, False
