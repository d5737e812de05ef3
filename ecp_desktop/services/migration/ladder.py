"""The ladder: every way of moving the machine both hosts may allow, in order, and what a
refusal of one way means for the next.

A rung is a method (checks.METHODS: what moves) through one libvirt entry point (how it is
asked). The negotiation lists every rung with its verdict (a candidate, or ruled out and
why); the run tries the candidates in order and, while libvirt refuses one for a reason
another may not have (``moves_on``), records the refusal and tries the next.

libvirt's own feature probe (MIGRATION_P2P/PARAMS/OFFLINE/V3) is private, so which entry
points a pair of hosts has is decided by their versions here and, at run time, by
libvirt's answer.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import libvirt

from ..core.errors import HypervisorError
from .checks import COPY_STORAGE, MANAGED, OFFLINE, P2P, CheckResult, Decision, Facts, MigrationOptions
from .option_support import OptionNeed, shortfalls, version

API_P2P, API_MANAGED = "migrateToURI3", "migrate3"                     # extensible parameters
API_P2P_LEGACY, API_MANAGED_LEGACY = "migrateToURI2", "migrate2"      # the older APIs
PEER_TO_PEER_APIS = frozenset({API_P2P, API_P2P_LEGACY})
# What each entry point needs on both hosts (libvirt-domain.c, "Since:" of the API).
API_NEEDS = {
    API_P2P: OptionNeed("", "Extensible parameters", "virDomainMigrateToURI3", version(1, 1, 0)),
    API_MANAGED: OptionNeed("", "Extensible parameters", "virDomainMigrate3", version(1, 1, 0)),
    API_P2P_LEGACY: OptionNeed("", "Older API", "virDomainMigrateToURI2", version(0, 9, 2)),
    API_MANAGED_LEGACY: OptionNeed("", "Older API", "virDomainMigrate2", version(0, 9, 2)),
}
# The older APIs take the stream's URI and the bandwidth as arguments, nothing else.
LEGACY_PARAMS = frozenset({libvirt.VIR_MIGRATE_PARAM_URI, libvirt.VIR_MIGRATE_PARAM_BANDWIDTH})


@dataclass(frozen=True)
class Rung:
    method: str
    api: str

    @property
    def peer_to_peer(self) -> bool:
        return self.api in PEER_TO_PEER_APIS

    @property
    def extensible(self) -> bool:
        """Carries every typed parameter (the older APIs only the stream's URI and bandwidth)."""
        return self.api in (API_P2P, API_MANAGED)

    @property
    def label(self) -> str:
        return f"{self.method} via {self.api}"


# In order: peer-to-peer before client-managed (the source's daemon drives it, so it survives
# this client), extensible parameters before the older APIs (which drop every parameter but
# the stream's URI and the bandwidth). Copy-storage has no older rung: its disk list is a
# parameter, and without it QEMU would copy every writable disk.
LADDER: tuple[Rung, ...] = (
    Rung(P2P, API_P2P), Rung(MANAGED, API_MANAGED),
    Rung(COPY_STORAGE, API_P2P), Rung(COPY_STORAGE, API_MANAGED),
    Rung(OFFLINE, API_P2P), Rung(OFFLINE, API_MANAGED),
    Rung(P2P, API_P2P_LEGACY), Rung(MANAGED, API_MANAGED_LEGACY),
    Rung(OFFLINE, API_P2P_LEGACY), Rung(OFFLINE, API_MANAGED_LEGACY),
)

CANDIDATE, RULED_OUT = "candidate", "ruled out"               # before running
NOT_TRIED, TRYING, REFUSED, SUCCEEDED, FAILED = "not tried", "trying", "refused", "succeeded", "failed"


@dataclass
class MethodRow:
    """One rung as the user sees it: before the run (candidate / ruled out) and during it."""
    method: str
    api: str
    verdict: str
    reasons: list[str] = field(default_factory=list)
    code: str = ""        # libvirt's code name when it refused or failed
    message: str = ""     # libvirt's words (data from the host)

    @property
    def label(self) -> str:
        return Rung(self.method, self.api).label

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MethodRow:
        """Read defensively: a task row may come from another version or another operator."""
        return cls(str(data.get("method", "")), str(data.get("api", "")), str(data.get("verdict", "")),
                   [str(r) for r in data.get("reasons") or []], str(data.get("code", "")),
                   str(data.get("message", "")))


def flags_for(rung: Rung, options: MigrationOptions) -> int:
    """The migrate flags one rung sends: its method's, then the options it can carry."""
    flags = 0
    if rung.method != OFFLINE:
        flags |= libvirt.VIR_MIGRATE_LIVE
    if rung.peer_to_peer:
        flags |= libvirt.VIR_MIGRATE_PEER2PEER
    if rung.method == OFFLINE:
        flags |= libvirt.VIR_MIGRATE_OFFLINE | libvirt.VIR_MIGRATE_PERSIST_DEST
    if rung.method == COPY_STORAGE:
        flags |= libvirt.VIR_MIGRATE_NON_SHARED_DISK
    if options.persistent:
        flags |= libvirt.VIR_MIGRATE_PERSIST_DEST
    if options.undefine_source:
        flags |= libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
    if options.tunnelled and rung.method == P2P and rung.peer_to_peer:
        flags |= libvirt.VIR_MIGRATE_TUNNELLED
    if rung.method != OFFLINE:
        if options.auto_converge:
            flags |= libvirt.VIR_MIGRATE_AUTO_CONVERGE
        if options.postcopy:
            flags |= libvirt.VIR_MIGRATE_POSTCOPY
    return flags


def typed_params(method: str, options: MigrationOptions, facts: Facts) -> dict:
    """The typed parameters a method sends through the extensible APIs (``migrateToURI3``,
    ``migrate3``); the older APIs take only the URI and the bandwidth of these."""
    params: dict = {}
    if options.bandwidth_mib and method != OFFLINE:
        params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = int(options.bandwidth_mib)
    if options.migration_address and method != OFFLINE and not options.tunnelled:
        address = options.migration_address
        params[libvirt.VIR_MIGRATE_PARAM_URI] = address if "://" in address else f"tcp://{address}"
    if method == COPY_STORAGE:
        params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = [d.target for d in facts.machine.disks if d.needs_copy]
    return params


def _ruled_out_because(rung: Rung, facts: Facts, decision: Decision) -> list[str]:
    wanted = [facts.options.method] if facts.options.method else None
    reasons = [f"{r.name}: {r.note}" for r in decision.results if rung.method in r.rules_out]
    if wanted is not None and rung.method not in wanted:
        reasons.append(f"only {wanted[0]} was asked for")
    if rung.method == COPY_STORAGE and not any(d.needs_copy for d in facts.machine.disks):
        reasons.append("no local disk to copy")
    for unmet in shortfalls(API_NEEDS[rung.api], facts.source, facts.destination):
        reasons.append(f"the {unmet.side} runs {unmet.has}; {unmet.need.symbol} needs {unmet.wants}")
    extra = set(typed_params(rung.method, facts.options, facts)) - LEGACY_PARAMS
    if not rung.extensible and extra:
        reasons.append(f"the older API cannot carry {', '.join(sorted(extra))}")
    return reasons


def method_rows(facts: Facts, decision: Decision) -> list[MethodRow]:
    """Every rung in order, each a candidate or ruled out with its reasons."""
    rows = []
    for rung in LADDER:
        reasons = _ruled_out_because(rung, facts, decision)
        rows.append(MethodRow(rung.method, rung.api, RULED_OUT if reasons else CANDIDATE, reasons))
    return rows


def candidates(facts: Facts, decision: Decision) -> list[Rung]:
    return [Rung(r.method, r.api) for r in method_rows(facts, decision) if r.verdict == CANDIDATE]


# Codes with which libvirt refuses one rung rather than the migration: an entry point, a
# flag, a parameter or a protocol this pair of hosts lacks, which another rung (another API,
# peer-to-peer or client-managed, with or without extensible parameters) may not need.
#   NO_SUPPORT             the driver lacks the entry point ("this function is not supported by
#                          the connection driver: virDomainMigrate3"; the test driver)
#   OPERATION_UNSUPPORTED  the hypervisor cannot do it this way
#   ARGUMENT_UNSUPPORTED   "direct migration is not supported by the source host", "offline
#                          migration is not supported by the destination host", "parameter '...'
#                          not supported", "unsupported scheme ... in migration URI"
#   INVALID_ARG            only as "unsupported flags (0x...)": a flag an older daemon lacks
MOVES_ON_CODES = frozenset({"NO_SUPPORT", "OPERATION_UNSUPPORTED", "ARGUMENT_UNSUPPORTED"})
# Peer-to-peer only: the source's daemon could not open its own connection to the destination.
# libvirt 9 passes the RPC error on as it is: SYSTEM_ERROR "unable to connect to server at
# 'HOST:PORT': ..." (domain RPC), or an authentication code. A client-managed rung uses this
# client's connection, which works, instead. A connection lost *during* the stream (SYSTEM_ERROR
# "End of file while reading data") is a failure, not a refusal: it is not retried another way.
PEER_AUTH_CODES = frozenset({"NO_CONNECT", "AUTH_FAILED", "AUTH_UNAVAILABLE", "AUTH_CANCELLED"})
PEER_CONNECT_FAILED = "unable to connect to server"
PEER_CONNECTION_DOMAINS = frozenset({"RPC", "REMOTE"})
# Every other code is about the machine or the hosts themselves (NO_DOMAIN, DOM_EXIST,
# CPU_INCOMPATIBLE, OPERATION_INVALID, MIGRATE_UNSAFE, OPERATION_FAILED, OPERATION_ABORTED,
# OPERATION_TIMEOUT, "Attempt to migrate guest to the same host"...): no other rung would fix
# it, so the ladder stops at once.


def moves_on(error: HypervisorError, rung: Rung) -> bool:
    """Whether ``error`` refuses only this rung, so the next one is worth trying."""
    if error.code_name in MOVES_ON_CODES:
        return True
    if error.code_name == "INVALID_ARG" and "unsupported flags" in error.message:
        return True
    if not rung.peer_to_peer or error.domain_name not in PEER_CONNECTION_DOMAINS:
        return False
    return error.code_name in PEER_AUTH_CODES or (
        error.code_name == "SYSTEM_ERROR" and PEER_CONNECT_FAILED in error.message)


def tried_rows(params: dict) -> list[MethodRow]:
    """The rows a migrate step recorded (its candidates, each with what happened)."""
    return [MethodRow.from_dict(row) for row in params.get("methods") or [] if isinstance(row, dict)]


def every_method_refused(params: dict) -> bool:
    rows = tried_rows(params)
    return bool(rows) and all(row.verdict == REFUSED for row in rows)


def as_check_rows(rows: list[MethodRow]) -> list[CheckResult]:
    """Method rows as lines of the checks table, the same in the CLI and the dialog: the way
    of migrating first, then libvirt's code name and its words (or why it is ruled out)."""
    table = []
    for number, row in enumerate(rows, 1):
        words = row.message or "; ".join(row.reasons)
        table.append(CheckResult(f"Method {number}: {row.label}", row.code, words, row.verdict,
                                 note=f"libvirt: {row.code}: {row.message}" if row.code else "; ".join(row.reasons)))
    return table
