"""Running a migration as a task-engine step: progress, abort, stall timeout, cleanup.

The migrate call blocks a worker of the source host; meanwhile the step polls
``jobStats()`` about every 500 ms (and listens to MIGRATION_ITERATION / JOB_COMPLETED
where events run), reports progress, aborts when the user cancels or when no data
has moved for the stall timeout (a managed migration across a cut network stalls
with no libvirt error at all), and afterwards makes sure the machine runs on
exactly one host: a source left paused is resumed, an incoming leftover on the
destination is removed, a destination definition the step created is undefined.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import libvirt

from ..core.errors import HypervisorError
from ..hosts.domain_xml import escape, read_domain
from ..hosts.lookups import find_domain
from ..hosts.opening import open_connection
from ..tasks.operations import OPERATIONS, AsyncOperation, CloneVolume

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5
ABORT_GRACE_SECONDS = 20.0  # after abortJob, how long the migrate call may take to return
PAUSED_BY_MIGRATION = {libvirt.VIR_DOMAIN_PAUSED_MIGRATION, libvirt.VIR_DOMAIN_PAUSED_POSTCOPY_FAILED,
                       libvirt.VIR_DOMAIN_PAUSED_POSTCOPY}


def settle(source: libvirt.virConnect, destination: libvirt.virConnect | None,
           params: dict) -> tuple[str, list[str]]:
    """Leave the machine on exactly one host; return where it runs and what was done.

    Where: "destination", "source", "neither" (shut off, or lost) or "both" (never
    resolved by force: two running copies need a person to decide). Without the
    destination (its daemon is gone) only the source is put right.
    """
    uuid, done = params["uuid"], []
    src = find_domain(source, uuid)
    dst = find_domain(destination, uuid) if destination is not None else None
    src_state = src.state() if src is not None else None
    dst_state = dst.state() if dst is not None else None
    src_active = src_state is not None and src_state[0] != libvirt.VIR_DOMAIN_SHUTOFF
    dst_active = dst_state is not None and dst_state[0] != libvirt.VIR_DOMAIN_SHUTOFF
    dst_incoming = dst_active and dst_state == [libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_MIGRATION]
    if src_active and dst_incoming:
        dst.destroy()  # the half-received copy; the source still has the machine
        done.append("removed the incoming copy on the destination")
        dst_active = False
        dst = find_domain(destination, uuid)
    if dst_active and src_active:
        return "both", done
    if src_active and src_state[0] == libvirt.VIR_DOMAIN_PAUSED and src_state[1] in PAUSED_BY_MIGRATION \
            and not params.get("was_paused"):
        src.resume()
        done.append("resumed the machine on the source")
    if src_active and dst is not None and not params.get("dest_had_definition") and not dst.isActive():
        dst.undefine()
        done.append("removed the definition left on the destination")
    if dst_active:
        return "destination", done
    return ("source" if src_active else "neither"), done


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
    """params: uuid, name, source_uri, dest_uri, method, flags, params (typed migrate params),
    max_downtime_ms, postcopy, stall_timeout_s; prepare records was_paused and dest_had_definition."""

    def machines_changed(self, params, host_uri):
        return [(params["dest_uri"], params["uuid"]), (params["source_uri"], params["uuid"])]

    def prepare(self, conn, params):
        # dest_had_definition comes from the negotiation, which looked on the destination.
        state = conn.lookupByUUIDString(params["uuid"]).state()
        return {**params, "was_paused": state[0] == libvirt.VIR_DOMAIN_PAUSED}

    async def run(self, context) -> str:
        params = context.record.params
        source, destination = context.host(params["source_uri"]), context.host(params["dest_uri"])
        uuid, watch, started = params["uuid"], _Watch(), time.monotonic()
        loop = asyncio.get_running_loop()
        callbacks = await source.call(lambda conn: _listen(conn, uuid, watch, loop), operation="migrate")
        call = asyncio.ensure_future(self._migrate(source, destination, params))
        try:
            await self._watch(context, source, call, watch, params)
            await call
        except HypervisorError as error:
            where, done = await _clean_up(source, destination, params)
            if error.code_name == "MIGRATE_PERSIST_FAILED" and where == "destination" and params["persistent"]:
                # It moved, but the destination could not save its definition: save it ourselves.
                await destination.call(lambda d: _persist(d, params["uuid"]), operation="define after migration",
                                       machine=params["name"])
                return f"moved to {destination.label}; defined there after libvirt could not ({error.message})"
            context.record.summary = f"the machine is on the {where}" + (f"; {', '.join(done)}" if done else "")
            if watch.aborted_because:
                raise HypervisorError(f"{watch.aborted_because} ({error.message})", code=error.code,
                                      domain=error.domain, operation="migrate", machine=params["name"],
                                      host_uri=params["source_uri"]) from None
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

    async def _migrate(self, source, destination, params) -> None:
        flags, typed = int(params["flags"]), dict(params.get("params") or {})

        def prepare_downtime(dom: libvirt.virDomain) -> None:
            if params.get("max_downtime_ms") and params["method"] != "offline":
                dom.migrateSetMaxDowntime(int(params["max_downtime_ms"]), 0)

        if flags & libvirt.VIR_MIGRATE_PEER2PEER:
            def p2p(conn: libvirt.virConnect) -> None:
                dom = conn.lookupByUUIDString(params["uuid"])
                prepare_downtime(dom)
                dom.migrateToURI3(params["dest_uri"], typed, flags)
            await source.call(p2p, operation="migrate", machine=params["name"])
        else:
            def managed(conn: libvirt.virConnect, dconn: libvirt.virConnect) -> None:
                dom = conn.lookupByUUIDString(params["uuid"])
                prepare_downtime(dom)
                dom.migrate3(dconn, typed, flags)
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
        source's daemon ends it cleanly rather than finding its destination gone."""
        _abort_and_wait(conn, params["uuid"])
        with _open(params["dest_uri"]) as destination:
            where, done = settle(conn, destination, params)
        if where == "both":
            raise HypervisorError(f"{params['name']} runs on both hosts", code=libvirt.VIR_ERR_OPERATION_FAILED,
                                  operation="undo migrate", machine=params["name"])
        return f"{params['name']} is on the {where}" + (f"; {', '.join(done)}" if done else "")

    def undo_title(self, params):
        return f"Settle {params['name']} on one host"

    def leftover(self, params):
        return f"{params['name']} on both hosts"


