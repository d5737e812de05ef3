"""The core setup steps: schema, local host, connections, import (Qt-free, blocking).

``run_setup`` is what the wizard's progress page and ``ecp-desktop setup`` call, on a
worker thread. The database proxy must be bound (``open_database``) before.
"""
from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field

import libvirt

from ecp_desktop.models import upgrades, schema
from ecp_desktop.models.db import database
from ..config import approved_hosts, preferences
from ..inventory import approvals, store
from ..hosts.probe import DEMO_LABEL, DEMO_URI, Probe, detect, local_candidates
from ..inventory.importer import HostImport, import_host
from ..core.errors import HypervisorError
from ..core.wording import count
from ..hosts import guest_support
from ..hosts.capabilities import read_capabilities
from ..hosts.opening import SharedConnections
from ..hosts.facts import read_facts, version_text
from ..hosts.uri import display_name
from .pipeline import DONE, FAILED, HookRegistry, Need, Outcome, Pipeline, SetupContext, SetupStep, load_extension_hooks

log = logging.getLogger(__name__)
SETUP_DONE_KEY = "setup_completed_at"


@dataclass
class SetupOptions:
    connections: list[str] = field(default_factory=list)  # typed by the user (--connect, wizard)
    chosen: list[str] | None = None  # the wizard's ticked connections; None: setup picks
    labels: dict[str, str] = field(default_factory=dict)  # per URI, the name the user gave it (checked)
    local_uri: str | None = None  # None: the first local hypervisor that answers, else the demo host
    do_import: bool = True
    selection: dict[str, set[str]] | None = None  # per URI, the UUIDs to import; None: all
    offer_demo: bool = True
    probe_timeout: float = 10.0
    restore_at_start: str | None = None  # one of preferences.AT_START, saved when setup ends; None: left as it is


@dataclass
class SetupRun(SetupContext):
    probes: list[Probe] = field(default_factory=list)
    open_connections: dict[str, libvirt.virConnect] = field(default_factory=dict)  # the chosen ones
    connection_errors: dict[str, str] = field(default_factory=dict)
    imports: list[HostImport] = field(default_factory=list)
    # Every connection this run (or the wizard before it) opened, one per host: the probe's
    # connection is the one the local-host step, the import and the hooks read.
    shared: SharedConnections = field(default_factory=SharedConnections)

    def close(self) -> None:
        """Each connection closed once (idempotent)."""
        self.open_connections.clear()
        self.shared.close()


# ---- preconditions -------------------------------------------------------------------

def tables_present(*models: type[schema.BaseModel]) -> Need:
    names = [m._meta.table_name for m in models]

    return Need(f"tables {', '.join(names)}", lambda _ctx: store.tables_missing(*models))


def _connections_check(ctx: SetupContext) -> str | None:
    if isinstance(ctx, SetupRun) and ctx.open_connections:
        return None
    return "no connection is open to import from"


def _import_wanted(ctx: SetupContext) -> str | None:
    return None if ctx.options.do_import else "import was not asked for (--no-import)"


LOCAL_HOST_RECORDED = Need("local host record", lambda _ctx: store.local_host_missing())
CONNECTIONS_OPEN = Need("an open connection", _connections_check)
IMPORT_WANTED = Need("import wanted", _import_wanted)


# ---- steps ----------------------------------------------------------------------------

def step_schema(_ctx: SetupContext) -> str:
    db = database.obj
    applied = upgrades.upgrade(db)
    recreated = upgrades.recreate_missing(db)
    parts = [f"schema at version {upgrades.current_version(db)}"]
    if applied:
        parts.append(f"applied step{'s' if len(applied) > 1 else ''} {', '.join(map(str, applied))}")
    if recreated:
        parts.append(f"recreated missing tables: {', '.join(recreated)} (empty)")
    return "; ".join(parts)


