"""The versions of each machine's definition in the inventory (schema version 10).

A version is the definition without the app's own marks (``marks.without_app_marks``: a
flow's bookkeeping is not the machine's configuration), normalised (``layout.normalised``).
It is recorded only when the normalised definition differs from the machine's newest
one, so a definition read again (every import, two instances on a shared inventory seeing the
same change) adds nothing. Texts are stored once per SHA-256 digest of the normalised XML,
zlib-compressed. Recording trims the machine's history: the newest ``keep`` versions and every
version younger than ``keep_days`` stay. Blocking: call these on the database thread.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import zlib
from dataclasses import dataclass

import peewee

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.models.dialect import dialect
from ..core.gui_first import give_way
from ..libvirt_xml.layout import normalised, xml_diff
from ..libvirt_xml.marks import without_app_marks
from ..libvirt_xml.xmlmodel import XmlError
from ..sharing.instance import started_by
from .changes import summary

log = logging.getLogger(__name__)

APP, OUTSIDE, IMPORTED = "app", "outside", "imported"
KEEP_VERSIONS, KEEP_DAYS = 50, 90
_RACES = 3  # another instance took the next number this many times in a row: give up (the next read records)


class UnknownVersion(LookupError):
    """No such version (trimmed, or its machine forgotten)."""


@dataclass(frozen=True)
class Version:
    id: int
    number: int
    recorded_at: dt.datetime  # naive UTC, as stored
    origin: str  # APP, OUTSIDE or IMPORTED
    task_id: int | None
    by: str  # APP: the instance that wrote it ("user@host:pid:start")
    summary: str
    digest: str

    def origin_text(self) -> str:
        """Who made the version, as a person reads it: "this app (task 12, by ann on ws-2
        (process 4711))", "changed outside ECP Desktop", "imported"."""
        if self.origin == APP:
            user, _at, owner = self.by.partition("@")
            said = ([f"task {self.task_id}"] if self.task_id is not None else []) + (
                [f"by {user} on {started_by(owner)}"] if owner else [])
            return f"this app ({', '.join(said)})" if said else "this app"
        return {OUTSIDE: "changed outside ECP Desktop", IMPORTED: "imported"}.get(self.origin, self.origin)

    def as_json(self) -> dict:
        return {"id": self.id, "number": self.number, "recorded_at": self.recorded_at.isoformat() + "Z",
                "origin": self.origin, "task_id": self.task_id, "by": self.by, "summary": self.summary,
                "digest": self.digest}


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _machine_id(host_uri: str, uuid: str) -> int | None:
    M, H = schema.Machine, schema.Host
    return M.select(M.id).join(H).where((H.uri == host_uri) & (M.uuid == uuid)).scalar()


def _newest(machine_id: int) -> schema.DefinitionVersion | None:
    V = schema.DefinitionVersion
    return V.select().where(V.machine == machine_id).order_by(V.number.desc()).first()


def _stored_text(digest: str) -> str:
    body = schema.DefinitionText.select(schema.DefinitionText.body).where(
        schema.DefinitionText.digest == digest).scalar()
    if body is None:
        raise UnknownVersion(f"no stored definition with digest {digest}")
    return zlib.decompress(bytes(body)).decode()


