"""The status bar's connection health: hosts up, connecting and down (with libvirt's reason in
words), the machine count, and the inventory database when it is away (first: nothing that
needs it can start until it is back)."""
from __future__ import annotations

from dataclasses import dataclass

from ...services.core.database_faults import status_line
from ...services.core.wording import count
from ...services.hosts.connection import HostConnection, HostState
from ..hosts.host_model import host_state_text


def short_reason(host: HostConnection) -> str:
    """The reason in words, short: "libvirtd is not running (systemctl start libvirtd)"."""
    return host.last_error.plain_reason() if host.last_error else host.reason


@dataclass(frozen=True)
class Health:
    text: str
    tooltip: str  # plain text: host reasons quote libvirt
    database_away: bool
    waiting: bool  # a host waits to reconnect: its countdown needs a tick every second


def health(inventory, tasks) -> Health:
    hosts = list(inventory.hosts.values())
    up = sum(h.connected for h in hosts)
    down = [h for h in hosts if h.state is HostState.DISCONNECTED]
    connecting = sum(1 for h in hosts if h.state in (HostState.CONNECTING, HostState.RECONNECTING))
    parts = [f"{count(up, 'host')} connected"]
    if connecting:
        parts.append(f"{connecting} connecting")
    if len(down) > 2:
        parts.append(f"{len(down)} unreachable")
    for host in down[:2] if len(down) <= 2 else ():
        parts.append(f"{host.label} {host_state_text(host)}: {short_reason(host)}")
    parts.append(count(len(inventory.machines), "machine"))
    # The inventory's reason first: it names the cause (the task history's may not yet).
    away, why = status_line(inventory.database_away, tasks.database_away)
    if away:
        parts.insert(0, away)
    return Health(" · ".join(parts), "\n".join([why] * bool(away) + [f"{h.label}: {h.reason}" for h in down]),
                  bool(away), any(h.next_attempt_at is not None for h in down))
