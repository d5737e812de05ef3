"""Whether this instance still owns the flow it works on (fencing, after Kleppmann's tokens).

Another instance takes a flow over when this one looks dead: its heartbeat is older than
``heartbeat.STALE_SECONDS`` (a crash, a laptop suspend, a SIGSTOP). The takeover raises the
flow's generation in the database; every write of the old owner names the old generation,
changes nothing and marks the flow lost (``TaskService``), so the old owner stops at its
next write. libvirt cannot check a token, so a step also acts only within a lease: at most
``LEASE_SECONDS`` after this instance's last successful write of the flow, measured on the
boot clock (which runs on during a suspend, unlike the monotonic one). Past it, the flow is
written again first (which finds a takeover), and the worker checks the lease again right
before it calls libvirt. The lease is half the time after which others take over.
"""
from __future__ import annotations

import time

from ..sharing import heartbeat

LEASE_SECONDS = heartbeat.STALE_SECONDS / 2


class FlowLost(Exception):
    """Another instance took this flow over: stop, touching neither libvirt nor its records."""


class LeaseExpired(Exception):
    """Too long since the flow was last written as this instance's: write it again first."""


def now() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


class Leases:
    """The time of each flow's last fenced write (by the root record's id)."""

    def __init__(self) -> None:
        self._written_at: dict[int, float] = {}

    def renew(self, root_id: int) -> None:
        self._written_at[root_id] = now()

    def expired(self, root_id: int) -> bool:
        return now() - self._written_at.get(root_id, float("-inf")) > LEASE_SECONDS

    def guard(self, root_id: int) -> None:
        """In the worker, right before libvirt: the lease must still hold."""
        if self.expired(root_id):
            raise LeaseExpired(f"more than {LEASE_SECONDS:g} s since this flow was last written")

    def forget(self, root_id: int) -> None:
        self._written_at.pop(root_id, None)