def record(host_uri: str, uuid: str, xml: str, origin: str | None, *, task_id: int | None = None, by: str = "",
           keep: int = KEEP_VERSIONS, keep_days: int = KEEP_DAYS) -> Version | None:
    """Record ``xml`` as the machine's newest version unless it already is (None then, or
    when the machine has no row or ``xml`` is not a definition). ``origin``: APP for a flow of
    this app; None for a definition found (IMPORTED for a machine's first, OUTSIDE after)."""
    try:
        text = normalised(without_app_marks(xml))
    except XmlError as exc:
        log.info("definition of %s on %s not recorded: %s", uuid, host_uri, exc)
        return None
    digest = digest_of(text)
    T, V = schema.DefinitionText, schema.DefinitionVersion
    with database.connection_context(), dialect().write_transaction(database):
        machine_id = _machine_id(host_uri, uuid)
        if machine_id is None:
            return None
        T.insert(digest=digest, body=zlib.compress(text.encode())).on_conflict_ignore().execute()
        for _attempt in range(_RACES):
            newest = _newest(machine_id)
            if newest is not None and newest.digest_id == digest:
                return None
            previous = None if newest is None else _stored_text(newest.digest_id)
            kind = origin or (IMPORTED if newest is None else OUTSIDE)
            try:
                with database.atomic():  # a savepoint: a lost race leaves the transaction usable
                    row = V.create(machine=machine_id, number=1 if newest is None else newest.number + 1,
                                   origin=kind, task_id=task_id, by=by if kind == APP else "",
                                   summary=summary(previous, text), digest=digest)
            except peewee.IntegrityError:
                continue  # another instance recorded a version meanwhile: compare with that one
            _trim(machine_id, row.number, keep, keep_days)
            return _version(row)
    return None


BATCH = 400  # rows per statement (under SQLite's variable limit)


def record_found_many(host_uri: str, found: list[tuple[str, str]], *, keep: int = KEEP_VERSIONS,
                      keep_days: int = KEEP_DAYS, read_after: dict[str, str | None] | None = None) -> int:
    """``record(host_uri, uuid, xml, None)`` for each (uuid, xml) a host's listing read (an
    import of thousands of machines), in one transaction and a few statements per BATCH; how
    many versions were recorded. A version another instance recorded meanwhile under the same
    number wins (the next read compares with it). ``read_after``: each machine's newest digest
    (None: no version) when its XML was read; a machine whose newest version is another one
    now is skipped (the XML may be older than that version, which a flow recorded meanwhile)."""
    texts: dict[str, str] = {}
    for uuid, xml in found:
        give_way()  # parsing thousands of definitions: the GUI thread first
        try:
            texts[uuid] = normalised(without_app_marks(xml))
        except XmlError as exc:
            log.info("definition of %s on %s not recorded: %s", uuid, host_uri, exc)
    M, H, T, V = schema.Machine, schema.Host, schema.DefinitionText, schema.DefinitionVersion
    recorded = 0
    with database.connection_context(), dialect().write_transaction(database):
        uuids = list(texts)
        for start in range(0, len(uuids), BATCH):
            chunk = uuids[start:start + BATCH]
            ids = dict(M.select(M.uuid, M.id).join(H).where((H.uri == host_uri) & M.uuid.in_(chunk)).tuples())
            newest_number = dict(V.select(V.machine, peewee.fn.MAX(V.number)).where(V.machine.in_(list(ids.values())))
                                 .group_by(V.machine).tuples())
            newest_digest = {m: d for m, n, d in V.select(V.machine, V.number, V.digest).where(
                V.machine.in_(list(newest_number))).tuples() if newest_number.get(m) == n}
            wanted = [(uuid, ids[uuid]) for uuid in chunk
                      if uuid in ids and newest_digest.get(ids[uuid]) != digest_of(texts[uuid])
                      and (read_after is None or read_after.get(uuid) == newest_digest.get(ids[uuid]))]
            if not wanted:
                continue
            T.insert_many([{"digest": digest_of(texts[u]), "body": zlib.compress(texts[u].encode())}
                           for u, _m in wanted]).on_conflict_ignore().execute()
            rows = []
            for uuid, machine_id in wanted:
                number = newest_number.get(machine_id)
                previous = None if number is None else _stored_text(newest_digest[machine_id])
                rows.append({"machine": machine_id, "number": 1 if number is None else number + 1,
                             "origin": IMPORTED if number is None else OUTSIDE, "task_id": None, "by": "",
                             "summary": summary(previous, texts[uuid]), "digest": digest_of(texts[uuid])})
            V.insert_many(rows).on_conflict_ignore().execute()
            recorded += len(rows)
            for row in rows:
                if row["number"] > keep:
                    _trim(row["machine"], row["number"], keep, keep_days)
    return recorded


