"""What a tree of flow steps says: its leaves, which steps did (or may have) change
something and need undoing, the machines a step changed, and a group's outcome in words."""
from __future__ import annotations

import libvirt

from ..core.errors import HypervisorError
from .operations import operation
from .records import (FAILED, REGULAR, ROLLBACK, ROLLBACK_FAILED, ROLLED_BACK, ROLLING_BACK, RUNNING, SUCCEEDED,
                      TaskRecord)

# A failure whose effect is unknown: the request may have reached the daemon, which may have
# carried it out, but its answer was lost. libvirt's RPC layer reports a connection that
# broke under a call as SYSTEM_ERROR ("Cannot recv data", "End of file while reading data"),
# INTERNAL_ERROR ("client socket is closed", "connection closed due to keepalive timeout") or
# RPC; OPERATION_TIMEOUT is ours (the host did not answer in time; the call may still run).
# Not uncertain: INVALID_CONN and NO_CONNECT (nothing was sent: the host was not connected)
# and every error the daemon itself answered with (it said what it did).
_UNCERTAIN_RPC_CODES = frozenset({libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_ERR_RPC,
                                  libvirt.VIR_ERR_OPERATION_TIMEOUT})
# The host could not be used (nothing was done, or the answer was lost): worth trying again by
# itself when the host is back, unlike a refusal the daemon answered, which a retry repeats.
_HOST_AWAY_CODES = frozenset({libvirt.VIR_ERR_INVALID_CONN, libvirt.VIR_ERR_NO_CONNECT})


def effect_uncertain(error: HypervisorError | None) -> bool:
    """The failed call may have taken effect (its reply was lost): check it and undo it."""
    return (error is not None and error.domain == libvirt.VIR_FROM_RPC
            and error.code in _UNCERTAIN_RPC_CODES)


def host_was_away(error: HypervisorError | None) -> bool:
    """The call failed because the host was unreachable, not because it refused."""
    return error is not None and (error.code in _HOST_AWAY_CODES or effect_uncertain(error))


def changed_machines(step: TaskRecord) -> list[tuple[str, str]]:
    """(host URI, machine UUID) whose definition the step made, moved or removed."""
    return operation(step.op).machines_changed(step.params, step.host_uri) if step.op else []


def group_outcome(group: TaskRecord, status: str) -> dict:
    """What a group's row says: the step that failed, what was undone or left behind."""
    steps = [c for c in group.children if c.role == REGULAR]
    if status == FAILED:
        failed = next((c for c in steps if c.status == FAILED), None)
        if failed is not None:
            reason = failed.error.message if failed.error is not None else failed.error_message
            return {"message": f"{failed.title}: {reason}"}
    if status == ROLLED_BACK:
        undone = sum(1 for c in steps if c.status == ROLLED_BACK)
        return {"summary": f"{undone} step{'s' * (undone != 1)} undone"}
    if status == ROLLBACK_FAILED:
        left = [operation(c.op).leftover(c.params) for c in leaf_steps(group) if c.status == ROLLBACK_FAILED]
        return {"summary": f"left behind: {listing(left)}"}
    return {}


def leaf_steps(record: TaskRecord) -> list[TaskRecord]:
    out = []
    for child in record.children:
        if child.role != REGULAR:
            continue
        out += [child] if child.op else leaf_steps(child)
    return out


def undone_by_rollback(step: TaskRecord) -> bool:
    return any(c.role == ROLLBACK and c.compensates is step and c.status == SUCCEEDED
               for c in (step.parent.children if step.parent else []))


def needs_undo(step: TaskRecord) -> bool:
    """A regular step that did, or may have, changed something and is not undone yet: it
    succeeded, it was running at a crash, its reply was lost (``effect_uncertain``), or an
    earlier undo of it failed (a leftover, tried again)."""
    if step.role != REGULAR or undone_by_rollback(step):
        return False
    if step.status in (SUCCEEDED, RUNNING, ROLLING_BACK, ROLLBACK_FAILED):
        return True
    return step.status == FAILED and effect_uncertain(step.error)


def failed_undos(step: TaskRecord) -> list[TaskRecord]:
    return [c for c in (step.parent.children if step.parent else [])
            if c.role == ROLLBACK and c.compensates is step and c.status == FAILED]


def leftover_steps(root: TaskRecord) -> list[TaskRecord]:
    """Steps whose undo failed: what a rollback left behind."""
    return [leaf for leaf in leaf_steps(root) if leaf.status == ROLLBACK_FAILED]


def retries_by_itself(root: TaskRecord) -> bool:
    """A rollback-failed flow whose every leftover failed only because its host was away:
    tried again by itself when the host is back, and at the next start. One whose undo was
    refused (e.g. the volume is in use) waits for the user's Retry Rollback."""
    left = [step for step in leftover_steps(root) if failed_undos(step)]  # (not those held behind them)
    return bool(left) and all(host_was_away(_last_error(step)) for step in left)


def leftover_hosts(root: TaskRecord) -> set[str]:
    return {step.host_uri for step in leftover_steps(root)}


def _last_error(step: TaskRecord) -> HypervisorError | None:
    undos = failed_undos(step)
    return undos[-1].error if undos else None


def needs_undo_below(record: TaskRecord) -> bool:
    return needs_undo(record) if record.op else any(needs_undo_below(c) for c in record.children)


def listing(items: list[str], most: int = 6) -> str:
    if len(items) <= most:
        return ", ".join(items)
    return ", ".join(items[:most]) + f" and {len(items) - most} more"


def failures_below(record: TaskRecord) -> list[tuple[str, object]]:
    """(what, error) for the record and every failed task under it, for one error dialog."""
    out = []
    if record.status in (FAILED, ROLLBACK_FAILED) and (record.op or record.error is not None):
        out.append((record.title, record.error or record.error_message))
    for child in record.children:
        out += failures_below(child)
    return out


def what_failed(root: TaskRecord) -> list[tuple[str, object]]:
    """What to show for a flow that did not succeed: each failed task under it, else the flow's
    own outcome."""
    return failures_below(root) or [(root.title, root.outcome)]
