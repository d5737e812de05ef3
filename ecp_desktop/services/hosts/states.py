"""The one vocabulary of machine states: libvirt's state codes as words, and labels to show.

Every layer (listing, events, restore, migration checks, templates, views) speaks these
words; a second spelling of a state ("suspended" for "pmsuspended") would make filters
and checks disagree.
"""
from __future__ import annotations

import libvirt

STATE_NAMES = {
    libvirt.VIR_DOMAIN_NOSTATE: "nostate",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "blocked",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutdown",
    libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}
STATE_LABELS = {
    "nostate": "no state", "running": "running", "blocked": "blocked", "paused": "paused",
    "shutdown": "shutting down", "shutoff": "shut off", "crashed": "crashed",
    "pmsuspended": "suspended (PM)",
}
ACTIVE_STATES = {"running", "blocked", "paused", "shutdown", "pmsuspended"}

# A lifecycle event tells the new state at once; the row changes before the refresh returns.
EVENT_STATES = {
    libvirt.VIR_DOMAIN_EVENT_STARTED: "running",
    libvirt.VIR_DOMAIN_EVENT_SUSPENDED: "paused",
    libvirt.VIR_DOMAIN_EVENT_RESUMED: "running",
    libvirt.VIR_DOMAIN_EVENT_STOPPED: "shutoff",
    libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED: "pmsuspended",
    libvirt.VIR_DOMAIN_EVENT_CRASHED: "crashed",
}


def state_name(code: int) -> str:
    return STATE_NAMES.get(code, "nostate")
