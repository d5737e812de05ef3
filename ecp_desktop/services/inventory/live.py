"""The live inventory: every host's machines, kept current by libvirt events.

Machines are keyed by (host URI, UUID): the same UUID on two hosts is two rows,
and a rename is a change of one row. Changes are announced in batches so that a
view can insert thousands of rows at once.

Nothing is written to the database before setup has run (``store.setup_missing``):
every write goes through ``writes`` (queued, coalesced, retried while the database is away)
or ``_write``, which check it on the database thread, so the window and the commands then
show live state only.
"""
from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable

import libvirt

from . import store
from . import notes as machine_notes
from .definitions import TaskId, catch_definition, catch_definitions_changed_away, keep_definition
from .known import read_known
from ..core import database_faults
from ..core.aio import spawn
from ..core.gui_first import Held
from ..core.errors import HypervisorError
from ..hosts.connection import HostConnection, HostState
from ..core.executors import Executors
from ..hosts.states import ACTIVE_STATES, EVENT_STATES
from ..hosts.uri import display_name
from .machines import Key, ListingDiff, MachineIndex, MachineInfo, list_and_compare, read_machine, utc_now
from .writes import InventoryWrites
from ..core.events import Event

log = logging.getLogger(__name__)
FREEZE_AFTER = 1000  # machines in one listing
# Hosts listed at once. Each listing thread runs Python between its libvirt calls, and the GUI
# thread waits for the interpreter lock behind all of them: at 100 hosts listed at once the
# window stalled for seconds (bench/fleet.py 100 1000: 2.9 s; 0.2 s with 4, 0.5 s with 16).
# Four at a time also shows a fleet's first rows sooner; a fleet of far hosts lists slower.
LISTING_SLOTS = 4


