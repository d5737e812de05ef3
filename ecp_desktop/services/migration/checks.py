"""Migration negotiation: a table of checks over both hosts' facts, and the plan they allow.

Each check reads the facts (``migration_facts``) and gives what it saw on the source and
on the destination, a verdict, a remedy, and the methods it rules out. The plan is the
first method, in order of preference, that no check rules out; otherwise a refusal
that lists every check standing in the way. Options and methods one host's version cannot
honour are rows too (``option_rows``). Nothing is touched on either host. The ways each
allowed method is tried, in order, are the ladder's (ladder.py).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..hosts.facts import version_text
from ..hosts.states import STATE_LABELS
from .facts import HostSide, MachineFacts
from .option_support import MIGRATE_DISKS, OFFLINE_FLAG, OPTION_NEEDS, asked_for, shortfalls

P2P, MANAGED, OFFLINE, COPY_STORAGE = "live peer-to-peer", "live managed", "offline", "live with copy-storage"
METHODS = (P2P, MANAGED, OFFLINE, COPY_STORAGE)  # in order of preference
LIVE = frozenset({P2P, MANAGED, COPY_STORAGE})
ALL = frozenset(METHODS)
OK, WARN, FAIL, NOT_APPLICABLE = "ok", "warn", "fail", "n/a"


@dataclass
class MigrationOptions:
    persistent: bool = True          # define the machine on the destination
    undefine_source: bool = True     # remove its definition from the source afterwards
    bandwidth_mib: int = 0           # MiB/s, 0 = unlimited
    max_downtime_ms: int = 0         # 0 = the hypervisor's default (300 ms for QEMU)
    auto_converge: bool = False
    postcopy: bool = False
    tunnelled: bool = False
    migration_address: str = ""      # where the destination's hypervisor listens, e.g. 10.0.0.2
    method: str = ""                 # force one method ("" = the best one allowed)
    stall_timeout_s: float = 30.0    # abort when no data moves for this long


@dataclass
class Facts:
    machine: MachineFacts
    source: HostSide
    destination: HostSide
    options: MigrationOptions


@dataclass
class CheckResult:
    name: str
    source: str
    destination: str
    verdict: str
    note: str = ""
    remedy: str = ""
    rules_out: frozenset[str] = frozenset()


Judgement = tuple[str, str, str, frozenset]  # verdict, note, remedy, methods ruled out


@dataclass(frozen=True)
class Check:
    name: str
    probe: Callable[[Facts], tuple[str, str]]
    judge: Callable[[Facts], Judgement]

    def run(self, facts: Facts) -> CheckResult:
        source, destination = self.probe(facts)
        verdict, note, remedy, rules_out = self.judge(facts)
        return CheckResult(self.name, source, destination, verdict, note, remedy, frozenset(rules_out))


def _ok(note: str = "") -> Judgement:
    return OK, note, "", frozenset()


def _same_host(f: Facts) -> Judgement:
    if f.source.uri == f.destination.uri or (
            f.source.host_uuid and f.source.host_uuid == f.destination.host_uuid):
        return (FAIL, "both connections reach the same host (same host UUID)",
                "Choose another destination host; a machine cannot migrate to the host it runs on. "
                "Cloned hosts need distinct host UUIDs (host_uuid in libvirtd.conf).", ALL)
    return _ok()


def _driver(f: Facts) -> Judgement:
    if f.source.driver != f.destination.driver:
        return (FAIL, f"the hosts run different hypervisor drivers ({f.source.driver} and {f.destination.driver})",
                "Migrate only between hosts of the same hypervisor.", ALL)
    return _ok()


def _features(side: HostSide) -> str:
    if side.migrates is False:
        return "none"
    return ", ".join((["live"] if side.live else []) + side.transports) or "offline only"


def _migration_support(f: Facts) -> Judgement:
    for side, where in ((f.source, "source"), (f.destination, "destination")):
        if not side.migrates:
            return (FAIL, f"the {where}'s {side.driver or 'hypervisor'} driver does not migrate machines "
                    "(its capabilities list no migration features)",
                    "Use hosts whose hypervisor supports migration (QEMU/KVM, Xen).", ALL)
    if not (f.source.live and f.destination.live):
        return (WARN, "no live migration: only a shut-off machine's definition can move",
                "Shut the machine off and migrate it offline.", LIVE)
    if not f.options.tunnelled and "tcp" not in f.destination.transports:
        return (WARN, "the destination offers no tcp transport for the migration stream",
                "Use a tunnelled migration (through the libvirt connection).", LIVE - {P2P})
    return _ok()


def _versions(f: Facts) -> Judgement:
    if f.destination.hypervisor_version and f.destination.hypervisor_version < f.source.hypervisor_version:
        return (WARN, "the destination's hypervisor is older than the source's; newer machine types or "
                "devices may be refused", "Prefer migrating to a host at least as new.", frozenset())
    return _ok()


def _domain_type(f: Facts) -> Judgement:
    key = (f.machine.arch, f.machine.domain_type)
    if key not in f.destination.guests:
        offered = ", ".join(sorted(f"{t} {a}" for a, t in f.destination.guests)) or "nothing"
        return (FAIL, f"the destination cannot run a '{key[1]}' {key[0]} machine (it offers: {offered})",
                "Choose a destination whose hypervisor offers this machine's type and architecture.", ALL)
    return _ok()


def _machine_type(f: Facts) -> Judgement:
    machines = f.destination.guests.get((f.machine.arch, f.machine.domain_type))
    if not f.machine.machine_type or not machines:
        return NOT_APPLICABLE, "", "", frozenset()
    if f.machine.machine_type not in machines:
        return (FAIL, f"the destination's hypervisor has no machine type {f.machine.machine_type}",
                "Upgrade the destination's QEMU, or choose a host that offers this machine type.", ALL)
    return _ok()


def _cpu(f: Facts) -> Judgement:
    verdict = f.destination.cpu_verdict
    if f.machine.cpu_mode in ("host-passthrough", "maximum"):
        if f.source.host_cpu != f.destination.host_cpu:
            return (FAIL, "the machine uses the host's CPU as it is, and the hosts' CPU models differ",
                    "Give the machine a named CPU model both hosts support, or shut it off and migrate "
                    "offline.", LIVE)
        return _ok("host-passthrough between identical CPU models")
    if verdict == "incompatible":
        return (FAIL, "the destination's CPU cannot run this machine's CPU model",
                "Choose a CPU model both hosts support (for example a baseline model), or another host.", LIVE)
    if verdict.startswith("unknown"):
        return WARN, verdict.removeprefix("unknown: "), "", frozenset()
    return _ok()


def _state(f: Facts) -> Judgement:
    state = f.machine.state
    if state in ("running", "blocked", "paused"):
        return _ok()
    if state == "shutoff":
        if not f.machine.persistent:
            return FAIL, "a transient machine that is shut off no longer exists", "", ALL
        return _ok("shut off: only its definition moves")
    return (FAIL, f"the machine is {STATE_LABELS.get(state, state)}", "Start it (or shut it off) and try again.", ALL)


def _state_rules(f: Facts) -> Judgement:
    """Which methods fit the machine's state (live needs it running, offline needs it off)."""
    if f.machine.state == "shutoff":
        return OK, "shut off: a live migration needs the machine running", "Start it first.", LIVE
    return (OK, "running: an offline migration would only copy its definition", "Shut it off first.",
            frozenset({OFFLINE}))


