"""Whether this instance still owns the flow it works on (fencing, after Kleppmann's tokens).

Another instance takes a flow over when this one looks dead: its heartbeat is older than
``heartbeat.STALE_SECONDS`` (a crash, a laptop suspend, a SIGSTOP). The takeover raises the
flow's generation in the database; every batch of task writes first reads the generation
of each tree it writes (locked, ``store.write_batch``) and writes nothing of a tree that is
no longer this instance's, marking it lost, so the old owner stops at its next write.

libvirt cannot check a token, so a step also calls libvirt only under a lease: since the
last batch that wrote the flow began (``TaskRecord.written_at``), either less than
``LEASE_SECONDS`` passed, or this instance's heartbeat beat without a gap
(``heartbeat.CONTINUITY``): in both cases every other instance still read it as alive, so
nobody can have taken the flow over. Time is the boot clock, which runs on during a
suspend. Past the lease (after a freeze), the flow is written again first, which finds a
takeover; the worker checks the lease again right before it calls libvirt. The lease is
half the time after which others take over.
"""
from __future__ import annotations

from ..sharing import heartbeat

LEASE_SECONDS = heartbeat.STALE_SECONDS / 2


class FlowLost(Exception):
    """Another instance took this flow over: stop, touching neither libvirt nor its records."""


class LeaseExpired(Exception):
    """Too long since the flow was last written as this instance's: write it again first."""


def now() -> float:
    return heartbeat.boot_clock()


def holds(root) -> bool:
    """The lease on ``root``'s flow holds now (see the module's text)."""
    written = getattr(root, "written_at", None)
    if written is None:
        return False
    moment = now()
    return moment - written < LEASE_SECONDS or heartbeat.CONTINUITY.covers(written, moment)


def guard(root) -> None:
    """In the worker, right before libvirt: the lease must still hold."""
    if not holds(root):
        raise LeaseExpired(f"more than {LEASE_SECONDS:g} s since this flow was last written, and the "
                           "heartbeat stopped meanwhile")
