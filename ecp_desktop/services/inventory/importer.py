"""Import of a host's existing libvirt domains into the inventory, as a reconcile.

Keyed by (host, UUID): a new domain is added, a renamed or changed one updated, one
that has vanished is marked missing (never deleted: the inventory keeps its history),
and one that cannot be read is skipped with the reason. Running it twice adds nothing.
Reading is blocking libvirt work and writing is database work; both run off the GUI
thread (setup runs on a worker).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import libvirt

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.models.dialect import dialect
from ..core.errors import HypervisorError
from ..config import preferences
from .definitions import record_found_many
from .store import first_desired, upsert_machine_rows
from ..hosts.opening import SharedConnections
from ..libvirt_xml.domain import Domain, read_domain
from ..hosts.states import state_name

CHUNK = 300  # rows per INSERT: below SQLite's bound-parameter limit with 14 columns

@dataclass
class HostImport:
    """The outcome for one host; ``error`` set means nothing of it was imported."""

    uri: str
    found: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    missing: int = 0
    renamed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)
    error: str = ""

    def text(self) -> str:
        if self.error:
            return f"{self.uri}: not imported: {self.error}"
        parts = [f"{self.added} added", f"{self.updated} updated", f"{self.missing} missing",
                 f"{len(self.skipped)} skipped", f"{self.unchanged} unchanged"]
        return f"{self.uri}: {self.found} found; " + ", ".join(parts)

    def as_json(self) -> dict:
        data = asdict(self)
        data["renamed"] = [{"from": a, "to": b} for a, b in self.renamed]
        data["skipped"] = [{"name": n, "reason": r} for n, r in self.skipped]
        return data


_json = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(..., ensure_ascii=False) builds one per call


def machine_row(details: Domain, *, uuid: str, name: str, state: str, persistent: bool, autostart: bool,
                managed_save: bool) -> dict:
    """The machine row for one domain (without its host).

    Only strings, numbers, booleans and None: Python's garbage collector does not track such
    dicts, so holding 10,000 of them costs no collector pauses (which would stall the
    GUI thread, since a collection holds the interpreter lock). ``definition``: the XML just
    read (a persistent machine's inactive definition: what another host can define when this
    one is gone), the same string, not a second read; None for a transient machine.
    """
    return {"uuid": uuid, "name": name, "state": state, "vcpus": details.vcpus, "memory_kib": details.memory_kib,
            "autostart": autostart, "persistent": persistent, "managed_save": managed_save,
            "os_type": details.os_type,
            # plain dicts built by hand, not asdict(): its deep copy was a quarter of the
            # import's time at 10,000 machines (bench/import_domains.py)
            "disks": _json([{"target": d.target, "device": d.device, "bus": d.bus, "source": d.source,
                             "driver_type": d.format} for d in details.disks]),
            "interfaces": _json([{"kind": i.kind, "source": i.source, "mac": i.mac, "model": i.model}
                                 for i in details.interfaces]),
            "definition": details.xml if persistent else None}


def read_domains(conn: libvirt.virConnect, uri: str, wanted: set[str] | None = None,
                 ) -> tuple[list[dict], list[tuple[str, str]], set[str]]:
    """Every domain of ``conn``: (rows, skipped as (name, reason), UUIDs still present).

    ``wanted``: the UUIDs the user ticked; the others are skipped as not selected.
    """
    def uuids(flags: int) -> set[str]:
        return {d.UUIDString() for d in conn.listAllDomains(flags)}

    # A domain is persistent or transient: the transient ones are few, so listing them (and
    # not the persistent ones) saves building 10,000 domain objects on a large host.
    transient = uuids(libvirt.VIR_CONNECT_LIST_DOMAINS_TRANSIENT)
    autostart = uuids(libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART)
    managed_save = uuids(libvirt.VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE)
    facts, skipped, present = [], [], set()
    for dom in conn.listAllDomains(0):
        uuid = dom.UUIDString()
        try:
            name = dom.name()
            present.add(uuid)
            if wanted is not None and uuid not in wanted:
                skipped.append((name, "not selected for import"))
                continue
            state = state_name(dom.state()[0])
            persistent = uuid not in transient
            # The one read of its XML: a persistent machine's inactive definition (what it
            # boots with next, without the running instance's ids and ports), which is also
            # what stays the same from one import to the next while nobody edits it.
            flags = libvirt.VIR_DOMAIN_XML_INACTIVE if persistent else 0
            facts.append(machine_row(read_domain(dom, flags), uuid=uuid, name=name, state=state,
                                     persistent=persistent, autostart=uuid in autostart,
                                     managed_save=uuid in managed_save))
        except libvirt.libvirtError as exc:
            error = HypervisorError.from_libvirt(exc, operation="read machine", machine=uuid, host_uri=uri)
            if error.code_name == "NO_DOMAIN":
                present.discard(uuid)  # it vanished while we read it: gone, like the unlisted ones
                skipped.append((uuid, "removed on the host while it was being imported"))
            else:
                skipped.append((uuid, error.one_line()))
        except ValueError as exc:  # XmlError: not a readable definition
            skipped.append((name, f"its XML could not be read: {exc}"))
    return facts, skipped, present


# A row is written only when one of these changed (the definition too: written when it changed).
_COMPARED = ("name", "state", "vcpus", "memory_kib", "autostart", "persistent", "managed_save", "os_type",
             "disks", "interfaces", "definition")
_KEPT = ("paused_policy", "notes", "version")  # a new row gets the column's default; an old one keeps its own
_COLUMNS = ("host_id", "uuid", *_COMPARED, "missing", "last_seen_at", "desired_state", "restore_policy", *_KEPT)
# On conflict the facts are refreshed; desired_state and restore_policy are the user's and kept.
_REFRESHED = (*_COMPARED, "missing", "last_seen_at")


def _known(host_id: int) -> dict[str, dict]:
    """This host's machine rows as plain dicts, by UUID (tuples from the cursor: no model objects)."""
    names = ("id", "uuid", "missing", *_COMPARED)
    cursor = database.execute_sql(f"SELECT {', '.join(names)} FROM machine WHERE host_id = {dialect().mark}",
                                  [host_id])
    return {values[1]: dict(zip(names, values, strict=True)) for values in cursor.fetchall()}


