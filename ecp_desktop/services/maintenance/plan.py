"""The evacuation plan: where each machine of a host goes, how, in which order, or why not.

Pure (no libvirt, no database): it is fed the migration service's own negotiations, one per
machine and destination (``MigrationService.negotiate``: the checks and the method they allow),
never a second negotiation. On top of them it keeps the books a single migration cannot: the
memory and vCPUs the plan has already promised each destination, so that no destination gets
more than its free memory holds, and machines spread by what is left. Largest memory first:
the big machines get the roomiest hosts while there is a choice.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..hosts.placement import placement_refusal
from ..migration.checks import LIVE, OFFLINE

MOVE_OFFLINE, LEAVE = "move", "leave"  # what happens to shut-off persistent machines


@dataclass
class DestinationCapacity:
    """A destination's capacity as its negotiation read it, and what the plan promised it."""
    uri: str
    label: str
    free_memory: int | None  # bytes; None: unknown (nothing live is placed there then)
    cpus: int = 0
    promised_memory: int = 0
    promised_vcpus: int = 0

    def left(self) -> int:
        return (self.free_memory or 0) - self.promised_memory

    def vcpu_load(self, more: int = 0) -> float:
        return (self.promised_vcpus + more) / self.cpus if self.cpus else float(self.promised_vcpus + more)


@dataclass
class Machine:
    uuid: str
    name: str
    state: str
    persistent: bool
    memory_kib: int
    vcpus: int = 0


@dataclass
class Move:
    machine: Machine
    destination: str = ""       # "" when it stays
    method: str = ""
    reason: str = ""            # why it cannot move, or why it is left (``left``)
    left: bool = False          # left on purpose (a shut-off machine, the user's choice)
    negotiation: object = None  # the chosen destination's Negotiation
    refusals: dict[str, str] = field(default_factory=dict)  # destination URI -> why not there

    @property
    def moves(self) -> bool:
        return bool(self.destination)

    def as_json(self) -> dict:
        m = self.machine
        data = {"machine": m.name, "uuid": m.uuid, "state": m.state, "persistent": m.persistent,
                "memory_mib": m.memory_kib // 1024, "vcpus": m.vcpus, "destination": self.destination,
                "method": self.method, "left": self.left, "reason": self.reason, "refusals": self.refusals}
        if self.negotiation is not None:
            data["checks"] = self.negotiation.to_dict()["checks"]
        return data


@dataclass
class Plan:
    source: str
    moves: list[Move]
    capacities: dict[str, DestinationCapacity]
    notes: list[str] = field(default_factory=list)  # destinations left out, and why

    @property
    def refused(self) -> list[Move]:
        return [m for m in self.moves if not m.moves and not m.left]

    @property
    def possible(self) -> bool:
        return not self.refused

    def as_json(self) -> dict:
        return {"source": self.source, "possible": self.possible, "notes": self.notes,
                "moves": [m.as_json() for m in self.moves],
                "destinations": [{"uri": r.uri, "free_memory_mib": None if r.free_memory is None
                                  else r.free_memory // 2**20, "cpus": r.cpus,
                                  "promised_memory_mib": r.promised_memory // 2**20,
                                  "promised_vcpus": r.promised_vcpus} for r in self.capacities.values()]}


def destination_capacities(hosts, source_uri: str, destinations: list[str] | None, marks, *, source_is: str,
                      unreachable: type[Exception]) -> tuple[dict[str, DestinationCapacity], list[str]]:
    """(capacities, notes): the hosts machines of ``source_uri`` may go to, those named or every other
    one, leaving out (with a note) the source itself, hosts not connected and hosts in
    maintenance; a named host that is not connected raises ``unreachable`` with the reason.
    ``source_is``: how the note names the source ("the host being evacuated")."""
    named = destinations is not None
    notes, capacities = [], {}
    uris = destinations if named else [u for u in hosts if u != source_uri]
    for uri in dict.fromkeys(uris):
        host = hosts.get(uri)
        if uri == source_uri:
            notes.append(f"{uri}: {source_is} is no destination")
        elif (refusal := placement_refusal(uri, host, marks)) is not None:
            connected = host is not None and host.connected
            if named and not connected:
                raise unreachable(f"{uri}: {refusal}")
            notes.append(f"{uri}: {refusal}" + (", no destination" if connected else ""))
        else:
            capacities[uri] = DestinationCapacity(uri, host.label, None, host.facts.cpus)
    return capacities, notes


