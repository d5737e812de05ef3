"""The machines the inventory knows, read from the database before any host answers.

A host that is down, slow or far away still has its machines on screen, with their last
known facts and when they were last seen: that is when an operator most needs them."""
from __future__ import annotations

from datetime import datetime, timezone

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ..hosts.states import STATE_LABELS
from .machines import MachineInfo
from .store import CHUNK, tables_missing


def read_known(uris: list[str]) -> list[MachineInfo]:
    """On the database thread: every machine of these hosts the inventory has not marked
    missing, as last known rows (``live`` False). Before setup there is nothing to read."""
    with database.connection_context():
        if tables_missing(schema.Machine, schema.Host):
            return []
        m, h = schema.Machine, schema.Host
        rows = []
        for start in range(0, len(uris), CHUNK):
            query = (m.select(h.uri, m.uuid, m.name, m.state, m.vcpus, m.memory_kib, m.autostart, m.persistent,
                              m.last_seen_at)
                     .join(h).where(h.uri.in_(uris[start:start + CHUNK]) & (m.missing == False)))  # noqa: E712
            # The driver's rows as they come: peewee's per-value conversions took three times
            # the read itself for 10,000 rows, and the window waits for these (bench/inventory_first.py).
            rows += database.execute_sql(*query.sql()).fetchall()
    # A listing writes one time for all its rows: each distinct time is read once.
    times = {seen: _utc(seen) for seen in {row[8] for row in rows}}
    # Positional arguments, in MachineInfo's field order (about half the time of keywords).
    return [MachineInfo(uri, uuid, name,
                        state if state in STATE_LABELS else "nostate",  # another copy's word, checked
                        int(vcpus or 0), int(memory or 0), bool(autostart), bool(persistent), False, times[seen])
            for uri, uuid, name, state, vcpus, memory, autostart, persistent, seen in rows]


def _utc(value) -> datetime | None:
    """The database keeps naive UTC times (schema.utcnow); some backends hand back text."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
