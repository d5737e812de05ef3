"""Each persistent machine's last known definition (schema version 9), and what the inventory
records when a dead host's machines were brought up elsewhere.

Import writes the definition (importer.py: the XML it reads anyway, written when it changed),
and so does every flow that defines or changes a machine (``keep_definition``).
Here it is read back for a host that no longer answers, and, once its machines run on another
host, the inventory's rows follow: the new host's row gets the definition and the user's
choices (restore policies, notes), and the old host's row is told never to start (restore on
that host, should it come back with the machine still defined, must not start a second copy
writing the same disks). Blocking (but ``keep_definition``): call these on the database thread.
"""
from __future__ import annotations

import getpass
import logging
from collections.abc import Callable
from dataclasses import dataclass

import libvirt

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ..config import preferences
from ..core.gui_first import give_way
from ..history import versions as history
from ..libvirt_xml.domain import Domain
from ..sharing.instance import INSTANCE_ID
from ..libvirt_xml.xmlmodel import XmlError
from .store import ensure_host

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KnownMachine:
    """A machine as the inventory last knew it on its host."""
    uuid: str
    name: str
    state: str
    memory_kib: int
    vcpus: int
    persistent: bool
    definition: str | None  # None: never read (not imported yet) or transient


def known_machines(host_uri: str) -> list[KnownMachine]:
    """The host's machines the inventory has not marked missing, with their last definition."""
    with database.connection_context():
        M, H = schema.Machine, schema.Host
        query = (M.select(M.uuid, M.name, M.state, M.memory_kib, M.vcpus, M.persistent, M.definition)
                 .join(H).where((H.uri == host_uri) & (M.missing == False)).order_by(M.name))  # noqa: E712
        return [KnownMachine(r.uuid, r.name, r.state, int(r.memory_kib or 0), int(r.vcpus or 0), bool(r.persistent),
                             r.definition) for r in query]


def stored_disk_users() -> dict[str, list[tuple[str, str]]]:
    """Storage (a path, ``pool/volume``) -> (UUID, name) of every machine on any host whose
    last definition names it. Rows are data: this only ever refuses (a disk another machine
    may use is not taken), it never lets anything through."""
    users: dict[str, list[tuple[str, str]]] = {}
    with database.connection_context():
        M = schema.Machine
        rows = M.select(M.uuid, M.name, M.definition).where(M.definition.is_null(False) & (M.missing == False))  # noqa: E712
        for row in rows.iterator():
            try:
                disks = list(Domain.from_xml(row.definition).disks)
            except XmlError:
                continue
            for disk in disks:
                for key in disk.keys():
                    users.setdefault(key, []).append((row.uuid, row.name))
    return users


def record_recovered(source_uri: str, dest_uri: str, uuid: str, name: str, definition: str) -> None:
    """``uuid`` of ``source_uri`` (a dead host) now runs on ``dest_uri`` from ``definition``.

    The destination's row (the listing may have written it already, or will: either order
    gives the same row) gets the definition, "should run", and the source row's restore and
    paused policies and notes; the source's row is left as history, shut off and never restored."""
    M, H = schema.Machine, schema.Host
    with database.connection_context(), database.atomic():
        old = (M.select(M.restore_policy, M.paused_policy, M.notes, M.vcpus, M.memory_kib).join(H)
               .where((H.uri == source_uri) & (M.uuid == uuid)).first())
        kept = {"restore_policy": old.restore_policy if old else "last",
                "paused_policy": old.paused_policy if old else M.paused_policy.default,
                "notes": old.notes if old else ""}
        host_id = ensure_host(dest_uri, "", False)
        (M.insert(host=host_id, uuid=uuid, name=name, state="running", vcpus=old.vcpus if old else 0,
                  memory_kib=old.memory_kib if old else 0, persistent=True, definition=definition,
                  desired_state="running", **kept)
         .on_conflict(conflict_target=[M.host, M.uuid],
                      update={M.definition: definition, M.desired_state: "running", M.missing: False,
                              **{getattr(M, k): v for k, v in kept.items()}})
         .execute())
        if old is not None:
            source = H.select(H.id).where(H.uri == source_uri)
            M.update(desired_state="shutoff", restore_policy="never").where(
                M.host.in_(source) & (M.uuid == uuid)).execute()


# A flow's task id, or how to read it on the database thread: a task's row is queued on that
# thread before the flow runs, so by the time a definition is written there its id is known.
TaskId = int | Callable[[], int | None] | None


def write_definition(host_uri: str, uuid: str, xml: str, task_id: TaskId = None) -> None:
    """The machine's definition now, on its existing row and as its newest version in the
    history, written by this app (a flow made or changed it: ``task_id``)."""
    task_id = task_id() if callable(task_id) else task_id
    M, H = schema.Machine, schema.Host
    with database.connection_context():
        M.update(definition=xml).where(M.host.in_(H.select(H.id).where(H.uri == host_uri))
                                       & (M.uuid == uuid) & (M.definition.is_null() | (M.definition != xml))).execute()
        prefs = preferences.current()
        history.record(host_uri, uuid, xml, history.APP, task_id=task_id, by=operator(),
                       keep=prefs.history_keep_versions, keep_days=prefs.history_keep_days)