def order(machines: list[Machine]) -> list[Machine]:
    """Largest memory first; then more vCPUs; then by name (stable, whatever libvirt's order)."""
    return sorted(machines, key=lambda m: (-m.memory_kib, -m.vcpus, m.name, m.uuid))


def make_plan(source: str, machines: list[Machine], negotiations: dict[tuple[str, str], object],
              capacities: dict[str, DestinationCapacity], *, shut_off: str = MOVE_OFFLINE) -> Plan:
    """``negotiations[(machine uuid, destination uri)]``: a Negotiation, or the words of why the
    hosts could not be read. ``capacities``: the destinations to choose from, by URI."""
    plan = Plan(source, [], capacities)
    for machine in order(machines):
        move = Move(machine)
        plan.moves.append(move)
        if machine.state == "shutoff" and machine.persistent and shut_off == LEAVE:
            move.left, move.reason = True, "shut off: left on the host (as asked)"
            continue
        fits: list[tuple[DestinationCapacity, object]] = []
        for uri, capacity in capacities.items():
            negotiation = negotiations.get((machine.uuid, uri))
            why = _why_not(machine, negotiation, capacity)
            if why:
                move.refusals[uri] = why
            else:
                fits.append((capacity, negotiation))
        if not fits:
            move.reason = _refusal(machine, move.refusals)
            continue
        capacity, negotiation = max(fits, key=lambda pair: score(pair[0], machine, pair[1].decision.method))
        move.destination, move.method, move.negotiation = capacity.uri, negotiation.decision.method, negotiation
        if move.method in LIVE:
            capacity.promised_memory += machine.memory_kib * 1024
            capacity.promised_vcpus += machine.vcpus
    return plan


def _why_not(machine: Machine, negotiation, capacity: DestinationCapacity) -> str:
    if negotiation is None:
        return "not negotiated"
    if isinstance(negotiation, str):
        return negotiation
    decision = negotiation.decision
    if not decision.allowed:
        return decision.reason() or "refused"
    if not machine.persistent and decision.method not in LIVE:
        return "a transient machine needs a live migration, and only an offline one is allowed"
    if decision.method == OFFLINE:
        return ""  # a definition takes no memory
    needed = machine.memory_kib * 1024
    if capacity.free_memory is None:
        return "its free memory is unknown"
    if capacity.left() < needed:
        return (f"not enough memory left: {capacity.left() // 2**20} MiB free after this plan's earlier moves "
                f"({capacity.promised_memory // 2**20} MiB promised), {needed // 2**20} MiB needed")
    return ""


def score(capacity: DestinationCapacity, machine: Machine, method: str) -> tuple[float, float, str]:
    """Higher is better: the most memory left after the move (as a share of the host's free
    memory, so a small host is not filled first), then the lightest vCPU load, then the URI."""
    needed = machine.memory_kib * 1024 if method in LIVE else 0
    free = capacity.free_memory or 1
    load = capacity.vcpu_load(machine.vcpus if method in LIVE else 0)
    return ((capacity.left() - needed) / free, -load, capacity.uri)


def _refusal(machine: Machine, refusals: dict[str, str]) -> str:
    if not refusals:
        return "no destination host to move it to"
    return "no destination can take it: " + "; ".join(f"{uri}: {why}" for uri, why in sorted(refusals.items()))