def _on_destination(f: Facts) -> Judgement:
    found, same_name = f.destination.same_uuid, f.destination.same_name_uuid
    if same_name and same_name != f.machine.uuid:
        return (FAIL, f"another machine named {f.machine.name} (UUID {same_name}) exists on the destination",
                "Rename or remove that machine, or this one, first.", ALL)
    if found and found[1] != "shutoff":
        return (FAIL, f"this machine already runs on the destination (as {found[0]}, {found[1]})",
                "Stop one of the two copies: the same machine must not run twice.", ALL)
    if found:
        return (WARN, "the destination has a shut-off definition of this machine; it will be replaced", "",
                frozenset())
    return _ok()


def _memory(f: Facts) -> Judgement:
    free, needed = f.destination.free_memory, f.machine.memory_kib * 1024
    if free is None or f.machine.state == "shutoff":
        return NOT_APPLICABLE, "", "", frozenset()
    if free < needed:
        return (FAIL, f"the destination has {free // 2**20} MiB free; the machine needs {needed // 2**20} MiB",
                "Free memory on the destination or choose another host.", LIVE)
    return _ok()


def _disks(f: Facts) -> Judgement:
    local = [d for d in f.machine.disks if d.needs_copy]
    if not local:
        return _ok()
    names = ", ".join(d.target for d in local)
    return (WARN, f"local disks ({names}) are not on shared storage: a live migration must copy them",
            "Put the disks on shared storage (NFS, Ceph, iSCSI) or let the migration copy them.",
            frozenset({P2P, MANAGED}))


