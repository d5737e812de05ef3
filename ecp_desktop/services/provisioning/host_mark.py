"""Whether a host takes new machines: its maintenance mark, read from the host's row of the
shared inventory (the columns ``services/maintenance/mark.py`` writes). Read here, as
``actions/restore.py`` reads it, because provisioning sits below the maintenance service in
the layers. Blocking: call it on the database thread."""
from __future__ import annotations

from ecp_desktop.models import schema
from ecp_desktop.models.db import database


def maintenance_refusal(uri: str, label: str) -> str | None:
    """Why no new machine may be made on the host (it is in maintenance), in words, or None."""
    with database.connection_context():
        H = schema.Host
        row = H.select(H.maintenance_by, H.maintenance_since).where(H.uri == uri).first()
    if row is None or not row.maintenance_by:
        return None
    since = row.maintenance_since.strftime("%Y-%m-%d %H:%M:%S UTC") if row.maintenance_since else "an unknown time"
    return f"{label} is in maintenance since {since} (set by {row.maintenance_by}): no new machines there"
