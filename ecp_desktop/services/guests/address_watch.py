"""The Addresses column's facts: the addresses of the running machines someone looks at (the
rows in view, the selected machine), read through ``read_addresses`` on their host's worker.

Only watched machines are read, so a fleet's other hosts cost nothing (the Usage column's
rule). A machine in view is read again every ``refresh`` seconds; one whose state or
definition just changed (started, resumed, migrated) or whose guest agent came or went,
every ``fresh`` seconds for a minute, while its guest's DHCP lease or agent comes up. One
call per host at a time, each reading all of that host's due machines. Runs on the asyncio
loop's thread; ``changed`` is emitted there with the keys whose addresses changed.
"""
from __future__ import annotations

import asyncio
import logging
import time
from operator import attrgetter

from ..core.aio import spawn
from ..core.errors import HypervisorError
from ..core.events import Event
from ..hosts.connection import HostConnection
from ..hosts.lookups import find_domain
from ..hosts.states import ACTIVE_STATES
from ..inventory.live import Inventory
from ..inventory.machines import Key, MachineInfo
from .addresses import InterfaceAddresses, read_addresses

_KEY = attrgetter("host_uri", "uuid")  # MachineInfo.key without a Python call per row
log = logging.getLogger(__name__)
REFRESH_S = 30.0
FRESH_S = 5.0
FRESH_FOR_S = 60.0
TICK_S = 1.0
Addresses = dict[str, InterfaceAddresses]  # MAC -> its addresses


class AddressWatch:
    def __init__(self, inventory: Inventory, *, refresh: float = REFRESH_S, fresh: float = FRESH_S,
                 clock=time.monotonic) -> None:
        self._inventory = inventory
        self.refresh, self.fresh = refresh, fresh
        self._clock = clock
        self._known: dict[Key, Addresses] = {}
        self._read_at: dict[Key, float] = {}
        self._fresh_until: dict[Key, float] = {}
        self._watchers: dict[int, frozenset[Key]] = {}
        self._busy: set[str] = set()  # hosts with a read in flight
        self._task: asyncio.Task | None = None
        self.reads = 0  # calls made to hosts (what a fleet nobody looks at must keep at 0)
        self.changed = Event("addresses_changed")  # (list[Key])
        inventory.machines_changed.connect(self._on_machines_changed)
        inventory.machines_removed.connect(self._on_machines_removed)
        for host in inventory.hosts.values():
            host.agent_event.connect(self._on_agent_event)
        inventory.host_added.connect(lambda host: host.agent_event.connect(self._on_agent_event))

    def addresses(self, key: Key) -> Addresses:
        """What was last read for the machine ({} when not read, not running or none known)."""
        return self._known.get(key, {})

    def watch(self, watcher: object, keys) -> None:
        """``watcher`` (a view) looks at these machines now; an empty set: at none."""
        keys = frozenset(keys)
        if keys:
            self._watchers[id(watcher)] = keys
        else:
            self._watchers.pop(id(watcher), None)
        if self._watchers and (self._task is None or self._task.done()):
            self._task = spawn(self._run())

    def watched(self) -> frozenset[Key]:
        return frozenset().union(*self._watchers.values()) if self._watchers else frozenset()

    async def _run(self) -> None:
        while self._watchers:
            for host, uuids in self._due():
                spawn(self._read(host, uuids))
            await asyncio.sleep(TICK_S)

    async def read_now(self) -> None:
        """Read every watched machine that is due, awaited (tests, the command line)."""
        await asyncio.gather(*(self._read(host, uuids) for host, uuids in self._due()))

    def _due(self) -> list[tuple[HostConnection, list[str]]]:
        now, by_host = self._clock(), {}
        gone = []
        for key in self.watched():
            machine = self._inventory.machines.get(key)
            if not _running(machine):
                if self._known.pop(key, None):
                    gone.append(key)  # stopped: its addresses are no longer its
                continue
            interval = self.fresh if now < self._fresh_until.get(key, 0.0) else self.refresh
            if now - self._read_at.get(key, -interval) >= interval:
                by_host.setdefault(key[0], []).append(key[1])
        if gone:
            self.changed.emit(gone)
        due = []
        for uri, uuids in by_host.items():
            host = self._inventory.hosts.get(uri)
            if host is not None and host.connected and uri not in self._busy:
                due.append((host, sorted(uuids)))
                self._busy.add(uri)
        return due

    async def _read(self, host: HostConnection, uuids: list[str]) -> None:
        def read(conn) -> dict[str, Addresses]:
            found = {}
            for uuid in uuids:
                dom = find_domain(conn, uuid)
                found[uuid] = read_addresses(dom) if dom is not None else {}
            return found
        self.reads += 1
        try:
            found = await host.call(read, operation="read addresses")
        except HypervisorError as err:
            log.debug("no addresses from %s: %s", host.uri, err.one_line())
            return
        finally:
            self._busy.discard(host.uri)
        now, changed = self._clock(), []
        for uuid, addresses in found.items():
            key = (host.uri, uuid)
            self._read_at[key] = now
            if self._known.get(key, {}) != addresses:
                self._known[key] = addresses
                changed.append(key)
        if changed:
            self.changed.emit(changed)

    def _on_machines_changed(self, machines: list[MachineInfo]) -> None:
        """Started, resumed, moved or redefined: read again soon, and often for a minute."""
        # A batch is a host's thousand rows (it went away, or its listing): only the few
        # machines someone looks at or whose addresses are known concern this watch.
        watched = set().union(*self._watchers.values())
        for key in map(_KEY, machines):
            if key in self._known or key in watched:
                self._read_soon(key)

    def _on_agent_event(self, host: HostConnection, uuid: str) -> None:
        """A guest agent came up (it answers for the guest's own addresses) or went away."""
        self._read_soon((host.uri, uuid))

    def _read_soon(self, key: Key) -> None:
        if key in self._known or any(key in keys for keys in self._watchers.values()):
            self._fresh_until[key] = self._clock() + FRESH_FOR_S
            self._read_at.pop(key, None)

    def _on_machines_removed(self, keys: list[Key]) -> None:
        for key in keys:
            self._known.pop(key, None)
            self._read_at.pop(key, None)
            self._fresh_until.pop(key, None)


def _running(machine: MachineInfo | None) -> bool:
    return machine is not None and machine.live and machine.state in ACTIVE_STATES