def step_local_host(ctx: SetupRun) -> str:
    uri = ctx.options.local_uri
    none_found = False
    if not uri:
        found = local_candidates(ctx.options.probe_timeout, ctx.shared)
        uri, none_found = (found[0].uri, False) if found else (DEMO_URI, True)
    conn = ctx.shared.get(uri, operation="read the local host")  # closed with the others when setup ends
    try:
        facts = read_facts(conn)
        caps = read_capabilities(conn)
    except libvirt.libvirtError as exc:
        raise HypervisorError.from_libvirt(exc, operation="read the local host", host_uri=uri) from None
    H = schema.Host
    with database.atomic():
        H.update(is_local=False).where(H.is_local & (H.uri != uri)).execute()
        host, created = H.get_or_create(uri=uri, defaults={
            "label": DEMO_LABEL if uri == DEMO_URI else "", "is_demo": uri == DEMO_URI, "autoconnect": False})
        keep_demo_label()
        H.update(is_local=True, hostname=facts.hostname or socket.gethostname(), driver_type=facts.driver_type,
                 libvirt_version=facts.libvirt_version, hypervisor_version=facts.hypervisor_version,
                 cpu_model=facts.cpu_model, cpus=facts.cpus, memory_mib=facts.memory_mib, cpu_arch=caps.cpu_arch,
                 guest_types=guest_support.to_json(caps.guests), capabilities_at=schema.utcnow(),
                 ).where(H.id == host.id).execute()
    if uri == DEMO_URI:  # its CPUs, memory and architecture are made up: not worth reporting
        return (("no hypervisor answered on this computer; " if none_found else "")
                + f"the demo host (libvirt's test driver; nothing in it is real) via {uri}")
    kinds = sorted({f"{g.os_type}/{g.arch} ({', '.join(sorted(g.domain_types))})" for g in caps.guests})
    return (f"{facts.hostname or uri} via {uri}: {facts.driver_type} {version_text(facts.hypervisor_version)}, "
            f"libvirt {version_text(facts.libvirt_version)}, {caps.cpu_arch or '?'} ({facts.cpu_model}), "
            f"{facts.cpus} CPUs, {facts.memory_mib} MiB; offers {'; '.join(kinds) or 'no guest types'}")


def keep_demo_label() -> None:
    """The demo host is "Demo host" on every run. A row another path recorded first (a
    command's --connect test:///default) has no label or the URI's automatic one ("Test:
    default"): it becomes the demo host's; a label someone chose is kept."""
    H = schema.Host
    automatic = ["", display_name(DEMO_URI), "Test: default"]  # the last: what older versions wrote
    H.update(label=DEMO_LABEL, is_demo=True).where(
        (H.uri == DEMO_URI) & (H.label.in_(automatic) | (H.label == DEMO_LABEL))).execute()


def _chosen(ctx: SetupRun) -> list[str]:
    options = ctx.options
    if options.chosen is not None:
        return list(options.chosen)
    ctx.probes = detect(options.connections, offer_demo=options.offer_demo, timeout=options.probe_timeout,
                        shared=ctx.shared)
    configured = [h.uri for h in store.configured_hosts() if h.autoconnect]
    if configured and not options.connections:
        # a re-run keeps what was set up before: the hosts this user approved, not every row
        return approvals.split(configured)[0]
    return [p.uri for p in ctx.probes if p.suggested]


def step_connections(ctx: SetupRun) -> str:
    chosen = _chosen(ctx)
    for uri in chosen:
        try:
            ctx.open_connections[uri] = ctx.shared.get(uri)  # the probe's, when it answered one
        except HypervisorError as error:
            ctx.connection_errors[uri] = error.one_line()
            continue
        is_demo = uri == DEMO_URI
        approved_hosts.approve([uri])  # set up by this user: connected to at later starts
        host_id = store.ensure_host(uri, DEMO_LABEL if is_demo else "", is_demo)
        schema.Host.update(autoconnect=True).where(schema.Host.id == host_id).execute()
        if ctx.options.labels.get(uri):
            store.set_host_label(uri, ctx.options.labels[uri])
    keep_demo_label()
    if not chosen:
        return "no connection answers and none was given"
    parts = [f"using {', '.join(ctx.open_connections) or 'none'}"]
    parts += [f"cannot open {uri}: {reason}" for uri, reason in ctx.connection_errors.items()]
    if ctx.probes:
        unreachable = [f"{p.uri} ({p.reason})" for p in ctx.probes if not p.reachable]
        if unreachable:
            parts.append("not available: " + "; ".join(unreachable))
    return "; ".join(parts)


def step_import(ctx: SetupRun) -> str:
    selection = ctx.options.selection or {}
    for index, (uri, conn) in enumerate(ctx.open_connections.items()):
        ctx.progress(3, 4, f"importing machines of {uri} ({index + 1} of {len(ctx.open_connections)})")
        host_id = schema.Host.get(schema.Host.uri == uri).id
        ctx.imports.append(import_host(conn, host_id, uri, selection.get(uri)))
    for uri, reason in ctx.connection_errors.items():
        ctx.imports.append(HostImport(uri, error=f"cannot connect: {reason}"))
    return import_totals(ctx.imports)


def import_totals(imports: list[HostImport]) -> str:
    def total(name: str) -> int:
        return sum(getattr(i, name) for i in imports)
    failed = sum(1 for i in imports if i.error)
    text = (f"{total('added')} added, {total('updated')} updated, {total('missing')} missing, "
            f"{sum(len(i.skipped) for i in imports)} skipped, {total('unchanged')} unchanged "
            f"on {count(len(imports) - failed, 'host')}")
    return text + (f"; {count(failed, 'host')} not imported" if failed else "")


