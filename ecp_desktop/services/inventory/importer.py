"""Import of a host's existing libvirt domains into the inventory, as a reconcile.

Keyed by (host, UUID): a new domain is added, a renamed or changed one updated, one
that has vanished is marked missing (never deleted: the inventory keeps its history),
and one that cannot be read is skipped with the reason. Running it twice adds nothing.
Reading is blocking libvirt work and writing is database work; both run off the GUI
thread (setup runs on a worker).
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field

import libvirt

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ..core.errors import HypervisorError
from ..config import preferences
from .store import first_desired
from ..hosts.opening import open_connection
from ..hosts.domain_xml import DomainXml, read_domain
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


def machine_row(details: DomainXml, *, uuid: str, name: str, state: str, persistent: bool, autostart: bool,
                managed_save: bool) -> dict:
    """The machine row for one domain (without its host).

    Only strings, numbers and booleans: Python's garbage collector does not track such
    dicts, so holding 10,000 of them costs no collector pauses (which would stall the
    GUI thread, since a collection holds the interpreter lock).
    """
    return {"uuid": uuid, "name": name, "state": state, "vcpus": details.vcpus, "memory_kib": details.memory_kib,
            "autostart": autostart, "persistent": persistent, "managed_save": managed_save,
            "os_type": details.os_type,
            # plain dicts built by hand, not asdict(): its deep copy was a quarter of the
            # import's time at 10,000 machines (bench/import_domains.py)
            "disks": json.dumps([{"target": d.target, "device": d.device, "bus": d.bus, "source": d.source,
                                  "driver_type": d.format} for d in details.disks], ensure_ascii=False),
            "interfaces": json.dumps([vars(i) for i in details.interfaces], ensure_ascii=False)}


def read_domains(conn: libvirt.virConnect, uri: str, wanted: set[str] | None = None,
                 ) -> tuple[list[dict], list[tuple[str, str]], set[str]]:
    """Every domain of ``conn``: (rows, skipped as (name, reason), UUIDs still present).

    ``wanted``: the UUIDs the user ticked; the others are skipped as not selected.
    """
    def uuids(flags: int) -> set[str]:
        return {d.UUIDString() for d in conn.listAllDomains(flags)}

    persistent = uuids(libvirt.VIR_CONNECT_LIST_DOMAINS_PERSISTENT)
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
            facts.append(machine_row(read_domain(dom), uuid=uuid, name=name, state=state, persistent=uuid in persistent,
                                        autostart=uuid in autostart, managed_save=uuid in managed_save))
        except libvirt.libvirtError as exc:
            error = HypervisorError.from_libvirt(exc, operation="read machine", machine=uuid, host_uri=uri)
            if error.code_name == "NO_DOMAIN":
                present.discard(uuid)  # it vanished while we read it: gone, like the unlisted ones
                skipped.append((uuid, "removed on the host while it was being imported"))
            else:
                skipped.append((uuid, error.one_line()))
        except (ET.ParseError, ValueError) as exc:
            skipped.append((name, f"its XML could not be read: {exc}"))
    return facts, skipped, present


_COMPARED = ("name", "state", "vcpus", "memory_kib", "autostart", "persistent", "managed_save", "os_type",
             "disks", "interfaces")
_PRESERVE = [getattr(schema.Machine, f) for f in (*_COMPARED, "missing", "last_seen_at")]


def reconcile(host_id: int, uri: str, facts: list[dict], skipped: list[tuple[str, str]],
              present: set[str]) -> HostImport:
    """Write what was read for one host; must run where the database may be used."""
    result = HostImport(uri, found=len(present), skipped=list(skipped))
    policy = preferences.current().default_restore_policy  # for machines seen for the first time
    M = schema.Machine
    with database.connection_context(), database.atomic():
        known = {row["uuid"]: row for row in
                 M.select(M.id, M.uuid, M.missing, *[getattr(M, f) for f in _COMPARED])
                 .where(M.host == host_id).dicts()}
        rows = []
        now = schema.utcnow()
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
            rows.append({**row, "host": host_id, "missing": False, "last_seen_at": now,
                         "desired_state": first_desired(row["state"]),  # kept on conflict: not in _PRESERVE
                         "restore_policy": policy})
        for start in range(0, len(rows), CHUNK):
            (M.insert_many(rows[start:start + CHUNK])
             .on_conflict(conflict_target=[M.host, M.uuid], preserve=_PRESERVE).execute())
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


def preview(uri: str) -> list[tuple[str, str, str]]:
    """(UUID, name, state) of every domain of ``uri``, for the wizard's import preview (blocking)."""
    conn = open_connection(uri, read_only=True, operation="list machines")
    try:
        try:
            found = [(dom.UUIDString(), dom.name(), state_name(stats.get("state.state", 0)))
                     for dom, stats in conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE)]
        finally:
            conn.close()
    except libvirt.libvirtError as exc:
        raise HypervisorError.from_libvirt(exc, operation="list machines", host_uri=uri) from None
    return sorted(found, key=lambda row: row[1].casefold())