def _destination_storage(f: Facts) -> Judgement:
    local = [d for d in f.machine.disks if d.needs_copy]
    if not local:
        return NOT_APPLICABLE, "", "", frozenset()
    problems = []
    for disk in local:
        folder = os.path.dirname(os.path.normpath(disk.path))
        if not disk.pool:
            problems.append(f"{disk.target}: {disk.path} is in no storage pool on the source")
        elif folder not in f.destination.pool_paths:
            problems.append(f"{disk.target}: no storage pool at {folder} on the destination")
        elif disk.path in f.destination.existing_volumes:
            problems.append(f"{disk.target}: {disk.path} already exists on the destination")
    if problems:
        return (FAIL, "; ".join(problems),
                "Create an active storage pool with the same target path on the destination (and remove "
                "stale volumes), or move the disks to shared storage.", frozenset({COPY_STORAGE}))
    return _ok()


def _peer_address(f: Facts) -> Judgement:
    dest, source = urlsplit(f.destination.uri), urlsplit(f.source.uri)
    if source.hostname and not dest.hostname:
        return (WARN, "the destination URI names no host, so the source's daemon cannot reach it by itself",
                "Give the destination as a remote URI (qemu+ssh://host/system or qemu+tcp://...).",
                frozenset({P2P, COPY_STORAGE, OFFLINE}))
    return _ok()


def _job(f: Facts) -> Judgement:
    if f.machine.job:
        return (FAIL, f"the machine is busy with {f.machine.job}",
                "Wait for it to end, or abort it.", LIVE)
    return _ok()


def _options(f: Facts) -> Judgement:
    if f.options.tunnelled:
        return (OK, "tunnelled: the stream goes through the libvirt connection (peer-to-peer only)", "",
                frozenset({MANAGED, COPY_STORAGE}))
    return _ok()


def _disk_list(f: Facts) -> str:
    return ", ".join(f"{d.target} {'shared' if d.shared else 'read-only' if d.readonly else 'local'}"
                     for d in f.machine.disks) or "no disks"


def _disk_places(f: Facts) -> str:
    """Where each disk to copy is on the source: its pool, or in none (said once, the same
    words as the verdict), so the row never names a pool the disk is not in."""
    local = [d for d in f.machine.disks if d.needs_copy]
    if not local:
        return "no disk to copy"
    return "; ".join(f"{d.target}: " + (f"pool {d.pool}" if d.pool else "in no storage pool")
                     + f" ({os.path.dirname(os.path.normpath(d.path))})" for d in local)


def _pools(side: HostSide) -> str:
    return ", ".join(f"{name} ({path})" for path, name in sorted(side.pool_paths.items())) or "no active pools"


def _mib(value: int | None) -> str:
    return "unknown" if value is None else f"{value // 2**20} MiB free"


