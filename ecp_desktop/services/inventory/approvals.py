"""Which of the inventory's hosts this user approved on this workstation (blocking: the
database thread). See config/approved_hosts.py for why a row alone is never enough."""
from __future__ import annotations

import logging

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.models.dialect import dialect

from ..config import approved_hosts
from . import store

log = logging.getLogger(__name__)


def approved_uris() -> set[str]:
    """The approved URIs. The first time on an SQLite inventory (this user's own file), the
    hosts it names are approved once; a PostgreSQL inventory's hosts wait for approval."""
    if not approved_hosts.exists() and not dialect().shared_server:
        with database.connection_context():
            if store.tables_missing(schema.Host) is None:
                uris = [h.uri for h in store.configured_hosts()]
                approved_hosts.approve(uris)
                log.info("approved the hosts of this user's own inventory file: %s", ", ".join(uris) or "none")
    return approved_hosts.approved()


def split(uris: list[str]) -> tuple[list[str], list[str]]:
    """(approved, not approved) among ``uris``, in their order."""
    allowed = approved_uris()
    return [u for u in uris if u in allowed], [u for u in uris if u not in allowed]
