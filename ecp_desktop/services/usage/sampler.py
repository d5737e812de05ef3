"""One host's sampler: one bulk stats call per interval, on the host's worker thread."""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import libvirt
import numpy as np

from . import counters
from .ring import CPU, MEMORY, METRICS, UsageRing

HOST = "host"  # the host's own row in its host ring


@dataclass
class HostUsage:
    """The host's last sample: CPU in use (% of all its CPUs) and memory (bytes); NaN: not reported."""
    cpu: float = math.nan
    memory_used: float = math.nan
    memory_total: float = math.nan
    when: float = math.nan  # epoch seconds


class HostSampler:
    """Samples one host: ``sample(conn)`` runs on its worker (HostConnection.call) and stores
    rates into ``machines`` (a ring per machine slot) and ``host`` (the host's own CPU and
    memory); the GUI reads both. ``vcpus_of(uuid)``: the machine's vCPUs (for CPU %)."""

    def __init__(self, uri: str, vcpus_of: Callable[[str], int], *, interval: float = 2.0,
                 ring: Callable[[], UsageRing] = UsageRing) -> None:
        self.uri = uri
        self.interval = interval
        self.machines = ring()
        self.host = UsageRing(slot_step=1)
        self.host_now = HostUsage()
        self._vcpus_of = vcpus_of
        self._rates = counters.Rates()
        self._host_cpu: tuple[float, float] | None = None
        self._host_cpu_t: float | None = None
        self._node_memory = True
        self.last_call = 0.0   # seconds the bulk stats call took
        self.last_work = 0.0   # seconds of our own work on the answer
        # The domains of the machines sampled by name (``uuids``), looked up once per connection.
        self._domains: dict[str, libvirt.virDomain] = {}
        self._domains_of: libvirt.virConnect | None = None

    def read_stats(self, conn: libvirt.virConnect, uuids: list[str] | None = None) -> list:
        """The bulk stats of every running machine (``uuids`` None), or of these machines only:
        one call either way, but the second reads a few machines of a host of thousands."""
        if uuids is None:
            return conn.getAllDomainStats(counters.STATS, counters.FLAGS)
        if not uuids:
            return []
        try:
            return conn.domainListGetStats(self._lookup(conn, uuids), counters.STATS, counters.LIST_FLAGS)
        except libvirt.libvirtError:
            # A machine went away since it was looked up: look them up again, once.
            self._domains.clear()
            domains = self._lookup(conn, uuids)
            return conn.domainListGetStats(domains, counters.STATS, counters.LIST_FLAGS) if domains else []

    def _lookup(self, conn: libvirt.virConnect, uuids: list[str]) -> list[libvirt.virDomain]:
        if self._domains_of is not conn:
            self._domains, self._domains_of = {}, conn
        found = []
        for uuid in uuids:
            dom = self._domains.get(uuid)
            if dom is None:
                try:
                    dom = self._domains[uuid] = conn.lookupByUUIDString(uuid)
                except libvirt.libvirtError:
                    continue  # gone: nothing to sample
            found.append(dom)
        return found

    def sample(self, conn: libvirt.virConnect, uuids: list[str] | None = None) -> None:
        """Sample every running machine of the host (``uuids`` None) or these ones."""
        t0 = time.monotonic()
        records = self.read_stats(conn, uuids)
        t1 = time.monotonic()
        wall = time.time() - (t1 - t0) / 2
        self.ingest(records, (t0 + t1) / 2, wall)
        del records
        self._sample_host(conn, t1, wall)
        self.last_call, self.last_work = t1 - t0, time.monotonic() - t1

    def sample_host(self, conn: libvirt.virConnect) -> None:
        """The host's own CPU and memory only (nobody looks at its machines' usage)."""
        self._sample_host(conn, time.monotonic(), time.time())

    def ingest(self, records: list, mono: float, wall: float) -> None:
        """Store one bulk stats answer taken at ``mono`` (time.monotonic) / ``wall`` (epoch)."""
        uuids, cumulative, memory, vcpus = counters.extract(records, self._vcpus_of)
        max_gap = max(3 * self.interval, 10.0)
        with self.machines.lock:
            slots = self.machines.slots_for(uuids)
            values = self._rates.values(mono, slots, cumulative, memory, vcpus, max_gap)
            self.machines.add(wall, slots, values)

    def _sample_host(self, conn: libvirt.virConnect, mono: float, wall: float) -> None:
        cpu = math.nan
        times = counters.host_cpu_times(conn)
        if times is not None and self._host_cpu is not None and self._host_cpu_t is not None \
                and mono - self._host_cpu_t <= max(3 * self.interval, 10.0):
            busy, total = times[0] - self._host_cpu[0], times[1] - self._host_cpu[1]
            if total > 0 and busy >= 0:
                cpu = busy / total * 100.0
        self._host_cpu, self._host_cpu_t = times, mono
        used, total, self._node_memory = counters.host_memory(conn, self._node_memory)
        row = np.full((1, len(METRICS)), np.nan)
        row[0, CPU], row[0, MEMORY] = cpu, used
        with self.host.lock:
            self.host.add(wall, self.host.slots_for([HOST]), row)
        self.host_now = HostUsage(cpu, used, total, wall)

