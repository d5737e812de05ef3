"""Task rows in the database, written and read on the database thread only."""
from __future__ import annotations

from ..models import schema
from ..models.db import database


def insert_task(record, columns: dict) -> None:
    # Parents and undone tasks were written before (one database thread, in order): their ids are known.
    parent_id = record.parent.db_id if record.parent is not None else None
    compensates_id = record.compensates.db_id if record.compensates is not None else None
    with database.connection_context():
        record.db_id = schema.Task.insert(**columns, parent_id=parent_id,
                                          compensates_id=compensates_id).execute()


def update_task(record, columns: dict) -> None:
    if record.db_id is None:
        return
    with database.connection_context():
        schema.Task.update(**columns).where(schema.Task.id == record.db_id).execute()


def _descendants(root_ids: list[int]) -> list[dict]:
    """Rows of the given top-level tasks and everything under them, parents first."""
    rows, frontier = [], root_ids
    while frontier:
        level = []
        for start in range(0, len(frontier), 500):
            chunk = frontier[start:start + 500]
            level += list(schema.Task.select().where(schema.Task.parent_id.in_(chunk))
                          .order_by(schema.Task.id).dicts())
        rows += level
        frontier = [r["id"] for r in level]
    return rows


def recent_trees(limit: int) -> list[dict]:
    with database.connection_context():
        roots = list(schema.Task.select().where(schema.Task.parent_id.is_null())
                     .order_by(schema.Task.id.desc()).limit(limit).dicts())
        roots.reverse()
        return roots + _descendants([r["id"] for r in roots])


def unfinished_trees(states: set[str]) -> list[dict]:
    """Top-level tasks left in one of ``states`` (by a crash), with their whole trees."""
    with database.connection_context():
        roots = list(schema.Task.select().where(schema.Task.parent_id.is_null()
                                                & schema.Task.status.in_(sorted(states)))
                     .order_by(schema.Task.id).dicts())
        return roots + _descendants([r["id"] for r in roots])


def claim(task_ids: list[int], old_owner: str, new_owner: str) -> int:
    """Take over tasks of a dead instance; 0 when another instance took them first."""
    with database.connection_context(), database.atomic():
        return (schema.Task.update(owner=new_owner)
                .where(schema.Task.id.in_(task_ids) & (schema.Task.owner == old_owner)).execute())
