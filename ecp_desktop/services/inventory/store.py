"""Writes of the live inventory to the database, run on the database thread.

Machines of a host are upserted in chunks keyed by (host, UUID); domains that are
gone are marked missing, never deleted, so the inventory keeps their history.
"""
from __future__ import annotations

import time
from collections.abc import Iterable

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.models.dialect import dialect
from ..hosts import guest_support
from ..hosts.capabilities import GuestType
from ..hosts.facts import HostFacts
from ..config import preferences
from ..core.gui_first import give_way
from ..hosts.states import ACTIVE_STATES
from .machines import MachineInfo

CHUNK = 400  # below SQLite's bound-parameter limit with 10 columns per row


def tables_missing(*models: type[schema.BaseModel]) -> str | None:
    """Why the inventory cannot hold these yet (a table not created), or None."""
    absent = [m._meta.table_name for m in models if not database.table_exists(m._meta.table_name)]
    if absent:
        return f"the {', '.join(absent)} table{'s do' if len(absent) > 1 else ' does'} not exist yet"
    return None


def local_host_missing() -> str | None:
    """Why this host is not described yet (setup records it before importing), or None."""
    if not database.table_exists(schema.Host._meta.table_name):
        return "the local host record is missing (no host table)"
    found = schema.Host.select().where(schema.Host.is_local & schema.Host.capabilities_at.is_null(False)).exists()
    return None if found else "the local host record has not been written yet"


def setup_missing() -> str | None:
    """Why nothing may be written to the inventory yet, or None once setup has run.

    The rule every writer follows (the live inventory, import, restore): machines are
    recorded only once the machine table and the local host record exist, so that an
    inventory is never half-made by whichever command happened to run first."""
    with database.connection_context():
        return tables_missing(schema.Machine, schema.Host) or local_host_missing()


def recorded_guest_types(uri: str) -> list[GuestType] | None:
    """The guest types setup recorded for ``uri`` when it is the local host; None for any
    other host (no record of what it offers: nothing is checked against a guess)."""
    with database.connection_context():
        if tables_missing(schema.Host):
            return None
        row = schema.Host.get_or_none(schema.Host.is_local & (schema.Host.uri == uri)
                                      & schema.Host.capabilities_at.is_null(False))
    return guest_support.from_json(row.guest_types) if row is not None else None


def first_desired(state: str) -> str:
    """On first sight a machine should stay as it is; later only users and clean exits change it."""
    return "running" if state in ACTIVE_STATES else "shutoff"


def _update_machines(host_uri: str, uuids: list[str], **values) -> None:
    """Set ``values`` on the given machines of one host, in chunks of UUIDs."""
    with database.connection_context(), database.atomic():
        host = schema.Host.select(schema.Host.id).where(schema.Host.uri == host_uri)
        for start in range(0, len(uuids), CHUNK):
            schema.Machine.update(**values).where(
                schema.Machine.host.in_(host) & schema.Machine.uuid.in_(uuids[start:start + CHUNK])).execute()


def set_desired(host_uri: str, uuids: list[str], desired: str) -> None:
    _update_machines(host_uri, uuids, desired_state=desired)


DEFAULT_PAUSED = "resume-after-fault"  # the paused_policy column's default


def set_restore_policy(keys: list[tuple[str, str]], policy: str = "", paused: str = "") -> None:
    """Set the restore policy and/or the paused policy of machines; the part not given is kept."""
    by_host: dict[str, list[str]] = {}
    for uri, uuid in keys:
        by_host.setdefault(uri, []).append(uuid)
    M = schema.Machine
    changes = {**({"restore_policy": policy} if policy else {}), **({"paused_policy": paused} if paused else {})}
    if not changes:
        return
    with database.connection_context(), database.atomic():
        for uri, uuids in by_host.items():
            host = schema.Host.select(schema.Host.id).where(schema.Host.uri == uri)
            for start in range(0, len(uuids), CHUNK):
                M.update(**changes).where(M.host.in_(host) & M.uuid.in_(uuids[start:start + CHUNK])).execute()


def forget_machines(host_uri: str, uuids: list[str]) -> None:
    """Delete the rows of machines that were created and undone by a flow."""
    with database.connection_context(), database.atomic():
        host = schema.Host.select(schema.Host.id).where(schema.Host.uri == host_uri)
        for start in range(0, len(uuids), CHUNK):  # (SQLite limits the parameters of a statement)
            schema.Machine.delete().where(schema.Machine.host.in_(host)
                                          & schema.Machine.uuid.in_(uuids[start:start + CHUNK])).execute()


def ensure_host(uri: str, label: str, is_demo: bool, autoconnect: bool = True) -> int:
    with database.connection_context():
        host, _created = schema.Host.get_or_create(
            uri=uri, defaults={"label": label, "is_demo": is_demo, "autoconnect": autoconnect})
        return host.id


