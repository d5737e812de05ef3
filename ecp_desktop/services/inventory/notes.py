"""Operators' notes on a machine, safe when several people edit them at once.

Each save names the version it was made on; the database applies it only if the row
is still at that version (one conditional UPDATE, so two instances cannot both win),
otherwise the edit is refused with the other person's text. Saving again after that
is a deliberate overwrite.
"""
from __future__ import annotations

from dataclasses import dataclass

from ecp_desktop.models import schema
from ecp_desktop.models.db import database

from ..core.errors import Refusal


@dataclass
class Notes:
    text: str
    version: int


class StaleEdit(Exception):
    """The notes changed since they were read; ``current`` is what is there now."""

    def __init__(self, current: Notes) -> None:
        super().__init__(f"someone else changed these notes meanwhile (now version {current.version}): "
                         f"{current.text!r}")
        self.current = current


class UnknownMachine(LookupError):
    pass


def _row(host_uri: str, uuid: str):
    host = schema.Host.select(schema.Host.id).where(schema.Host.uri == host_uri)
    return schema.Machine.host.in_(host) & (schema.Machine.uuid == uuid)


def read_notes(host_uri: str, uuid: str) -> Notes:
    with database.connection_context():
        row = (schema.Machine.select(schema.Machine.notes, schema.Machine.version)
               .where(_row(host_uri, uuid)).first())
    if row is None:
        raise UnknownMachine(f"{uuid} on {host_uri} is not in the inventory")
    return Notes(row.notes, row.version)


def save_notes(host_uri: str, uuid: str, text: str, read_version: int) -> Notes:
    """Save ``text`` made on ``read_version``; the new Notes, or StaleEdit."""
    with database.connection_context(), database.atomic():
        changed = (schema.Machine.update(notes=text, version=schema.Machine.version + 1)
                   .where(_row(host_uri, uuid) & (schema.Machine.version == read_version)).execute())
        if changed:
            return Notes(text, read_version + 1)
    raise StaleEdit(read_notes(host_uri, uuid))


def known_machines(name_or_uuid: str, host_uri: str | None = None) -> list[tuple[str, str, str]]:
    """(host URI, UUID, name) of the inventory's machines with that name or UUID, on
    ``host_uri`` when given: what a machine can be found by while its host is away."""
    M, H = schema.Machine, schema.Host
    with database.connection_context():
        query = (M.select(H.uri, M.uuid, M.name).join(H)
                 .where((M.name == name_or_uuid) | (M.uuid == name_or_uuid)))
        if host_uri:
            query = query.where(H.uri == host_uri)
        return [(row.host.uri, row.uuid, row.name) for row in query]


class NotesNotSaved(Refusal):
    """The database cannot be written now (why, in words): the save is refused, not queued,
    so that the editor keeps the text and nobody believes it saved."""

    def __init__(self, why: str) -> None:
        super().__init__(f"not saved: {why}; the text is kept, save again once the database is back")
        self.why = why
