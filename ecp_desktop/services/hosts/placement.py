"""Which hosts may take machines now: the one rule for an evacuation's and a dead host's
destinations, New Machine's host and the destination lists. A host takes machines when it is
connected and not in maintenance (``in_maintenance``: the URIs with a maintenance mark, read
by the caller from the shared inventory)."""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from .connection import HostConnection


def placement_refusal(uri: str, host: HostConnection | None, in_maintenance: Collection[str]) -> str | None:
    """Why no machine may go to the host now, in words, or None when it may."""
    if host is None or not host.connected:
        return f"not connected ({host.reason if host and host.reason else 'not configured'})"
    if uri in in_maintenance:
        return "in maintenance"
    return None


def first_host_taking_machines(candidates: Iterable[str], hosts: Mapping[str, HostConnection],
                               in_maintenance: Collection[str]) -> str | None:
    """The first of ``candidates`` that may take a machine now, or None."""
    return next((uri for uri in candidates if placement_refusal(uri, hosts.get(uri), in_maintenance) is None), None)