def configured_hosts() -> list[schema.Host]:
    with database.connection_context():
        return list(schema.Host.select().order_by(schema.Host.id))


def set_host_label(uri: str, label: str) -> int:
    """The host's label ("": its URI's short name); how many rows took it (0: not recorded)."""
    with database.connection_context():
        return schema.Host.update(label=label).where(schema.Host.uri == uri).execute()


def forget_host(uri: str) -> None:
    with database.connection_context():
        schema.Host.delete().where(schema.Host.uri == uri).execute()


def record_facts(host_id: int, facts: HostFacts) -> None:
    with database.connection_context():
        schema.Host.update(
            hostname=facts.hostname, driver_type=facts.driver_type,
            libvirt_version=facts.libvirt_version, hypervisor_version=facts.hypervisor_version,
            cpu_model=facts.cpu_model, cpus=facts.cpus, memory_mib=facts.memory_mib,
            last_connected_at=schema.utcnow(),
        ).where(schema.Host.id == host_id).execute()


_UPDATED = [schema.Machine.name, schema.Machine.state, schema.Machine.vcpus, schema.Machine.memory_kib,
            schema.Machine.autostart, schema.Machine.persistent, schema.Machine.missing,
            schema.Machine.last_seen_at]


_UPSERT_COLUMNS = ("host_id", "uuid", "name", "state", "vcpus", "memory_kib", "autostart", "persistent", "missing",
                   "last_seen_at", "desired_state", "restore_policy", "paused_policy", "managed_save", "os_type",
                   "disks", "interfaces", "notes", "version")


def upsert_machine_rows(cursor, columns: tuple[str, ...], refreshed: tuple[str, ...], rows: list[tuple]) -> None:
    """Write machine rows (tuples in ``columns``' order): new ones inserted, known ones (by host
    and UUID) get the ``refreshed`` columns; the others keep what they hold (the user's restore
    policy, notes). Plain SQL, a page of rows per call: the ORM built each row's SQL in Python,
    half an import's time, and held the interpreter lock long enough to stall the GUI thread.
    The listing (``upsert_machines``) and setup's import (``importer``) both write through it."""
    update = ", ".join(f"{c} = excluded.{c}" for c in refreshed)
    dialect().insert_many(cursor, f"INSERT INTO machine ({', '.join(columns)})",
                          f"ON CONFLICT (host_id, uuid) DO UPDATE SET {update}", len(columns), rows, CHUNK)


def upsert_machines(host_id: int, machines: Iterable[MachineInfo]) -> None:
    """Plain SQL, many rows per statement call: the ORM's per-row Python held the interpreter
    lock long enough, writing a 10,000-machine listing, to stall the GUI thread."""
    machines = list(machines)
    now = schema.utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")
    policy = preferences.current().default_restore_policy  # new rows only: not updated on conflict
    refreshed = tuple(f.column_name for f in _UPDATED)
    with database.connection_context(), database.atomic():
        cursor = database.cursor()
        for start in range(0, len(machines), CHUNK):
            if start:
                time.sleep(0.002)  # let the GUI thread have the interpreter lock between chunks
            give_way()
            rows = [(host_id, m.uuid, m.name, m.state, m.vcpus, m.memory_kib, m.autostart, m.persistent, False, now,
                     first_desired(m.state), policy, DEFAULT_PAUSED, False, "", "[]", "[]", "", 0)
                    for m in machines[start:start + CHUNK]]
            upsert_machine_rows(cursor, _UPSERT_COLUMNS, refreshed, rows)


def replace_host_machines(host_id: int, machines: list[MachineInfo]) -> None:
    """A full listing: upsert what is there, mark the rest of this host missing."""
    present = {m.uuid for m in machines}
    upsert_machines(host_id, machines)
    with database.connection_context(), database.atomic():
        known = schema.Machine.select(schema.Machine.id, schema.Machine.uuid).where(
            (schema.Machine.host == host_id) & (schema.Machine.missing == False)).tuples()  # noqa: E712
        gone = [row_id for row_id, uuid in known if uuid not in present]  # tuples: no model objects
        for start in range(0, len(gone), CHUNK):
            schema.Machine.update(missing=True).where(schema.Machine.id.in_(gone[start:start + CHUNK])).execute()


def mark_missing(host_id: int, uuids: list[str]) -> None:
    with database.connection_context():
        schema.Machine.update(missing=True).where(
            (schema.Machine.host == host_id) & schema.Machine.uuid.in_(uuids)).execute()


def get_setting(key: str, default: str = "") -> str:
    with database.connection_context():
        row = schema.Setting.get_or_none(schema.Setting.key == key)
        return row.value if row else default


def set_setting(key: str, value: str) -> None:
    with database.connection_context():
        schema.Setting.insert(key=key, value=value).on_conflict(
            conflict_target=[schema.Setting.key], preserve=[schema.Setting.value]).execute()