class PrecreateVolume(CloneVolume):
    """params: pool, name, capacity, format, path: an empty volume on the destination for a
    copy-storage migration; undone like a clone (never one that existed, nor one in use)."""

    where = " on the destination"

    def execute(self, conn, params):
        fmt = f"<target><format type='{params['format']}'/></target>" if params.get("format") else ""
        conn.storagePoolLookupByName(params["pool"]).createXML(
            f"<volume><name>{escape(params['name'])}</name>"
            f"<capacity unit='bytes'>{int(params['capacity'])}</capacity>{fmt}</volume>", 0)
        return f"created {params['pool']}/{params['name']} on the destination"


def _abort_and_wait(conn: libvirt.virConnect, uuid: str, timeout: float = 30.0) -> None:
    dom = find_domain(conn, uuid)
    if dom is None or not dom.isActive():
        return
    try:
        if dom.jobInfo()[0] in (libvirt.VIR_DOMAIN_JOB_NONE, libvirt.VIR_DOMAIN_JOB_COMPLETED):
            return
        dom.abortJob()
    except libvirt.libvirtError as exc:
        log.info("no job to abort on %s: %s", uuid, exc)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if dom.jobInfo()[0] in (libvirt.VIR_DOMAIN_JOB_NONE, libvirt.VIR_DOMAIN_JOB_COMPLETED):
                return
        except libvirt.libvirtError:
            return  # the domain left this host (the job completed after all)
        time.sleep(0.2)


def _persist(conn: libvirt.virConnect, uuid: str) -> None:
    conn.defineXML(read_domain(conn.lookupByUUIDString(uuid), libvirt.VIR_DOMAIN_XML_MIGRATABLE).xml)


async def _clean_up(source, destination, params: dict) -> tuple[str, list[str]]:
    try:
        return await destination.call_with(source, lambda d, s: settle(s, d, params),
                                           operation="migration cleanup", machine=params["name"])
    except HypervisorError as error:
        log.info("destination unreachable for the cleanup (%s); putting the source right", error)
    try:
        where, done = await source.call(lambda s: settle(s, None, params), operation="migration cleanup",
                                        machine=params["name"])
        return where, done + ["the destination could not be checked"]
    except HypervisorError as error:
        return "unknown host", [f"no cleanup: {error.message}"]


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
    """A short-lived connection for blocking code (prepare and crash recovery)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def __enter__(self) -> libvirt.virConnect:
        self.conn = open_connection(self.uri)
        return self.conn

    def __exit__(self, *exc) -> None:
        self.conn.close()


OPERATIONS.update({op.name: op for op in (MigrateDomain("migrate_domain"), PrecreateVolume("precreate_volume"))})
