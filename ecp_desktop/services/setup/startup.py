"""Start-up decisions shared by the GUI and the headless commands (Qt-free)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import peewee

from ecp_desktop.models import upgrades
from ecp_desktop.models.db import DatabaseUrlError, default_sqlite_url, open_database, scrub, without_password
from ..config import app_config, credentials
from ..hosts.probe import DEMO_LABEL, DEMO_URI, probe
from ..inventory import store

DATA_DIR_NAME = "ecp-desktop"


def data_dir() -> Path:
    return Path(platformdirs.user_data_dir(DATA_DIR_NAME, appauthor=False))


def database_url(explicit: str | None) -> str:
    """--database, else $ECP_DESKTOP_DATABASE, else the one setup chose, else SQLite in the
    platform data directory."""
    return (explicit or os.environ.get("ECP_DESKTOP_DATABASE") or app_config.saved_database_url()
            or default_sqlite_url(data_dir()))


def not_set_up_line(reason: str, how: str = "run 'ecp-desktop setup'") -> str:
    """The one line saying setup has not run, why we know, and how to run it (``how``: the
    window names its own button). Before setup the inventory records nothing (store.setup_missing)."""
    return f"Setup has not run ({reason}): showing live state only, nothing is recorded; to set up, {how}"


def setup_needed(explicit: str | None) -> bool:
    """A first start: no database was named and setup has never chosen one."""
    return not (explicit or os.environ.get("ECP_DESKTOP_DATABASE") or app_config.saved_database_url())


def open_inventory(url: str) -> peewee.Database:
    """Open the database and bring its schema up to date. Raises DatabaseUrlError in plain words."""
    return _open(url, upgrade=True)


def open_for_setup(url: str) -> peewee.Database:
    """Open the database for setup, which makes or upgrades the tables itself and says so:
    only checks that it answers and is not of a newer schema. DatabaseUrlError in plain words."""
    return _open(url, upgrade=False)


def _open(url: str, *, upgrade: bool) -> peewee.Database:
    credentials.register_database_passwords()  # the keyring and this session's answers, for PostgreSQL
    db = open_database(url)
    try:
        db.connect(reuse_if_open=True)
        have = upgrades.current_version(db)
        if have > upgrades.LATEST_VERSION:
            raise DatabaseUrlError(
                f"the database {without_password(url)!r} has schema version {have}, newer than this app knows "
                f"({upgrades.LATEST_VERSION}): a newer ECP Desktop made it; update ECP Desktop to use it")
        if upgrade:
            upgrades.upgrade(db)
    except peewee.DatabaseError as exc:
        db.close()
        raise DatabaseUrlError(f"cannot use the database {without_password(url)!r}: {scrub(str(exc), url)}") from exc
    finally:
        if not db.is_closed():
            db.close()
    return db


@dataclass(frozen=True)
class HostChoice:
    uri: str
    label: str = ""
    is_demo: bool = False


def local_hypervisor_answers() -> bool:
    """True if a local system libvirt daemon answers (blocking: run in a worker)."""
    return probe("qemu:///system").reachable


def initial_hosts() -> list[HostChoice]:
    """The hosts to connect at start (blocking: runs on the database thread).

    Configured hosts from the inventory; on the very first start with none, the
    local hypervisor, or libvirt's built-in demo host so the window is never empty.
    Before setup has run that is every start: the window then shows live state only.
    """
    configured = [HostChoice(h.uri, h.label, h.is_demo) for h in store.configured_hosts() if h.autoconnect]
    if configured or store.get_setting("first_run_done"):
        return configured
    if store.setup_missing() is None:  # nothing is written before setup: every such start is a first
        store.set_setting("first_run_done", "1")
    if local_hypervisor_answers():
        return [HostChoice("qemu:///system")]
    return [HostChoice(DEMO_URI, DEMO_LABEL, True)]
