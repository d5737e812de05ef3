"""What is still to be written to the inventory for one host, coalesced.

The inventory writes what it learns (a listing, each machine's latest facts) and what the
user asked for (the desired state, the restore policies, a host removed). While the database
cannot be written these wait, and a long outage must not grow them without bound: each is
kept as its *latest value per machine*, never as a list of every change, so pending writes
are bounded by the number of machines, however long the outage and however many events.

Order is kept where it changes the result, by writing the parts in a fixed order in which
everything written later is newer than what it could overwrite:
  1. ``forget_host``: the host's rows go (the host was removed); all below is newer.
  2. ``forgets_before``: machine rows deleted before the listing below was taken (a flow
     undid them); a machine of that UUID in the listing then gets a fresh row, as it did.
  3. ``listing``: the host's full listing; the machine facts below are newer than it
     (queueing a listing drops the facts queued before it: it has newer ones).
  4. ``machines``: per machine, delete its row first (``forget``), then its last facts
     (``info``), then a "missing" mark (seen, then gone).
  5. ``desired`` and ``policy``: the user's intents, last, so that a machine first seen
     meanwhile already has its row (an intent written before the row would be lost).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .machines import MachineInfo


@dataclass
class MachineWrite:
    """One machine's pending facts: delete the row first (``forget``), then write ``info``
    (its last facts, if any), then mark it missing (``missing``: it is gone)."""
    forget: bool = False
    info: MachineInfo | None = None
    missing: bool = False

    def then(self, newer: MachineWrite) -> MachineWrite:
        """This write followed by ``newer``, as one."""
        if newer.forget:  # the row goes: nothing of this one matters any more
            return MachineWrite(True, newer.info, newer.missing)
        if newer.info is not None:
            return MachineWrite(self.forget, newer.info, newer.missing)
        # "gone": the last facts are still written (a row for a machine seen and gone), marked missing
        return MachineWrite(self.forget, self.info, self.missing or newer.missing)


@dataclass
class HostWrites:
    forget_host: bool = False
    forgets_before: set[str] = field(default_factory=set)
    listing: Any = None  # what the inventory's listing writer takes (opaque here)
    machines: dict[str, MachineWrite] = field(default_factory=dict)
    desired: dict[str, str] = field(default_factory=dict)
    policy: dict[str, tuple[str, str]] = field(default_factory=dict)  # uuid -> (restore, paused); "" keeps
    failing: str = field(default="", compare=False)  # the part being written (a failure names it)

    def empty(self) -> bool:
        return not (self.forget_host or self.forgets_before or self.listing is not None or self.machines
                    or self.desired or self.policy)

    def then(self, newer: HostWrites) -> HostWrites:
        """These writes followed by ``newer``'s, as a new ``HostWrites`` (see the module's order)."""
        copy = HostWrites(self.forget_host, set(self.forgets_before), self.listing,
                          {uuid: MachineWrite(m.forget, m.info, m.missing) for uuid, m in self.machines.items()},
                          dict(self.desired), dict(self.policy))
        copy.absorb(newer)
        return copy

    def absorb(self, newer: HostWrites) -> None:
        """Become these writes followed by ``newer``'s, in place: the cost is that of ``newer``
        (one machine's change costs the same with ten thousand waiting: the loop thread puts)."""
        if newer.forget_host:  # the host's rows go: everything older is moot
            self.forget_host, self.forgets_before, self.listing = True, set(newer.forgets_before), newer.listing
            self.machines, self.desired, self.policy = dict(newer.machines), dict(newer.desired), dict(newer.policy)
            return
        self.forgets_before |= newer.forgets_before
        if newer.listing is not None:
            # The newer listing supersedes older facts; older deletions still happen before it.
            self.forgets_before |= {uuid for uuid, m in self.machines.items() if m.forget}
            self.listing, self.machines = newer.listing, dict(newer.machines)
        else:
            for uuid, write in newer.machines.items():
                self.machines[uuid] = self.machines[uuid].then(write) if uuid in self.machines else write
        self.desired.update(newer.desired)
        for uuid, (restore, paused) in newer.policy.items():
            old_restore, old_paused = self.policy.get(uuid, ("", ""))
            self.policy[uuid] = (restore or old_restore, paused or old_paused)

    def size(self) -> int:
        """How many rows' worth is pending (for the log)."""
        return (len(self.forgets_before) + len(self.machines) + len(self.desired) + len(self.policy)
                + (self.listing is not None) + self.forget_host)


def merge(older: dict[str, HostWrites], newer: dict[str, HostWrites]) -> dict[str, HostWrites]:
    """Per host URI: ``older`` followed by ``newer``, into ``older`` (its writes are absorbed)."""
    for uri, writes in newer.items():
        if uri in older:
            older[uri].absorb(writes)
        else:
            older[uri] = writes
    return older
