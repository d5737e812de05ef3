"""A host's maintenance mark in the shared inventory (schema version 8).

The mark is a column of the host's row, so every instance on the same database sees it:
restore starts nothing on a host in maintenance (actions/restore.py) and an evacuation
never chooses it as a destination. Blocking: call these on the database thread.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ..sharing.instance import instance_id


@dataclass(frozen=True)
class Mark:
    uri: str
    by: str
    since: dt.datetime | None

    def words(self) -> str:
        return f"its host is in maintenance {self.since_words()}"

    def since_words(self) -> str:
        """"since 2026-05-04 03:02:00 UTC (set by …)": when and by whom."""
        when = self.since.strftime("%Y-%m-%d %H:%M:%S UTC") if self.since else "an unknown time"
        return f"since {when} (set by {self.by})"

    def as_json(self) -> dict:
        return {"host": self.uri, "by": self.by,
                "since": self.since.isoformat(timespec="seconds") if self.since else None}


def set_maintenance(uri: str, on: bool, by: str = "") -> bool:
    """Put the host in maintenance (``on``) or take it out; False when no host row has this URI."""
    with database.connection_context():
        H = schema.Host
        values = ({H.maintenance_by: by or instance_id(), H.maintenance_since: schema.utcnow()} if on
                  else {H.maintenance_by: "", H.maintenance_since: None})
        if not on:
            return H.update(values).where(H.uri == uri).execute() > 0 or H.select().where(H.uri == uri).exists()
        # Already in maintenance: the first mark (who, since when) stays.
        H.update(values).where((H.uri == uri) & (H.maintenance_by == "")).execute()
        return H.select().where(H.uri == uri).exists()


def in_maintenance() -> dict[str, Mark]:
    """Every host in maintenance, by URI."""
    with database.connection_context():
        H = schema.Host
        rows = H.select(H.uri, H.maintenance_by, H.maintenance_since).where(H.maintenance_by != "")
        return {r.uri: Mark(r.uri, r.maintenance_by, r.maintenance_since) for r in rows}


def mark_of(uri: str) -> Mark | None:
    return in_maintenance().get(uri)