def newest_digests(host_uri: str, uuids: list[str]) -> dict[str, str | None]:
    """Each of the host's machines' newest version's digest (None: no version yet); UUIDs
    without a row are left out."""
    M, H, V = schema.Machine, schema.Host, schema.DefinitionVersion
    found: dict[str, str | None] = {}
    with database.connection_context():
        for start in range(0, len(uuids), BATCH):
            chunk = uuids[start:start + BATCH]
            ids = dict(M.select(M.id, M.uuid).join(H).where((H.uri == host_uri) & M.uuid.in_(chunk)).tuples())
            found.update(dict.fromkeys(ids.values()))
            newest_number = dict(V.select(V.machine, peewee.fn.MAX(V.number)).where(V.machine.in_(list(ids)))
                                 .group_by(V.machine).tuples())
            for machine_id, number, digest in V.select(V.machine, V.number, V.digest).where(
                    V.machine.in_(list(newest_number))).tuples():
                if newest_number[machine_id] == number:
                    found[ids[machine_id]] = digest
    return found


def _trim(machine_id: int, newest: int, keep: int, keep_days: int) -> None:
    V, T = schema.DefinitionVersion, schema.DefinitionText
    cutoff = schema.utcnow() - dt.timedelta(days=keep_days)
    old = V.select(V.id, V.digest).where((V.machine == machine_id) & (V.number <= newest - max(keep, 1))
                                         & (V.recorded_at < cutoff))
    rows = list(old.tuples())
    if not rows:
        return
    V.delete().where(V.id.in_([r[0] for r in rows])).execute()
    digests = {r[1] for r in rows}
    used = {d for (d,) in V.select(V.digest).where(V.digest.in_(digests)).tuples()}
    if digests - used:
        T.delete().where(T.digest.in_(digests - used)).execute()


def _version(row: schema.DefinitionVersion) -> Version:
    return Version(row.id, row.number, row.recorded_at, row.origin, row.task_id, row.by, row.summary, row.digest_id)


def versions(host_uri: str, uuid: str) -> list[Version]:
    """The machine's versions, newest first (empty: none recorded, or no such machine)."""
    V = schema.DefinitionVersion
    with database.connection_context():
        machine_id = _machine_id(host_uri, uuid)
        if machine_id is None:
            return []
        return [_version(row) for row in V.select().where(V.machine == machine_id).order_by(V.number.desc())]


def text(version_id: int) -> str:
    """The version's normalised definition."""
    V = schema.DefinitionVersion
    with database.connection_context():
        digest = V.select(V.digest).where(V.id == version_id).scalar()
        if digest is None:
            raise UnknownVersion(f"there is no definition version {version_id}")
        return _stored_text(digest)


def diff(old_id: int, new_id: int) -> str:
    """A unified diff from one version to another ("" when their definitions are equal)."""
    V = schema.DefinitionVersion
    with database.connection_context():
        numbers = dict(V.select(V.id, V.number).where(V.id.in_([old_id, new_id])).tuples())
    for wanted in (old_id, new_id):
        if wanted not in numbers:
            raise UnknownVersion(f"there is no definition version {wanted}")
    return xml_diff(text(old_id), text(new_id), f"version {numbers[old_id]}", f"version {numbers[new_id]}")


def diff_with_previous(version_id: int) -> str:
    """What the version changed: a diff against the machine's version before it (for its
    first one, the whole definition as added lines)."""
    V = schema.DefinitionVersion
    with database.connection_context():
        row = V.get_or_none(V.id == version_id)
        if row is None:
            raise UnknownVersion(f"there is no definition version {version_id}")
        before = (V.select(V.id).where((V.machine == row.machine_id) & (V.number < row.number))
                  .order_by(V.number.desc()).scalar())
        new_text = _stored_text(row.digest_id)
    if before is None:
        return "".join(f"+{line}\n" for line in new_text.splitlines())
    return diff(before, version_id)
