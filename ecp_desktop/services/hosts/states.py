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


# Why a machine is in its state (libvirt's state reason), in words, for the states where the
# reason is what a user asks about; "" where it says nothing (unknown, or not worth a word).
_L = libvirt
STATE_REASONS: dict[tuple[int, int], str] = {
    (_L.VIR_DOMAIN_PAUSED, _L.VIR_DOMAIN_PAUSED_USER): "paused by a user",
    (_L.VIR_DOMAIN_PAUSED, _L.VIR_DOMAIN_PAUSED_MIGRATION): "paused for a migration",
    (_L.VIR_DOMAIN_PAUSED, _L.VIR_DOMAIN_PAUSED_SAVE): "paused while it is saved",
    (_L.VIR_DOMAIN_PAUSED, _L.VIR_DOMAIN_PAUSED_DUMP): "paused while its memory is dumped",
    (_L.VIR_DOMAIN_PAUSED, _L.VIR_DOMAIN_PAUSED_IOERROR):
        "paused: a disk I/O error (is the disk's storage full or gone?); resume it once it is fixed",
    (_L.VIR_DOMAIN_PAUSED, _L.VIR_DOMAIN_PAUSED_WATCHDOG): "paused by its watchdog (the guest stopped answering)",
    (_L.VIR_DOMAIN_PAUSED, _L.VIR_DOMAIN_PAUSED_FROM_SNAPSHOT): "paused: reverted to a snapshot taken paused",
    (_L.VIR_DOMAIN_PAUSED, _L.VIR_DOMAIN_PAUSED_SHUTTING_DOWN): "paused while it shuts down",
    (_L.VIR_DOMAIN_PAUSED, _L.VIR_DOMAIN_PAUSED_SNAPSHOT): "paused while a snapshot is taken",
    (_L.VIR_DOMAIN_PAUSED, _L.VIR_DOMAIN_PAUSED_CRASHED):
        "paused: the guest crashed (see the machine's log on its host)",
    (_L.VIR_DOMAIN_PAUSED, _L.VIR_DOMAIN_PAUSED_STARTING_UP): "paused while it starts",
    (_L.VIR_DOMAIN_PAUSED, _L.VIR_DOMAIN_PAUSED_POSTCOPY): "paused in a post-copy migration",
    (_L.VIR_DOMAIN_PAUSED, _L.VIR_DOMAIN_PAUSED_POSTCOPY_FAILED):
        "paused: its post-copy migration failed (it can run on neither host until it is recovered)",
    (_L.VIR_DOMAIN_PAUSED, _L.VIR_DOMAIN_PAUSED_UNKNOWN):
        "paused by the hypervisor, which gave no reason (e.g. an emulation failure: see the machine's log)",
    (_L.VIR_DOMAIN_SHUTOFF, _L.VIR_DOMAIN_SHUTOFF_SHUTDOWN): "shut off: shut down from inside",
    (_L.VIR_DOMAIN_SHUTOFF, _L.VIR_DOMAIN_SHUTOFF_DESTROYED): "shut off: forced off",
    (_L.VIR_DOMAIN_SHUTOFF, _L.VIR_DOMAIN_SHUTOFF_CRASHED): "shut off: it crashed",
    (_L.VIR_DOMAIN_SHUTOFF, _L.VIR_DOMAIN_SHUTOFF_MIGRATED): "shut off: migrated to another host",
    (_L.VIR_DOMAIN_SHUTOFF, _L.VIR_DOMAIN_SHUTOFF_SAVED): "shut off: saved (starting it restores it)",
    (_L.VIR_DOMAIN_SHUTOFF, _L.VIR_DOMAIN_SHUTOFF_FAILED): "shut off: it failed to start",
    (_L.VIR_DOMAIN_SHUTOFF, _L.VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT): "shut off: reverted to a snapshot taken shut off",
    (_L.VIR_DOMAIN_SHUTOFF, _L.VIR_DOMAIN_SHUTOFF_DAEMON): "shut off by its host's daemon",
    (_L.VIR_DOMAIN_CRASHED, _L.VIR_DOMAIN_CRASHED_PANICKED): "crashed: the guest's kernel panicked",
}


def state_reason(state: int, reason: int) -> str:
    """Why the machine is in ``state``, in words ("" when libvirt says nothing useful)."""
    return STATE_REASONS.get((state, reason), "")
