"""Task rows in the database, written and read on the database thread only."""
from __future__ import annotations

import peewee

from ecp_desktop.models import schema
from ecp_desktop.models.db import database, is_postgres


_COLUMNS = ("kind", "title", "host_uri", "target_uuid", "target_name", "status", "progress", "started_at",
            "finished_at", "error_message", "error_code", "error_json", "op", "params", "reason", "attempts",
            "owner", "summary", "concurrent")


def _sql_value(value):
    # What peewee's DateTimeField stores, so that reads through the ORM give datetimes back.
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if hasattr(value, "strftime") else value


def insert_task(record, columns: dict) -> None:
    # Parents and undone tasks were written before (one database thread, in order): their ids are known.
    values = [_sql_value(columns[c]) for c in _COLUMNS]
    values += [record.parent.db_id if record.parent is not None else None,
               record.compensates.db_id if record.compensates is not None else None, schema.utcnow()]
    names = ", ".join((*_COLUMNS, "parent_id", "compensates_id", "created_at"))
    marks = ", ".join(["%s" if is_postgres(database.obj) else "?"] * len(values))
    sql = f"INSERT INTO task ({names}) VALUES ({marks})"
    if is_postgres(database.obj):
        record.db_id = database.execute_sql(sql + " RETURNING id", values).fetchone()[0]
    else:
        record.db_id = database.execute_sql(sql, values).lastrowid


def update_task(record, columns: dict) -> None:
    if record.db_id is None:
        return
    mark = "%s" if is_postgres(database.obj) else "?"
    sql = f"UPDATE task SET {', '.join(f'{c} = {mark}' for c in _COLUMNS)} WHERE id = {mark}"
    database.execute_sql(sql, [_sql_value(columns[c]) for c in _COLUMNS] + [record.db_id])


def write_batch(batch: list) -> None:
    """Inserts and updates queued by the task service, in order, in one transaction."""
    with database.connection_context(), database.atomic():
        for fn, record, columns in batch:
            fn(record, columns)


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
    """Take over a tree of tasks (root first) of a dead instance; 0 when another instance
    has it. On PostgreSQL the root row is locked with SKIP LOCKED: instances racing for the
    same orphans never wait for each other, each takes a different one or none."""
    with database.connection_context(), database.atomic():
        if is_postgres(database.obj):
            locked = database.execute_sql("SELECT id FROM task WHERE id = %s AND owner = %s "
                                          "FOR UPDATE SKIP LOCKED", [task_ids[0], old_owner]).fetchone()
            if locked is None:
                return 0
        return (schema.Task.update(owner=new_owner)
                .where(schema.Task.id.in_(task_ids) & (schema.Task.owner == old_owner)).execute())


def foreign_trees(after_id: int, watched: list[int], me: str) -> list[dict]:
    """Top-level tasks other instances wrote after ``after_id``, and the whole trees of the
    ``watched`` ones (still running when last read), parents first."""
    with database.connection_context():
        roots = list(schema.Task.select().where(schema.Task.parent_id.is_null() & (schema.Task.id > after_id)
                                                & (schema.Task.owner != me)).order_by(schema.Task.id).dicts())
        seen = {r["id"] for r in roots}
        for start in range(0, len(watched), 500):
            chunk = [i for i in watched[start:start + 500] if i not in seen]
            roots += list(schema.Task.select().where(schema.Task.id.in_(chunk)).dicts())
        return roots + _descendants([r["id"] for r in roots])


def last_task_id() -> int:
    with database.connection_context():
        return schema.Task.select(peewee.fn.MAX(schema.Task.id)).scalar() or 0


def claim_each(trees: list[tuple[list[int], str]], new_owner: str) -> list[int]:
    """Claim several trees ((ids root first, old owner) each) on one connection, each in its
    own transaction; the root ids this instance got."""
    with database.connection_context():
        return [ids[0] for ids, old_owner in trees if claim(ids, old_owner, new_owner)]