def record_found_many(host_uri: str, found: list[tuple[str, str]],
                      read_after: dict[str, str | None] | None = None) -> int:
    """``record_found`` for each (uuid, definition) an import read, in one transaction
    (``read_after``: see ``history.record_found_many``)."""
    prefs = preferences.current()
    return history.record_found_many(host_uri, found, keep=prefs.history_keep_versions,
                                     keep_days=prefs.history_keep_days, read_after=read_after)


def record_found(host_uri: str, uuid: str, xml: str) -> history.Version | None:
    """A definition read from the host (import, reconnect, a "defined" event): a new version
    if it differs from the newest one, "imported" for the machine's first, else "outside"."""
    prefs = preferences.current()
    return history.record(host_uri, uuid, xml, None, keep=prefs.history_keep_versions,
                          keep_days=prefs.history_keep_days)


def operator() -> str:
    """Who writes with this app: the login name at the app instance ("user@host:pid:start")."""
    return f"{getpass.getuser()}@{INSTANCE_ID}"


async def _read_definition(host, uuid: str) -> str | None:
    """The machine's inactive definition (None: transient, or gone meanwhile)."""
    def read(conn: libvirt.virConnect) -> str | None:
        try:
            dom = conn.lookupByUUIDString(uuid)
            return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) if dom.isPersistent() else None
        except libvirt.libvirtError:
            return None  # gone meanwhile: nothing to keep
    return await host.call(read, operation="read definition")


async def keep_definition(host, uuid: str, executors, task_id: TaskId = None) -> None:
    """After a flow defined or edited a persistent machine (New Machine, a template, Edit
    Hardware, a migration), its row gets the definition at once, and its history a version by
    this app (``task_id``: the flow): a dead host's recovery must not start a machine
    from what import saw weeks ago. Never raises: the next import writes it."""
    try:
        xml = await _read_definition(host, uuid)
        if xml:
            await executors.on_database(write_definition, host.uri, uuid, xml, task_id)
    except Exception as exc:  # noqa: BLE001  (a host or the database away: the next import writes it)
        log.info("definition of %s on %s not kept now: %s", uuid, host.uri, exc)


async def catch_definition(host, uuid: str, executors, in_flow: Callable[[str, str], bool]) -> None:
    """libvirt said the machine was defined: unless a flow (of any instance sharing the
    inventory) is changing it, which records its own version, a definition that differs from
    the newest version is recorded as changed outside the app. Never raises."""
    def record_unless_in_flow(xml: str) -> None:
        if not in_flow(host.uri, uuid):
            record_found(host.uri, uuid, xml)
    try:
        xml = await _read_definition(host, uuid)
        if xml:
            await executors.on_database(record_unless_in_flow, xml)
    except Exception as exc:  # noqa: BLE001  (a host or the database away: the next import records it)
        log.info("definition of %s on %s not checked now: %s", uuid, host.uri, exc)


CHECK_CHUNK = 200  # machines whose definitions a reconnect reads and records at a time


async def catch_definitions_changed_away(host, uuids: list[str], executors,
                                         in_flow: Callable[[str, str], bool]) -> int:
    """After a reconnect: the persistent machines ``uuids`` of ``host`` whose definition
    changed while it was away (``virsh edit`` meanwhile) get a version "changed outside", as a
    "defined" event would have given them. In chunks of CHECK_CHUNK, each read on the host's
    worker (giving way to the GUI thread between machines) and recorded in one transaction, so
    a 10,000-machine host holds neither thread long. A machine in a flow, or whose newest version
    changed while its chunk was read, is left to the flow and the next check. How many versions
    were recorded; never raises (a host or the database away: the next reconnect checks)."""
    def read(conn: libvirt.virConnect, chunk: list[str]) -> list[tuple[str, str]]:
        found = []
        for uuid in chunk:
            give_way()
            try:
                dom = conn.lookupByUUIDString(uuid)
                if dom.isPersistent():
                    found.append((uuid, dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)))
            except libvirt.libvirtError:
                continue  # undefined meanwhile: its row goes with the next event
        return found

    def record_unless_in_flow(found: list[tuple[str, str]], read_after: dict[str, str | None]) -> int:
        return record_found_many(host.uri, [(u, xml) for u, xml in found if not in_flow(host.uri, u)], read_after)

    recorded = 0
    try:
        for start in range(0, len(uuids), CHECK_CHUNK):
            chunk = uuids[start:start + CHECK_CHUNK]
            read_after = await executors.on_database(history.newest_digests, host.uri, chunk)
            wanted = [u for u in chunk if u in read_after]
            if not wanted:
                continue
            found = await host.call(lambda conn, w=wanted: read(conn, w), operation="read definitions")
            recorded += await executors.on_database(record_unless_in_flow, found, read_after)
    except Exception as exc:  # noqa: BLE001  (a host or the database away: the next reconnect checks)
        log.info("definitions of %s not checked now: %s", host.uri, exc)
    return recorded
