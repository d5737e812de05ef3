"""Live usage for every connected host: one bulk stats call per host per interval, only
while the window says it is looked at (``set_active``).

Everything here runs on the asyncio loop's thread except ``HostSampler.sample``, which runs
on the host's worker (HostConnection.call); ``sampled`` is emitted on the loop's thread with
the host's URI once that host's new sample is stored."""
from __future__ import annotations

import asyncio
import logging
import math

from ..core.aio import spawn
from ..core.errors import HypervisorError
from ..core.events import Event
from ..hosts.connection import HostConnection
from ..hosts.states import ACTIVE_STATES
from ..inventory.live import Inventory
from ..inventory.machines import Key
from .metrics import CPU, METRICS
# numpy comes with the sampler: loaded at start-up, before the first paint, rather than with the
# first sample, where its import stalled the window's first turns while hosts loaded.
from .sampler import HostSampler, HostUsage

log = logging.getLogger(__name__)
DEFAULT_INTERVAL = 2.0


class UsageService:
    def __init__(self, inventory: Inventory, *, interval: float = DEFAULT_INTERVAL) -> None:
        self._inventory = inventory
        self.interval = float(interval)
        self.samplers: dict[str, HostSampler] = {}
        self._busy: set[str] = set()  # hosts with a sample in flight (never two at once)
        self._active = False
        self._task: asyncio.Task | None = None
        # Who looks at which machines (the Usage column: the rows in view; the Usage tab: its
        # machine), and at which hosts' every machine (the column sorted by usage). With any
        # watcher, only those are sampled: a fleet's 100,000 machines cost nothing while nobody
        # looks, and a host of 10,000 costs the few rows in view (bench/fleet.py: 109 % of a
        # core when every host was sampled).
        self._watchers: dict[int, tuple[frozenset[Key], frozenset[str]]] = {}
        # Hosts whose own CPU and memory someone looks at (the hosts pane): two calls per host,
        # not the bulk machine stats.
        self._host_watchers: dict[int, frozenset[str]] = {}
        self.sampled = Event("usage_sampled")  # (host URI)
        inventory.host_removed.connect(self._on_host_removed)
        inventory.machines_removed.connect(self._on_machines_removed)

    # ----- on and off ------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self._active

    def set_active(self, active: bool) -> None:
        """Sample (True) or not (False: the window is hidden, minimised or the screen locked).
        Off means no timer and no call at all; on samples at once, then every interval."""
        if active == self._active:
            return
        self._active = active
        if active:
            self._task = spawn(self._run())
        elif self._task is not None:
            self._task.cancel()
            self._task = None

    def watch(self, watcher: object, keys, *, whole_hosts=()) -> None:
        """``watcher`` (a view) looks at these machines now, and at every machine of
        ``whole_hosts``; nothing: at none."""
        self._watchers[id(watcher)] = (frozenset(keys), frozenset(whole_hosts))

    def watch_hosts(self, watcher: object, uris) -> None:
        """``watcher`` shows these hosts' own CPU and memory in use; an empty set: none."""
        self._host_watchers[id(watcher)] = frozenset(uris)

    def _host_wanted(self, uri: str) -> bool:
        return any(uri in uris for uris in self._host_watchers.values())

    def _due(self) -> list[tuple[HostConnection, list[str] | None | bool]]:
        """(host, which machines) for every connected host someone looks at, not in flight:
        None every running machine, a list these running machines, False none (the host's own
        CPU and memory only)."""
        whole: set[str] = set()
        named: dict[str, set[str]] = {}
        for keys, uris in self._watchers.values():
            whole.update(uris)
            for uri, uuid in keys:
                named.setdefault(uri, set()).add(uuid)
        machines = self._inventory.machines
        due = []
        for host in list(self._inventory.hosts.values()):
            uri = host.uri
            if not host.connected or uri in self._busy:
                continue
            if not self._watchers or uri in whole:
                due.append((host, None))
            elif running := sorted(uuid for uuid in named.get(uri, ())
                                   if (m := machines.get((uri, uuid))) is not None and m.state in ACTIVE_STATES):
                due.append((host, running))
            elif uri in named or self._host_wanted(uri):
                due.append((host, False))
        self._busy.update(host.uri for host, _ in due)
        return due

    def set_interval(self, seconds: float) -> None:
        """A new interval (the preference changed): takes effect from the next sample."""
        self.interval = float(seconds)
        for sampler in self.samplers.values():
            sampler.interval = self.interval
        if self._active and self._task is not None:
            self._task.cancel()
            self._task = spawn(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._active:
            started = loop.time()
            for host, machines in self._due():
                spawn(self._sample(host, machines, while_active=True))
            await asyncio.sleep(max(0.0, self.interval - (loop.time() - started)))

    async def sample_now(self) -> None:
        """One sample of every connected host someone looks at, awaited (tests, benchmarks)."""
        await asyncio.gather(*(self._sample(host, machines) for host, machines in self._due()))

    async def _sample(self, host: HostConnection, machines: list[str] | None | bool = None, *,
                      while_active: bool = False) -> None:
        """``machines`` as ``_due`` says. ``while_active``: sampled on the interval; an answer
        that comes after sampling was turned off (the window hidden meanwhile) is kept but
        announces nothing."""
        try:
            sampler = self._sampler(host)
            if machines is False:
                await host.call(sampler.sample_host, operation="read usage")
            else:
                await host.call(lambda conn: sampler.sample(conn, machines), operation="read usage")
        except HypervisorError as err:
            log.debug("no usage sample from %s: %s", host.uri, err)
            return
        finally:
            self._busy.discard(host.uri)
        if self.samplers.get(host.uri) is sampler and (self._active or not while_active):  # not removed meanwhile
            self.sampled.emit(host.uri)

    def _sampler(self, host: HostConnection) -> HostSampler:
        sampler = self.samplers.get(host.uri)
        if sampler is None:
            machines, uri = self._inventory.machines, host.uri

            def vcpus_of(uuid: str) -> int:  # on the worker: one dict read
                info = machines.get((uri, uuid))
                return info.vcpus if info is not None else 0
            sampler = self.samplers[host.uri] = HostSampler(host.uri, vcpus_of, interval=self.interval)
        return sampler

    def _on_host_removed(self, host: HostConnection) -> None:
        self.samplers.pop(host.uri, None)

    def _on_machines_removed(self, keys: list[Key]) -> None:
        for uri, uuid in keys:
            sampler = self.samplers.get(uri)
            if sampler is not None:
                with sampler.machines.lock:
                    sampler.machines.forget(uuid)

    # ----- reading ---------------------------------------------------------------------------
    def current(self, key: Key, metric: int) -> float:
        """The machine's value in the last sample of its host (natural units: CPU %, memory
        bytes, bytes/s); NaN when it was not sampled (not running, or not reported)."""
        sampler = self.samplers.get(key[0])
        return math.nan if sampler is None else sampler.machines.current(key[1], metric)

    def sampled_at(self, key: Key) -> float:
        """When the machine was last sampled (epoch seconds); NaN: never, in the last hour."""
        sampler = self.samplers.get(key[0])
        return math.nan if sampler is None else sampler.machines.sampled_at(key[1])

    def current_cpu(self) -> dict[Key, float]:
        """Every sampled machine's CPU % in its host's last sample (not reported: left out)."""
        out: dict[Key, float] = {}
        for uri, sampler in list(self.samplers.items()):
            ring = sampler.machines
            values = ring.latest[:, CPU].tolist()
            out.update(((uri, uuid), values[slot]) for uuid, slot in list(ring.slots.items())
                       if values[slot] == values[slot])  # not NaN
        return out

    def currents(self, key: Key) -> dict[str, float]:
        """Every metric of the last sample, by name (METRICS)."""
        return {name: self.current(key, i) for i, name in enumerate(METRICS)}

    def recent(self, key: Key, metric: int, count: int):
        """The last ``count`` samples of one metric at the sampling interval, oldest first."""
        sampler = self.samplers.get(key[0])
        return None if sampler is None else sampler.machines.recent(key[1], metric, count)

    def series(self, key: Key):
        """(times, values) of the last hour: epoch seconds, (samples, METRICS) natural units;
        None when the host was never sampled."""
        sampler = self.samplers.get(key[0])
        return None if sampler is None else sampler.machines.series(key[1])

    def host(self, uri: str) -> HostUsage:
        """The host's CPU and memory in use, from its last sample."""
        sampler = self.samplers.get(uri)
        return HostUsage() if sampler is None else sampler.host_now

    def host_series(self, uri: str):
        sampler = self.samplers.get(uri)
        return None if sampler is None else sampler.host.series("host")

    def nbytes(self) -> int:
        """Memory held by every host's history (numpy arrays)."""
        return sum(s.machines.nbytes + s.host.nbytes for s in self.samplers.values())
