"""The hosts this user approved on this workstation: the only ones this app connects to
without being told to in this session.

A host row in the inventory can come from another operator; connecting to it because the
row is there would let anyone who can write one row choose where this workstation's
credentials go. So a host is approved by this user's own act: adding it (Add Connection,
the setup wizard or ``setup``), or naming it with ``--connect``. The list lives in this
user's config directory (``approved-hosts.json``), never in the shared database.

An inventory that is an SQLite file is this user's own (0600): when the list does not
exist yet (the first start of a version that keeps it), the hosts such a file names are
approved once. A PostgreSQL inventory is shared: its hosts wait for each user's approval.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

from .private_file import write_private
from .app_config import config_path

log = logging.getLogger(__name__)
ALWAYS = {"test:///default"}  # libvirt's in-process demo host: nothing leaves the process


def list_path() -> Path:
    return config_path().with_name("approved-hosts.json")


def exists() -> bool:
    return list_path().exists()


def approved() -> set[str]:
    """The approved URIs (a damaged list approves nothing and is left for the user to see)."""
    try:
        data = json.loads(list_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return set(ALWAYS)
    except (OSError, ValueError) as exc:
        log.warning("the list of approved hosts %s cannot be read (%s): no host is approved", list_path(), exc)
        return set(ALWAYS)
    uris = data.get("hosts") if isinstance(data, dict) else None
    return set(ALWAYS) | {u for u in uris if isinstance(u, str)} if isinstance(uris, list) else set(ALWAYS)


def is_approved(uri: str) -> bool:
    return uri in approved()


def approve(uris: Iterable[str]) -> None:
    """Add ``uris`` to the list (written atomically, readable by this user only)."""
    new = set(uris) - ALWAYS
    have = approved() - ALWAYS
    if not new - have and exists():
        return
    write_private(list_path(), json.dumps({"hosts": sorted(have | new)}, indent=2) + "\n")


def unapproved_reason(uri: str) -> str:
    return ("not approved on this workstation: another operator may have added it; add it yourself "
            "(Add Connection, or --connect URI) to use it")
