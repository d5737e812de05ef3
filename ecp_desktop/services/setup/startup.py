"""Start-up decisions shared by the GUI and the headless commands (Qt-free)."""
from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import peewee

from ecp_desktop.models import upgrades
from ecp_desktop.models.db import DatabaseUrlError, default_sqlite_url, open_database, scrub, without_password
from ..actions.restore import RestoreService, marked_always_on, restore_candidates
from ..config import app_config, approved_hosts, credentials
from ..core.aio import spawn
from ..hosts.connection import HostConnection
from ..hosts.probe import DEMO_LABEL, DEMO_URI, probe
from ..inventory import approvals, store
from ..inventory.live import Inventory

DATA_DIR_NAME = "ecp-desktop"


log = logging.getLogger(__name__)


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


# ----- a session's start: its hosts, what the inventory knows of them, restore ---------

async def restore_on_start(inventory: Inventory, restore: RestoreService, report_failures, candidates=None, *,
                           at_start: str = "last") -> None:
    """Restore what should run; a host that is unreachable now is restored when it returns.

    ``candidates``: (reason, machines by host) read before the hosts connected, so that a
    machine that vanished is reported by this start's restore instead of being marked
    missing by the first listing first (and then skipped without a word). ``at_start``: the
    user's choice (Preferences): "last", "always" (only machines marked Always On), "never"."""
    if at_start == "never":
        log.info("restore at start: none (the choice in Preferences)")
        return
    loop = asyncio.get_running_loop()
    if candidates is None:
        candidates = await loop.run_in_executor(inventory.executors.database, restore_candidates)
    reason, grouped = candidates
    if reason:
        log.info("restore skipped: %s", reason)
        return
    if at_start == "always":
        grouped = marked_always_on(grouped)
    report = await restore.run(grouped)
    waiting = set(report.unreachable)

    def host_loaded(host, _count) -> None:
        if host.uri in waiting:
            waiting.discard(host.uri)
            spawn(_restore_host(host.uri))

    async def _restore_host(uri: str) -> None:
        _reason, again = await loop.run_in_executor(inventory.executors.database, restore_candidates, [uri])
        if at_start == "always":
            again = marked_always_on(again)
        report_failures(await restore.run(again))

    if waiting:
        inventory.host_loaded.connect(host_loaded)
    report_failures(report)


def session_hosts(extra: list[str]) -> tuple[list[HostChoice], set[str]]:
    """Runs on the database thread: configured hosts, plus --connect ones for this session
    (typed by this user: approved), and the URIs this user approved."""
    if extra:
        approved_hosts.approve(extra)
        configured = [HostChoice(h.uri, h.label, h.is_demo) for h in store.configured_hosts() if h.autoconnect]
    else:
        configured = initial_hosts()
    allowed = approvals.approved_uris()
    return configured + [HostChoice(uri) for uri in extra if uri not in {c.uri for c in configured}], allowed


async def connect_initial_hosts(inventory: Inventory, extra: list[str]) -> None:
    """Add the session's hosts and connect them (each on its own); return when every first
    attempt has ended."""
    await asyncio.gather(*await start_initial_hosts(inventory, extra))


async def start_initial_hosts(inventory: Inventory, extra: list[str]) -> list[asyncio.Future]:
    """Add the session's hosts, show what the inventory knows of their machines, and start
    connecting them; the attempts, still running. A job about one host (restore) joins that
    host's attempt and waits for no other."""
    return connect_session_hosts(inventory, await add_session_hosts(inventory, extra))


def connect_session_hosts(inventory: Inventory, hosts: list[tuple[HostConnection, bool]]) -> list[asyncio.Future]:
    return [spawn(inventory.connect_host(host, autoconnect=auto)) for host, auto in hosts]


async def add_session_hosts(inventory: Inventory, extra: list[str]) -> list[tuple[HostConnection, bool]]:
    """Add the session's hosts and show what the inventory knows of their machines; the
    (host, autoconnect) pairs to connect. A host only a row names is listed, with the
    reason, and never connected on a row's word."""
    loop = asyncio.get_running_loop()
    choices, allowed = await loop.run_in_executor(inventory.executors.database, session_hosts, extra)
    hosts = [(inventory.add_host(c.uri, label=c.label, is_demo=c.is_demo), c.uri not in extra) for c in choices]
    for host, _auto in hosts:
        if host.uri not in allowed:
            host.keep_closed(approved_hosts.unapproved_reason(host.uri))
    # Before any host answers: the rows are on screen at once, and stay while a host is down.
    try:
        await inventory.show_known([h.uri for h, _auto in hosts])
    except Exception:  # noqa: BLE001  (the database away, a bad row: the hosts still connect)
        log.exception("the known machines could not be read; the hosts' listings will show them")
    return [(host, auto) for host, auto in hosts if host.uri in allowed]