class Inventory:
    def __init__(self, executors: Executors, *, persist: bool = True, keepalive: bool = True,
                 events: bool = True, reconnect: bool = True, auto_load: bool = True,
                 open_timeout: float | None = None, call_timeout: float | None = None) -> None:
        self.executors = executors
        self.persist = persist
        self._keepalive, self._events, self._reconnect = keepalive, events, reconnect
        self._auto_load = auto_load
        self._timeouts = {"open_timeout": open_timeout, "call_timeout": call_timeout}
        self.hosts: dict[str, HostConnection] = {}
        # Every row (read it; change it only through the index, which also keeps the rows per
        # host: a host's change touches its own rows, never all of a fleet's).
        self._index = MachineIndex()
        self.machines: dict[Key, MachineInfo] = self._index.all
        self._host_ids: dict[str, int] = {}
        self._autoconnect: dict[str, bool] = {}
        # Why nothing is written yet (setup has not run), as last read; None once it has.
        # Set on the database thread; once setup has run it stays so (never re-read).
        self.setup_missing: str | None = None
        self._set_up = not persist
        self._announced: str | None = None  # what setup_changed last said
        self._refresh_seq: dict[Key, int] = {}
        self._changed_while_listing: dict[str, set[str]] = {}  # host URI -> UUIDs with events meanwhile
        self._listed: set[str] = set()  # host URIs listed in this session
        self._went_away: set[str] = set()  # listed, then disconnected: their next listing is a reconnect's
        self._definition_checks = asyncio.Semaphore(1)  # a reconnect storm's checks run one host at a time
        self._listing_slots = asyncio.Semaphore(LISTING_SLOTS)
        # Every write that matters, coalesced per machine: one job on the database thread writes
        # what gathered meanwhile (a bulk action refreshes thousands of machines), and what does
        # not land while the database is away is written again until it does.
        self.writes = InventoryWrites(executors.database, gate=self._writable, host_id=self._host_id_for,
                                      write_listing=self._write_listing)
        self.host_added = Event("host_added")              # (host)
        self.host_changed = Event("host_changed")          # (host)
        self.host_removed = Event("host_removed")          # (host)
        self.machines_added = Event("machines_added")      # (list[MachineInfo])
        self.machines_changed = Event("machines_changed")  # (list[MachineInfo])
        self.machines_removed = Event("machines_removed")  # (list[Key])
        self.host_loaded = Event("host_loaded")            # (host, machine count)
        self.setup_changed = Event("setup_changed")        # (reason setup is needed, or None)
        # Whether a task of any instance is changing a machine (host URI, UUID): on the database
        # thread. Set where the task store is known; until then no flow is ever running.
        self.in_flow: Callable[[str, str], bool] = lambda _uri, _uuid: False

    @property
    def database_away(self) -> str:
        """"" while inventory writes land; else why they cannot, in words (they are kept)."""
        return self.writes.away

    @property
    def database_changed(self):
        return self.writes.database_changed  # (reason, or "" when back)

    # ----- hosts ---------------------------------------------------------------------------
    def add_host(self, uri: str, *, label: str = "", is_demo: bool = False) -> HostConnection:
        """Add (or return) the host for ``uri``. Connecting is separate: see connect_host."""
        if uri in self.hosts:
            return self.hosts[uri]
        host = HostConnection(uri, self.executors, label=label, is_demo=is_demo,
                              keepalive=self._keepalive, events=self._events, reconnect=self._reconnect,
                              **self._timeouts)
        host.state_changed.connect(self._on_host_state)
        host.domain_event.connect(self._on_domain_event)
        self.hosts[uri] = host
        self.host_added.emit(host)
        return host

    async def connect_host(self, host: HostConnection, *, autoconnect: bool = True) -> bool:
        """Open ``host`` (recording it in the inventory first). Its machines load once connected."""
        self._autoconnect[host.uri] = autoconnect
        # Recorded now only when nothing of this host waits in the queue (a removal written
        # later would delete it); else, or when the database is away, its listing records it.
        if self.persist and host.uri not in self._host_ids and not self.writes.holds(host.uri):
            try:
                host_id = await self._write(self._record_host, host.uri, host.label, host.is_demo)
            except Exception as exc:
                if not database_faults.retryable(exc):
                    raise
                log.warning("host %s not recorded yet (%s): its listing records it", host.uri,
                            database_faults.describe(exc))
                host_id = None
            if host_id is not None:
                self._host_ids[host.uri] = host_id
        return await host.connect()

    async def set_host_label(self, host: HostConnection, label: str) -> None:
        """Rename the host as every pane shows it ("": its URI's short name), recorded in the
        inventory (the database's error raised when it cannot be: the label then stays as it was)."""
        if self.persist:
            await self._write(store.set_host_label, host.uri, label)
        host.label = label or display_name(host.uri)
        self.host_changed.emit(host)

    async def remove_host(self, uri: str, *, forget: bool = True) -> None:
        host = self.hosts.pop(uri, None)
        if host is None:
            return
        await host.close()
        gone = [(uri, uuid) for uuid in self._index.of_host(uri)]
        for key in gone:
            self._index.drop(key)
        if gone:
            self.machines_removed.emit(gone)
        self.host_removed.emit(host)
        if forget and self.persist:
            self._host_ids.pop(uri, None)
            self.writes.forget_host(uri)
            await self.writes.written()

    def close_all(self) -> None:
        for host in self.hosts.values():
            host.close_now()

    async def show_known(self, uris: list[str]) -> int:
        """Rows for what the inventory knows of these hosts, before they answer (and while
        they do not): last known facts, ``live`` False. A host that is connected or being
        listed is skipped (its listing is the truth). Returns how many rows were added."""
        if not self.persist or not uris:
            return 0
        known = await self._db(read_known, list(uris))
        fresh = [m for m in known if m.key not in self.machines and self._shows_known(m.host_uri)]
        for machine in fresh:
            self._index.put(machine)
        if fresh:
            self.machines_added.emit(fresh)
        return len(fresh)

    def _shows_known(self, uri: str) -> bool:
        host = self.hosts.get(uri)
        return host is not None and not host.connected and uri not in self._changed_while_listing

    def _on_host_state(self, host: HostConnection) -> None:
        with Held():  # a fleet's host gone: its rows turn last known, workers give way
            self._host_state_told(host)

    def _host_state_told(self, host: HostConnection) -> None:
        if not host.connected:
            if host.uri in self._listed:
                self._went_away.add(host.uri)
            # Events no longer keep these rows current: from now on they are last known facts.
            now = utc_now()
            gone = [m for m in self._index.of_host(host.uri).values() if m.live]
            for machine in gone:
                machine.last_known(now)
            if gone:
                self.machines_changed.emit(gone)
        self.host_changed.emit(host)
        if host.state is HostState.CONNECTED and self._auto_load:
            spawn(self.load_host(host))

    # ----- machines ------------------------------------------------------------------------
    async def load_host(self, host: HostConnection) -> None:
        """Read every machine of ``host`` and reconcile the rows with what is there now."""
        self._changed_while_listing[host.uri] = set()
        try:
            async with self._listing_slots:
                before = {(host.uri, uuid): info for uuid, info in self._index.of_host(host.uri).items()}
                # The comparison with what is known runs in the worker too, never on the GUI
                # thread (bench/responsiveness.py: the longest gap while loading).
                listed, diff = await host.call(lambda conn: list_and_compare(conn, host.uri, before),
                                               operation="list machines")
        except HypervisorError as err:
            log.warning("listing %s failed: %s", host.uri, err)
            return
        finally:
            touched = self._changed_while_listing.pop(host.uri, set())
        if self.hosts.get(host.uri) is not host or not host.connected:
            return  # removed, or gone away while listing: its rows stay last known
        self._apply_listing(host.uri, diff)
        if len(listed) >= FREEZE_AFTER:
            # The machines of a big listing live as long as the app: keep the cycle collector
            # from re-scanning them, since a full collection holds the interpreter lock (the
            # GUI gap of a bulk action, bench/responsiveness.py). Frozen objects are still
            # freed by reference counting when a newer listing or event replaces them.
            gc.freeze()
        # The listing is a snapshot from before those events: read those machines again.
        for uuid in touched:
            self._schedule_refresh(host, uuid)
        self.host_loaded.emit(host, len(listed))
        if self.persist:
            self.writes.listing(host.uri, (host.facts, listed))
            if host.uri in self._went_away and self._set_up:  # events were not heard while it was away
                spawn(self._catch_definitions_changed_away(host, [m.uuid for m in listed if m.persistent]))
        self._went_away.discard(host.uri)
        self._listed.add(host.uri)

    async def _catch_definitions_changed_away(self, host: HostConnection, uuids: list[str]) -> None:
        async with self._definition_checks:
            await self.writes.written()  # the listing's rows first: a version names its machine's row
            await catch_definitions_changed_away(host, uuids, self.executors, self.in_flow)

    def _apply_listing(self, uri: str, diff: ListingDiff) -> None:
        with Held():  # the rows of a host go to every view at once: workers give way
            self._apply(diff)

    def _apply(self, diff: ListingDiff) -> None:
        # Events that arrived while listing are read again afterwards (``touched``), so the
        # diff against the snapshot taken before the listing is enough here.
        for info in diff.present.values():
            self._index.put(info)
        added, changed = diff.added, diff.changed
        removed = [key for key in diff.removed if key in self.machines]
        for key in removed:
            self._index.drop(key)
        if removed:
            self.machines_removed.emit(removed)
        if added:
            self.machines_added.emit(added)
        if changed:
            self.machines_changed.emit(changed)

    def _on_domain_event(self, host: HostConnection, uuid: str, event: int, detail: int) -> None:
        key = (host.uri, uuid)
        known = self.machines.get(key)
        new_state = EVENT_STATES.get(event)
        if known is not None and new_state and known.state != new_state:
            # Show the new state at once; the refresh below fills in the rest.
            known.state = new_state
            self.machines_changed.emit([known])
        if host.uri in self._changed_while_listing:
            self._changed_while_listing[host.uri].add(uuid)
        self._schedule_refresh(host, uuid)
        if event == libvirt.VIR_DOMAIN_EVENT_DEFINED and self.persist and self._set_up:
            spawn(catch_definition(host, uuid, self.executors, self.in_flow))

    def _schedule_refresh(self, host: HostConnection, uuid: str) -> None:
        key = (host.uri, uuid)
        seq = self._refresh_seq.get(key, 0) + 1
        self._refresh_seq[key] = seq
        spawn(self._refresh_machine(host, uuid, seq))

    async def _refresh_machine(self, host: HostConnection, uuid: str, seq: int, *,
                               forget_if_gone: bool = False) -> None:
        key = (host.uri, uuid)

        def read(conn: libvirt.virConnect) -> MachineInfo | None:
            try:
                return read_machine(conn.lookupByUUIDString(uuid), host.uri)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                    return None  # undefined (or a transient machine that stopped)
                raise

        try:
            info = await host.call(read, operation="refresh machine")
        except HypervisorError as err:
            log.info("refresh of %s on %s failed: %s", uuid, host.uri, err)
            return
        if self._refresh_seq.get(key) != seq or self.hosts.get(host.uri) is not host or not host.connected:
            return  # a newer event's refresh will report; this answer may be stale
        self._refresh_seq.pop(key, None)
        if info is None:
            if self._index.drop(key) is not None:
                self.machines_removed.emit([key])
                if self.persist and not forget_if_gone:
                    self.writes.machine(host.uri, uuid, None)
            return
        old = self.machines.get(key)
        self._index.put(info)
        if old is None:
            self.machines_added.emit([info])
        elif old != info:
            self.machines_changed.emit([info])
        if self.persist:
            self.writes.machine(host.uri, uuid, info)

    async def follow_flow(self, changed: list[tuple[str, str]], task_id: TaskId = None) -> None:
        """Task-engine listener: machines a flow (``task_id``) defined, moved or undefined
        are read again at once; one that is gone is forgotten, without a "missing" row (a flow
        made or moved it: it is not a machine the user lost)."""
        for uri, uuid in changed:
            host = self.hosts.get(uri)
            if host is None or not host.connected:
                continue
            seq = self._refresh_seq.get((uri, uuid), 0) + 1
            self._refresh_seq[(uri, uuid)] = seq
            await self._refresh_machine(host, uuid, seq, forget_if_gone=True)
            if (uri, uuid) in self.machines and self.persist:
                await self.writes.written()  # its row first: the definition goes on it
                await keep_definition(host, uuid, self.executors, task_id)
            elif self.persist:
                # after any "missing" mark an event's refresh queued (the queue keeps the later)
                self.writes.forget(uri, [uuid])
                await self.writes.written()

    async def recorded_guest_types(self, uri: str):
        """The guest types setup recorded for ``uri`` (the local host), else None."""
        return await self._db(store.recorded_guest_types, uri) if self.persist else None

    async def read_notes(self, key: Key):
        return await self._db(machine_notes.read_notes, *key)

    async def save_notes(self, key: Key, text: str, read_version: int):
        """The saved Notes; raises machine_notes.StaleEdit when someone saved first, and
        machine_notes.NotesNotSaved (why, in words) when the database cannot be written.

        Not queued: a versioned save written later could be refused as stale with nobody
        there to see it, so the editor keeps the text and says why instead."""
        # Only changes a row that import or the listing wrote: none exist before setup.
        try:
            return await self._db(machine_notes.save_notes, *key, text, read_version)
        except machine_notes.StaleEdit:
            raise
        except Exception as exc:
            if not database_faults.retryable(exc):
                raise
            raise machine_notes.NotesNotSaved(database_faults.describe(exc)) from exc

    def record_desired(self, host_uri: str, uuids: list[str], desired: str) -> None:
        if self.persist:
            self.writes.desired(host_uri, uuids, desired)

    def set_restore_policy(self, keys: list[tuple[str, str]], policy: str = "", paused: str = "") -> None:
        """``policy``: what to restore; ``paused``: what restore does with a paused one ("" keeps it)."""
        if self.persist:
            self.writes.policy(keys, policy, paused)

    def running_snapshot(self) -> dict[str, tuple[list[str], list[str]]]:
        """Per connected host: (running UUIDs, the others), for the desired state at a clean exit."""
        snapshot = {}
        if not self._set_up:
            return snapshot  # before setup nothing is recorded, the clean exit included
        for uri, host in self.hosts.items():
            if host.connected:
                machines = self.machines_of(uri)
                snapshot[uri] = ([m.uuid for m in machines if m.state in ACTIVE_STATES],
                                 [m.uuid for m in machines if m.state not in ACTIVE_STATES])
        return snapshot

    def machines_of(self, uri: str) -> list[MachineInfo]:
        return list(self._index.of_host(uri).values())

    # ----- setup gate ----------------------------------------------------------------------
    async def check_setup(self) -> str | None:
        """Read again whether setup has run (after the wizard, say) and announce a change; once
        it has, hosts connected meanwhile are listed again, which records them and their
        machines. Returns why setup is still needed, or None."""
        if not self.persist:
            return None
        await self._db(self._writable)
        # Compared with what was announced, not with the value before the read: a write on
        # the database thread may have read the gate meanwhile without announcing it.
        if self.setup_missing != self._announced:
            self._announced = self.setup_missing
            self.setup_changed.emit(self.setup_missing)
            if self.setup_missing is None:
                for host in list(self.hosts.values()):
                    if host.connected and host.uri not in self._host_ids:
                        spawn(self.load_host(host))
        return self.setup_missing

    def _writable(self) -> bool:  # on the database thread
        if self._set_up:
            return True
        reason = store.setup_missing()
        self.setup_missing = reason
        self._set_up = reason is None
        return self._set_up

    def _record_host(self, uri: str, label: str, is_demo: bool) -> int:  # on the database thread
        host_id = store.ensure_host(uri, label, is_demo, self._autoconnect.get(uri, True))
        self._host_ids[uri] = host_id
        return host_id

    def _host_id_for(self, uri: str) -> int | None:  # on the database thread, past the gate
        host_id = self._host_ids.get(uri)
        host = self.hosts.get(uri)
        if host_id is None and host is not None and uri in self._autoconnect:
            host_id = self._record_host(uri, host.label, host.is_demo)
        return host_id

    def _write_listing(self, uri: str, listing) -> None:
        """On the database thread, past the gate: a host connected before setup ran gets its
        row with its first listing after setup."""
        facts, listed = listing
        if self.hosts.get(uri) is None:
            return  # removed meanwhile: nothing to record
        host_id = self._host_id_for(uri)  # connected through connect_host, perhaps not recorded then
        if host_id is None:
            return
        store.record_facts(host_id, facts)
        store.replace_host_machines(host_id, listed)

    # ----- database ------------------------------------------------------------------------
    async def _db(self, fn, *args):
        """Read (or write something that is not the inventory); ``_write`` for the inventory."""
        return await self.executors.on_database(fn, *args)

    async def _write(self, fn, *args):
        """``fn(*args)`` on the database thread once setup has run; None (nothing done) before."""
        return await self._db(self._if_set_up, fn, *args)

    def _if_set_up(self, fn, *args):
        return fn(*args) if self._writable() else None
