"""What a tree of flow steps says: its leaves, which steps did (or may have) change
something and need undoing, the machines a step changed, and a group's outcome in words."""
from __future__ import annotations

from .operations import operation
from .records import (FAILED, REGULAR, ROLLBACK, ROLLBACK_FAILED, ROLLED_BACK, ROLLING_BACK, RUNNING, SUCCEEDED,
                      TaskRecord)


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
    """A regular step that did, or may have (it was running at a crash), change something."""
    return (step.role == REGULAR and step.status in (SUCCEEDED, RUNNING, ROLLING_BACK)
            and not undone_by_rollback(step))


def needs_undo_below(record: TaskRecord) -> bool:
    return needs_undo(record) if record.op else any(needs_undo_below(c) for c in record.children)


def listing(items: list[str], most: int = 6) -> str:
    if len(items) <= most:
        return ", ".join(items)
    return ", ".join(items[:most]) + f" and {len(items) - most} more"