def reconcile(host_id: int, uri: str, facts: list[dict], skipped: list[tuple[str, str]],
              present: set[str]) -> HostImport:
    """Write what was read for one host; must run where the database may be used."""
    result = HostImport(uri, found=len(present), skipped=list(skipped))
    policy = preferences.current().default_restore_policy  # for machines seen for the first time
    M = schema.Machine
    kept_defaults = tuple(getattr(M, name).default for name in _KEPT)
    with database.connection_context(), database.atomic():
        known = _known(host_id)
        rows = []
        now = schema.utcnow().strftime("%Y-%m-%d %H:%M:%S.%f")  # as the ORM stores a DateTimeField
        for row in facts:
            old = known.get(row["uuid"])
            if old is None:
                result.added += 1
            elif old["missing"] or any(old[f] != row[f] for f in _COMPARED):
                result.updated += 1
                if old["name"] != row["name"]:
                    result.renamed.append((old["name"], row["name"]))
            else:
                result.unchanged += 1
                continue
            rows.append((host_id, row["uuid"], *[row[f] for f in _COMPARED], False, now,
                         first_desired(row["state"]), policy, *kept_defaults))
        cursor = database.cursor()
        for start in range(0, len(rows), CHUNK):
            upsert_machine_rows(cursor, _COLUMNS, _REFRESHED, rows[start:start + CHUNK])
        # The definitions read that differ from the rows': versions of their history (after
        # the rows are written: a version names its machine's row).
        record_found_many(uri, [(row["uuid"], row["definition"]) for row in facts
                                if row["definition"] is not None and (known.get(row["uuid"]) is None
                                                                       or known[row["uuid"]]["definition"]
                                                                       != row["definition"])])
        gone = [row["id"] for uuid, row in known.items() if uuid not in present and not row["missing"]]
        for start in range(0, len(gone), CHUNK):
            M.update(missing=True).where(M.id.in_(gone[start:start + CHUNK])).execute()
        result.missing = len(gone)
    return result


def import_host(conn: libvirt.virConnect, host_id: int, uri: str, wanted: set[str] | None = None) -> HostImport:
    try:
        facts, skipped, present = read_domains(conn, uri, wanted)
    except libvirt.libvirtError as exc:
        error = HypervisorError.from_libvirt(exc, operation="list machines", host_uri=uri)
        return HostImport(uri, error=error.one_line())
    return reconcile(host_id, uri, facts, skipped, present)


def preview(uri: str, shared: SharedConnections | None = None) -> list[tuple[str, str, str]]:
    """(UUID, name, state) of every domain of ``uri``, for the wizard's import preview (blocking).

    ``shared``: the wizard's connections (the probe's one is read, not a new one; it stays open
    for the import); None: one opened for this and closed."""
    own = shared is None
    shared = SharedConnections() if shared is None else shared
    try:
        with shared.in_use():
            conn = shared.get(uri, operation="list machines")
            found = [(dom.UUIDString(), dom.name(), state_name(stats.get("state.state", 0)))
                     for dom, stats in conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE)]
    except libvirt.libvirtError as exc:
        raise HypervisorError.from_libvirt(exc, operation="list machines", host_uri=uri) from None
    finally:
        if own:
            shared.close()
    return sorted(found, key=lambda row: row[1].casefold())
