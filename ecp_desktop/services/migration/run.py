"""Running a migration as a task-engine step: progress, abort, stall timeout, cleanup.

The migrate call blocks a worker of the source host; meanwhile the step polls
``jobStats()`` about every 500 ms (and listens to MIGRATION_ITERATION / JOB_COMPLETED
where events run), reports progress, aborts when the user cancels or when no data
has moved for the stall timeout (a managed migration across a cut network stalls
with no libvirt error at all), and afterwards makes sure the machine runs on
exactly one host (settle.py). The step walks the negotiated ladder (ladder.py): a way of
migrating libvirt refuses for a reason the next may not have is recorded on the step as a
row (method, libvirt's code name and words) and the next is tried.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import libvirt

from ..core.errors import HypervisorError
from ..libvirt_xml.storage import volume_xml
from ..core.errors import Refusal
from ..hosts.lookups import find_domain, find_volume
from ..hosts.opening import open_approved
from ..libvirt_xml.marks import has_seal
from ..tasks.operations import AsyncOperation, CloneVolume, break_seal, end_marks, seal_step
from .settle import abort_and_wait, clean_up, persist_definition, settle
from .ladder import (API_MANAGED, API_P2P, FAILED, PEER_TO_PEER_APIS, REFUSED, SUCCEEDED, TRYING, Rung, moves_on,
                     tried_rows)

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5
ABORT_GRACE_SECONDS = 20.0  # after abortJob, how long the migrate call may take to return


def _progress(stats: dict) -> tuple[int, str, int]:
    """(percent, words, bytes processed so far) from a jobStats() answer."""
    total = stats.get("data_total") or (stats.get("memory_total", 0) + stats.get("disk_total", 0))
    remaining = stats.get("data_remaining", stats.get("memory_remaining", 0) + stats.get("disk_remaining", 0))
    processed = stats.get("data_processed",
                          stats.get("memory_processed", 0) + stats.get("disk_processed", 0))
    percent = int(100 * (total - remaining) / total) if total else 0
    bps = stats.get("memory_bps", 0) + stats.get("disk_bps", 0)
    parts = [f"{percent} %", f"{remaining / 2**20:.1f} MiB left"]
    if bps:
        parts.append(f"{bps / 2**20:.1f} MiB/s")
    if stats.get("memory_iteration"):
        parts.append(f"pass {stats['memory_iteration']}")
    if stats.get("downtime"):
        parts.append(f"expected downtime {stats['downtime']} ms")
    return min(max(percent, 0), 99), " · ".join(parts), processed


# Where a refused rung must leave the machine before the next is tried: on the source alone
# (a live machine), or nowhere running (a shut-off one).
_UNMOVED = {False: "source", True: "neither"}


class _RungRefused(Exception):
    """libvirt refused this rung only (ladder.moves_on) and the machine is where it was."""

    def __init__(self, error: HypervisorError) -> None:
        super().__init__(error.message)
        self.error = error


def _rung(params: dict) -> Rung:
    return Rung(params["method"], params["api"])


@dataclass
class _Watch:
    """What the step saw of the job, shared with the event callbacks."""
    last_moved: float = field(default_factory=time.monotonic)
    processed: int = -1
    iteration: int = 0
    completed: dict | None = None
    aborted_because: str = ""
    postcopy_started: bool = False


class MigrateDomain(AsyncOperation):
    """params: uuid, name, source_uri, dest_uri, method, ladder (the rungs to try: method, api,
    flags, params), methods (a row per rung: what happened to it), max_downtime_ms, postcopy,
    stall_timeout_s, dest_had_definition, persistent; prepare records was_paused and seals the
    undo on the machine (the seal travels with its definition to the destination)."""

    def machines_changed(self, params, host_uri):
        return [(params["dest_uri"], params["uuid"]), (params["source_uri"], params["uuid"])]

    def marked_hosts(self, params, host_uri):
        return [uri for uri in (params.get("source_uri") or host_uri, params.get("dest_uri")) if uri]

    def undo_data(self, params):
        return {"uuid": params["uuid"], "source_uri": params["source_uri"], "dest_uri": params["dest_uri"]}

    def prepare(self, conn, params):
        # dest_had_definition comes from the negotiation, which looked on the destination.
        dom = conn.lookupByUUIDString(params["uuid"])
        return {**seal_step(dom, self, params), "was_paused": dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED}

    def after_flow(self, conn, params):
        end_marks(conn, params)

    async def run(self, context) -> str:
        """Try the ladder's rungs in order (ladder.py): a rung libvirt refuses for a reason the
        next may not have is recorded as a row and the next is tried, once the machine is
        back on the source alone; any other failure, or the last refusal, ends the step."""
        params = context.record.params
        rungs = params["ladder"]
        refusals: list[HypervisorError] = []
        for index, rung in enumerate(rungs):
            await context.still_ours()  # fencing: never a new attempt for a flow another instance took over
            self._mark(context, index, TRYING)
            try:
                words = await self._attempt(context, {**params, **rung})
            except _RungRefused as refused:
                refusals.append(refused.error)
                self._mark(context, index, REFUSED, refused.error)
                continue
            except HypervisorError as error:
                self._mark(context, index, FAILED, error)
                raise
            self._mark(context, index, SUCCEEDED)
            return words
        reasons = [f"{_rung(rung).label}: {error.code_name}: {error.message}"
                   for rung, error in zip(rungs, refusals, strict=True)]
        raise HypervisorError("every way of migrating was refused: " + "; ".join(reasons),
                              code=refusals[-1].code, domain=refusals[-1].domain, operation="migrate",
                              machine=params["name"], host_uri=params["source_uri"])

    def _mark(self, context, index: int, verdict: str, error: HypervisorError | None = None) -> None:
        """Record what happened to one rung on the step (the dialog and the CLI show it)."""
        rows = tried_rows(context.record.params)
        if index < len(rows):
            row = rows[index]
            row.verdict = verdict
            if error is not None:
                row.code, row.message = error.code_name, error.message
            # A new dict, never edited in place: the task store may be writing the old one.
            context.record.params = {**context.record.params, "methods": [r.to_dict() for r in rows]}
            if verdict == TRYING:
                context.report(context.record.progress, f"trying {row.label}")
            else:  # the summary keeps what the attempt said (where the machine is now)
                context.engine.tasks.changed(context.record)

    async def _attempt(self, context, params: dict) -> str:
        source, destination = context.host(params["source_uri"]), context.host(params["dest_uri"])
        uuid, watch, started = params["uuid"], _Watch(), time.monotonic()
        loop = asyncio.get_running_loop()
        callbacks = await source.call(lambda conn: _listen(conn, uuid, watch, loop), operation="migrate")
        call = asyncio.ensure_future(self._migrate(source, destination, params, context.guard))
        try:
            await self._watch(context, source, call, watch, params)
            await call
        except HypervisorError as error:
            where, done = await clean_up(source, destination, params)
            if error.code_name == "MIGRATE_PERSIST_FAILED" and where == "destination" and params["persistent"]:
                # It moved, but the destination could not save its definition: save it ourselves.
                await destination.call(lambda d: persist_definition(d, params["uuid"]),
                                       operation="define after migration", machine=params["name"])
                return f"moved to {destination.label}; defined there after libvirt could not ({error.message})"
            context.record.summary = f"the machine is on the {where}" + (f"; {', '.join(done)}" if done else "")
            if watch.aborted_because:
                raise HypervisorError(f"{watch.aborted_because} ({error.message})", code=error.code,
                                      domain=error.domain, operation="migrate", machine=params["name"],
                                      host_uri=params["source_uri"]) from None
            if where == _UNMOVED[params["method"] == "offline"] and moves_on(error, _rung(params)):
                raise _RungRefused(error) from None
            raise
        finally:
            await source.call(lambda conn: _unlisten(conn, callbacks), operation="migrate")
        where, done = await destination.call_with(source, lambda d, s: settle(s, d, params),
                                                  operation="migration check", machine=params["name"])
        wanted = "neither" if params["method"] == "offline" else "destination"
        if where != wanted:
            raise HypervisorError(f"after the migration the machine is on the {where}, not the {wanted}",
                                  code=libvirt.VIR_ERR_OPERATION_FAILED, operation="migrate",
                                  machine=params["name"], host_uri=params["dest_uri"])
        stats = watch.completed or {}
        words = f"moved to {destination.label} in {time.monotonic() - started:.1f} s"
        if stats.get("downtime") is not None:
            words += f", downtime {stats['downtime']} ms"
        return words + (f"; {', '.join(done)}" if done else "")

    async def _migrate(self, source, destination, params, guard) -> None:
        """``guard()`` runs in the worker right before libvirt (the flow's fencing lease)."""
        flags, typed = int(params["flags"]), dict(params.get("params") or {})
        api = params["api"]

        def prepare_downtime(dom: libvirt.virDomain) -> None:
            if params.get("max_downtime_ms") and params["method"] != "offline":
                dom.migrateSetMaxDowntime(int(params["max_downtime_ms"]), 0)

        if api in PEER_TO_PEER_APIS:
            def p2p(conn: libvirt.virConnect) -> None:
                guard()
                dom = conn.lookupByUUIDString(params["uuid"])
                prepare_downtime(dom)
                if api == API_P2P:
                    dom.migrateToURI3(params["dest_uri"], typed, flags)
                else:
                    dom.migrateToURI2(params["dest_uri"], typed.get(libvirt.VIR_MIGRATE_PARAM_URI), None, flags,
                                      None, int(typed.get(libvirt.VIR_MIGRATE_PARAM_BANDWIDTH, 0)))
            await source.call(p2p, operation="migrate", machine=params["name"])
        else:
            def managed(conn: libvirt.virConnect, dconn: libvirt.virConnect) -> None:
                guard()
                dom = conn.lookupByUUIDString(params["uuid"])
                prepare_downtime(dom)
                if api == API_MANAGED:
                    dom.migrate3(dconn, typed, flags)
                else:
                    dom.migrate2(dconn, None, flags, None, typed.get(libvirt.VIR_MIGRATE_PARAM_URI),
                                 int(typed.get(libvirt.VIR_MIGRATE_PARAM_BANDWIDTH, 0)))
            await source.call_with(destination, managed, operation="migrate", machine=params["name"])

    async def _watch(self, context, source, call: asyncio.Future, watch: _Watch, params: dict) -> None:
        stall = float(params.get("stall_timeout_s") or 0)
        uuid = params["uuid"]
        while not call.done():
            stop = asyncio.ensure_future(context.stop.wait())
            await asyncio.wait({call, stop}, timeout=POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if call.done():
                return
            if context.stop.is_set() and not watch.aborted_because:
                await self._abort(source, uuid, watch, "cancelled by the user")
            if watch.aborted_because:
                await asyncio.wait({call}, timeout=ABORT_GRACE_SECONDS)
                if not call.done():
                    raise HypervisorError(f"{watch.aborted_because}; the migration did not end after the abort",
                                          code=libvirt.VIR_ERR_OPERATION_TIMEOUT, operation="migrate",
                                          machine=params["name"], host_uri=params["source_uri"])
                return
            try:
                stats = await source.call(lambda conn: conn.lookupByUUIDString(uuid).jobStats(),
                                          operation="migration progress")
            except HypervisorError as error:
                log.debug("no job statistics: %s", error)
                continue
            if stats.get("type", 0) == libvirt.VIR_DOMAIN_JOB_NONE:
                continue
            percent, words, processed = _progress(stats)
            context.report(percent, words)
            if processed != watch.processed:
                watch.processed, watch.last_moved = processed, time.monotonic()
            elif stall and time.monotonic() - watch.last_moved > stall:
                await self._abort(source, uuid, watch, f"stalled: no data moved for {stall:g} s, so it was aborted")
            if params.get("postcopy") and not watch.postcopy_started and stats.get("memory_iteration", 0) >= 2:
                watch.postcopy_started = True  # the first pass is done: switch the rest to post-copy
                await source.call(lambda conn: conn.lookupByUUIDString(uuid).migrateStartPostCopy(0),
                                  operation="start post-copy")

    async def _abort(self, source, uuid: str, watch: _Watch, because: str) -> None:
        watch.aborted_because = because
        try:
            await source.call(lambda conn: conn.lookupByUUIDString(uuid).abortJob(), operation="abort migration")
        except HypervisorError as error:
            log.info("abort of the migration failed: %s", error)

    def compensate(self, conn, params):
        """After a crash mid-migration: leave the machine on one host (never move it back).

        A peer-to-peer job may outlive the process that started it: abort it first, so the
        source's daemon ends it cleanly rather than finding its destination gone. Only for the
        machine that carries this step's mark, on the source or (moved) on the destination, and
        only with a destination this user approved."""
        with _open(params["dest_uri"]) as destination:
            require_migration_seal(self, conn, destination, params)
            abort_and_wait(conn, params["uuid"])
            where, done = settle(conn, destination, params)
        if where == "both":
            raise HypervisorError(f"{params['name']} runs on both hosts", code=libvirt.VIR_ERR_OPERATION_FAILED,
                                  operation="undo migrate", machine=params["name"])
        return f"{params['name']} is on the {where}" + (f"; {', '.join(done)}" if done else "")

    def undo_title(self, params):
        return f"Settle {params['name']} on one host"

    def leftover(self, params):
        return f"{params['name']} on both hosts"


def require_migration_seal(op, source: libvirt.virConnect | None, destination: libvirt.virConnect | None,
                           params: dict) -> None:
    """Refuse to touch a machine for a migration's undo unless, on either host, it carries the
    seal the migration step ``op`` put on it (it travels with its definition) (``Refusal``)."""
    for conn in (source, destination):
        dom = find_domain(conn, params["uuid"]) if conn is not None else None
        if dom is not None and has_seal(dom, params.get("mark") or "", op.name, op.undo_seal(params)):
            return
    raise Refusal(f"not settling {params.get('name') or params['uuid']}: on neither host does it carry this "
                  "migration's mark (the task record may come from elsewhere, or the migration never began); "
                  "left alone")


class PrecreateVolume(CloneVolume):
    """params: pool, name, capacity, format, path, uuid, source_uri: an empty volume on the
    destination for a copy-storage migration; undone like a clone (never one that existed, nor
    one in use). The machine it is made for is on the source, so the seal is put there (through
    a connection opened only to a host this user approved)."""

    where = " on the destination"

    def prepare(self, conn, params):
        if find_volume(conn, params["pool"], params["name"]) is not None:
            return {**params, "existed_before": True}
        with _open(params["source_uri"]) as source:
            params = seal_step(self.owner(source, params), self, params)
        return {**params, "existed_before": False}

    def compensate(self, conn, params):
        if params.get("existed_before"):
            return f"left volume {params['name']} alone: it existed before"
        if find_volume(conn, params["pool"], params["name"]) is None:
            return f"volume {params['name']} already gone"
        if not params.get("source_uri") or not params.get("uuid"):
            raise Refusal(f"not deleting volume {params['pool']}/{params['name']} on the destination: the task record "
                          "names no machine it was made for (an older version's); left alone")
        here = find_domain(conn, params["uuid"])  # moved after all: the seal travelled with it
        if here is not None and self.sealed(here, params):
            words = self.delete_made(conn, params, owner_uuid=params["uuid"])
            break_seal(here, self, params)
            return words
        with _open(params["source_uri"]) as source:
            owner = self.require_owner(source, params)
            words = self.delete_made(conn, params)
            break_seal(owner, self, params)
        return words

    def sealed(self, dom: libvirt.virDomain, params: dict) -> bool:
        return has_seal(dom, params.get("mark") or "", self.name, self.undo_seal(params))

    def execute(self, conn, params):
        conn.storagePoolLookupByName(params["pool"]).createXML(
            volume_xml(params["name"], int(params["capacity"]), params.get("format") or "", allocation=None), 0)
        return f"created {params['pool']}/{params['name']} on the destination"


def _listen(conn: libvirt.virConnect, uuid: str, watch: _Watch, loop: asyncio.AbstractEventLoop) -> list[int]:
    """MIGRATION_ITERATION and JOB_COMPLETED events for this machine, where events run."""
    dom = conn.lookupByUUIDString(uuid)

    def iteration(_c, _d, number, _o):
        loop.call_soon_threadsafe(setattr, watch, "iteration", number)

    def completed(_c, _d, stats, _o):
        loop.call_soon_threadsafe(setattr, watch, "completed", dict(stats))
    ids = []
    for event, callback in ((libvirt.VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION, iteration),
                            (libvirt.VIR_DOMAIN_EVENT_ID_JOB_COMPLETED, completed)):
        try:
            ids.append(conn.domainEventRegisterAny(dom, event, callback, None))
        except libvirt.libvirtError:
            pass  # no event loop on this connection: polling alone reports progress
    return ids


def _unlisten(conn: libvirt.virConnect, ids: list[int]) -> None:
    for callback_id in ids:
        try:
            conn.domainEventDeregisterAny(callback_id)
        except libvirt.libvirtError:
            pass


class _open:
    """A short-lived connection for blocking code (prepare and crash recovery), to a host a
    task row names: opened only when this user approved it."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def __enter__(self) -> libvirt.virConnect:
        self.conn = open_approved(self.uri, operation="migration")
        return self.conn

    def __exit__(self, *exc) -> None:
        self.conn.close()


STEPS = (MigrateDomain("migrate_domain"), PrecreateVolume("precreate_volume"))