CHECKS: list[Check] = [
    Check("Same host", lambda f: (f.source.host_uuid, f.destination.host_uuid), _same_host),
    Check("Hypervisor driver", lambda f: (f.source.driver, f.destination.driver), _driver),
    Check("Migration features", lambda f: (_features(f.source), _features(f.destination)), _migration_support),
    Check("Versions", lambda f: (
        f"libvirt {version_text(f.source.libvirt_version)}, hypervisor {version_text(f.source.hypervisor_version)}",
        f"libvirt {version_text(f.destination.libvirt_version)}, "
        f"hypervisor {version_text(f.destination.hypervisor_version)}"), _versions),
    Check("Domain type", lambda f: (f"{f.machine.domain_type} {f.machine.arch}", "offered" if (
        f.machine.arch, f.machine.domain_type) in f.destination.guests else "not offered"), _domain_type),
    Check("Machine type", lambda f: (f.machine.machine_type or "default", "offered" if f.machine.machine_type in
                                     f.destination.guests.get((f.machine.arch, f.machine.domain_type), ())
                                     else "not offered"), _machine_type),
    Check("CPU", lambda f: (f.machine.cpu_mode or "default", f.destination.cpu_verdict), _cpu),
    Check("Machine state", lambda f: (f.machine.state, ""), _state),
    Check("Method for this state", lambda f: (f.machine.state, "offline only" if f.machine.state == "shutoff"
                                              else "live methods"), _state_rules),
    Check("Name and UUID on destination", lambda f: (f"{f.machine.name} {f.machine.uuid}", (
        f"{f.destination.same_uuid[0]} ({f.destination.same_uuid[1]})" if f.destination.same_uuid
        else "taken by another machine" if f.destination.same_name_uuid else "free")), _on_destination),
    Check("Memory", lambda f: (f"{f.machine.memory_kib // 1024} MiB", _mib(f.destination.free_memory)), _memory),
    Check("Disks", lambda f: (_disk_list(f), ""), _disks),
    Check("Storage on destination", lambda f: (_disk_places(f), _pools(f.destination)), _destination_storage),
    Check("Peer-to-peer address", lambda f: (f.source.uri, f.destination.uri), _peer_address),
    Check("Running job", lambda f: (f.machine.job or "none", ""), _job),
    Check("Options", lambda f: ("tunnelled" if f.options.tunnelled else "direct stream", ""), _options),
]


def option_rows(f: Facts) -> list[CheckResult]:
    """A row per asked-for option that one host's libvirt or hypervisor is too old to honour
    (option_support.py), naming the version that would; then a row per method whose own flag
    or parameter a host lacks. Options a shut-off machine's offline migration drops are not
    held against it."""
    rows = []
    offline = f.machine.state == "shutoff"
    for need in OPTION_NEEDS:
        if not asked_for(f.options, need) or (need.live_only and offline):
            continue
        for unmet in shortfalls(need, f.source, f.destination):
            has = {unmet.side: unmet.has}
            rows.append(CheckResult(
                f"Option: {need.label}", has.get("source", ""), has.get("destination", ""), FAIL,
                f"the {unmet.side} runs {unmet.has}, which cannot honour {need.symbol} (it needs {unmet.wants})",
                f"Upgrade the {unmet.side} to {unmet.wants}, or turn {need.label} off.",
                LIVE if need.live_only else ALL))
    for method, need in ((COPY_STORAGE, MIGRATE_DISKS), (OFFLINE, OFFLINE_FLAG)):
        for unmet in shortfalls(need, f.source, f.destination):
            has = {unmet.side: unmet.has}
            rows.append(CheckResult(
                f"Method: {method}", has.get("source", ""), has.get("destination", ""), WARN,
                f"the {unmet.side} runs {unmet.has}, which has no {need.symbol} (it needs {unmet.wants})",
                f"Upgrade the {unmet.side} to {unmet.wants} to migrate this way.", frozenset({method})))
    return rows


@dataclass
class Decision:
    method: str                      # "" when refused
    results: list[CheckResult]
    refused_because: list[CheckResult] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return bool(self.method)

    def reason(self) -> str:
        return "; ".join(f"{r.name}: {r.note}" for r in self.refused_because)


def decide(facts: Facts) -> Decision:
    results = [check.run(facts) for check in CHECKS] + option_rows(facts)
    ruled_out = frozenset().union(*(r.rules_out for r in results))
    wanted = [facts.options.method] if facts.options.method else list(METHODS)
    for method in wanted:
        if method not in ruled_out:
            return Decision(method, results)
    # Refused: name every check that stands in the way of the methods that were considered
    # (the state-fit rule only explains, it is never the whole story).
    standing = [r for r in results if r.rules_out & set(wanted)]
    return Decision("", results, [r for r in standing if r.verdict in (FAIL, WARN)] or standing)