def core_steps() -> list[SetupStep]:
    return [
        SetupStep("schema", "Create or upgrade the inventory tables", step_schema),
        SetupStep("local-host", "Record the local host", step_local_host, needs=(tables_present(schema.Host),)),
        SetupStep("connections", "Find hypervisor connections", step_connections, needs=(tables_present(schema.Host),)),
        SetupStep("import", "Import existing machines", step_import,
             needs=(IMPORT_WANTED, tables_present(schema.Machine, schema.Host), LOCAL_HOST_RECORDED,
                    CONNECTIONS_OPEN)),
    ]


@dataclass
class SetupReport:
    outcomes: list[Outcome]
    imports: list[HostImport]
    probes: list[Probe]
    connection_errors: dict[str, str] = field(default_factory=dict)  # chosen hosts that did not open

    @property
    def ok(self) -> bool:
        """False only when a core step failed (a skipped step or a failing hook is not a failure)."""
        return not any(o.kind == "step" and o.status == FAILED for o in self.outcomes)

    @property
    def problems(self) -> list[str]:
        """What went wrong, a line each: a failed step, a failed or stuck extension, a chosen host
        that could not be imported. A skipped step is not one: it says why, and the next run completes it."""
        lines = [f"{'Extension ' + o.title if o.kind == 'hook' else o.title}: {o.message}"
                 for o in self.outcomes if o.status == FAILED]
        lines += [f"{uri}: cannot connect: {reason}" for uri, reason in self.connection_errors.items()]
        return lines + [f"{i.uri}: {i.error}" for i in self.imports if i.error and i.uri not in self.connection_errors]

    def headline(self, what: str = "Setup") -> str:
        """The summary's first line: finished, or finished with how many problems (``problems`` lists them)."""
        problems = self.problems
        if not problems:
            return f"{what} finished."
        lead = f"{what} finished with {count(len(problems), 'problem')}"
        return lead + (" (a core step failed; the others went on)." if not self.ok else ".")

    def as_json(self) -> dict:
        totals = {k: sum(getattr(i, k) for i in self.imports) for k in ("added", "updated", "missing", "unchanged")}
        totals["skipped"] = sum(len(i.skipped) for i in self.imports)
        return {"ok": self.ok, "problems": self.problems, "steps": [o.as_json() for o in self.outcomes],
                "import": {"totals": totals, "hosts": [i.as_json() for i in self.imports]},
                "connections": [p.as_json() for p in self.probes]}


def save_restore_at_start(choice: str) -> Outcome:
    """Keep the answer to "which machines come back when the window opens?" in Preferences."""
    title = "Machines started when the window opens"
    try:
        preferences.set_restore_at_start(choice)
    except (OSError, ValueError) as exc:
        log.warning("could not save the restore-at-start choice", exc_info=True)
        return Outcome("restore-at-start", title, FAILED, f"not saved: {exc}", kind="preference")
    return Outcome("restore-at-start", title, DONE, preferences.AT_START_LABELS[choice], kind="preference")


def run_setup(options: SetupOptions, hooks: HookRegistry | None = None, progress=None,
              hook_timeout: float = 30.0, steps: list[SetupStep] | None = None, on_outcome=None,
              shared: SharedConnections | None = None) -> SetupReport:
    """Run every step (blocking). ``hooks``: None loads the installed extensions. ``shared``: the
    connections the wizard's probes opened, used here rather than reopened; with those this run
    opens, they are closed once when it ends, however it ends."""
    hooks = load_extension_hooks() if hooks is None else hooks
    ctx = SetupRun(options=options, shared=shared if shared is not None else SharedConnections())
    if progress:
        ctx.progress = progress
    if on_outcome:
        ctx.on_outcome = on_outcome
    try:
        with ctx.shared.in_use():
            Pipeline(steps or core_steps(), hooks, hook_timeout).run(ctx)
    finally:
        ctx.close()
    if options.restore_at_start is not None:  # the user's answer stands whatever the steps did
        ctx.add(save_restore_at_start(options.restore_at_start))
    report = SetupReport(ctx.outcomes, ctx.imports, ctx.probes, dict(ctx.connection_errors))
    if report.ok:
        try:
            with database.connection_context():
                store.set_setting(SETUP_DONE_KEY, schema.utcnow().isoformat(timespec="seconds"))
        except Exception:  # the schema step reported why the database is unusable
            log.warning("could not record that setup completed", exc_info=True)
    return report
