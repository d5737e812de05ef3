"""Task rows in the database, written and read on the database thread only."""
from __future__ import annotations

import peewee

from ecp_desktop.models import schema
from ecp_desktop.models.db import database, is_postgres


_COLUMNS = ("kind", "title", "host_uri", "target_uuid", "target_name", "status", "progress", "started_at",
            "finished_at", "error_message", "error_code", "error_json", "op", "params", "reason", "attempts",
            "owner", "summary", "concurrent", "generation")


def _sql_value(value):
    # What peewee's DateTimeField stores, so that reads through the ORM give datetimes back.
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if hasattr(value, "strftime") else value


def insert_task(record, columns: dict, written: set[int]) -> bool:
    """Insert the task; False (nothing written) when its tree was taken over meanwhile.

    A child whose parent was written in an earlier batch is fenced by the parent's row: its
    generation must still be the one this instance holds (``claim`` raised it otherwise)."""
    postgres = is_postgres(database.obj)
    mark = "%s" if postgres else "?"
    parent = record.parent
    if parent is not None and parent.db_id is not None and parent.db_id not in written:
        row = database.execute_sql(f"SELECT generation FROM task WHERE id = {mark}", [parent.db_id]).fetchone()
        if row is None or int(row[0] or 0) != columns["generation"]:
            return False
    # Parents and undone tasks were written before (one database thread, in order): their ids are known.
    values = [_sql_value(columns[c]) for c in _COLUMNS]
    values += [parent.db_id if parent is not None else None,
               record.compensates.db_id if record.compensates is not None else None, schema.utcnow()]
    names = ", ".join((*_COLUMNS, "parent_id", "compensates_id", "created_at"))
    sql = f"INSERT INTO task ({names}) VALUES ({', '.join([mark] * len(values))})"
    if postgres:
        record.db_id = database.execute_sql(sql + " RETURNING id", values).fetchone()[0]
    else:
        record.db_id = database.execute_sql(sql, values).lastrowid
    written.add(record.db_id)
    return True


def update_task(record, columns: dict, _written: set[int]) -> bool:
    """Update the task's row; False when its tree was taken over (a newer generation): the
    write is the fence that tells an owner declared dead that the flow is no longer its own."""
    if record.db_id is None:
        return True
    mark = "%s" if is_postgres(database.obj) else "?"
    sql = (f"UPDATE task SET {', '.join(f'{c} = {mark}' for c in _COLUMNS)} "
           f"WHERE id = {mark} AND generation = {mark}")
    cursor = database.execute_sql(sql, [_sql_value(columns[c]) for c in _COLUMNS]
                                  + [record.db_id, columns["generation"]])
    return cursor.rowcount != 0


def write_batch(batch: list) -> list:
    """Inserts and updates queued by the task service, in order, in one transaction; the
    records whose write was fenced off (their tree belongs to another instance now)."""
    fenced, written = [], set()
    with database.connection_context(), database.atomic():
        for fn, record, columns in batch:
            if not fn(record, columns, written):
                fenced.append(record)
    return fenced


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


def tree_rows(task_id: int) -> list[dict]:
    """The whole tree a task belongs to (its top-level task first, parents before children);
    [] when there is no such task."""
    with database.connection_context():
        seen: set[int] = set()
        row = schema.Task.select().where(schema.Task.id == task_id).dicts().first()
        while row is not None and row["parent_id"] is not None and row["id"] not in seen:
            seen.add(row["id"])  # a forged row may point in a circle
            row = schema.Task.select().where(schema.Task.id == row["parent_id"]).dicts().first()
        return [row] + _descendants([row["id"]]) if row is not None else []


def recent_trees(limit: int) -> list[dict]:
    with database.connection_context():
        roots = list(schema.Task.select().where(schema.Task.parent_id.is_null())
                     .order_by(schema.Task.id.desc()).limit(limit).dicts())
        roots.reverse()
        return roots + _descendants([r["id"] for r in roots])


def unfinished_trees(states: set[str]) -> list[dict]:
    """Top-level tasks in one of ``states`` (left by a crash, or whose rollback failed), with
    their whole trees."""
    with database.connection_context():
        roots = list(schema.Task.select().where(schema.Task.parent_id.is_null()
                                                & schema.Task.status.in_(sorted(states)))
                     .order_by(schema.Task.id).dicts())
        return roots + _descendants([r["id"] for r in roots])


def claim(task_ids: list[int], old_owner: str, new_owner: str) -> int:
    """Take over a tree of tasks (root first) of a dead instance: its new generation (the
    fencing token), or 0 when another instance has it. On PostgreSQL the root row is locked
    with SKIP LOCKED: instances racing for the same orphans never wait for each other, each
    takes a different one or none."""
    with database.connection_context(), database.atomic():
        if is_postgres(database.obj):
            locked = database.execute_sql("SELECT id FROM task WHERE id = %s AND owner = %s "
                                          "FOR UPDATE SKIP LOCKED", [task_ids[0], old_owner]).fetchone()
            if locked is None:
                return 0
        root = (schema.Task.update(owner=new_owner, generation=schema.Task.generation + 1)
                .where((schema.Task.id == task_ids[0]) & (schema.Task.owner == old_owner)).execute())
        return _fence_tree(task_ids, new_owner) if root else 0


def claim_for_retry(task_ids: list[int], new_owner: str, *, failed: str, retrying: str) -> int:
    """Take a flow whose rollback failed (root first) to undo its leftovers again, from
    whichever instance owns it: the root's status turns from ``failed`` to ``retrying`` in the
    same statement, so of two instances (or two clicks) one gets it. Its new generation, or 0."""
    with database.connection_context(), database.atomic():
        root = (schema.Task.update(owner=new_owner, status=retrying, generation=schema.Task.generation + 1)
                .where((schema.Task.id == task_ids[0]) & (schema.Task.status == failed)).execute())
        return _fence_tree(task_ids, new_owner) if root else 0


def _fence_tree(task_ids: list[int], new_owner: str) -> int:
    """After the root's generation was raised: every row of the tree gets it and the owner."""
    generation = schema.Task.select(schema.Task.generation).where(schema.Task.id == task_ids[0]).scalar()
    for start in range(0, len(task_ids), 500):
        (schema.Task.update(owner=new_owner, generation=generation)
         .where(schema.Task.id.in_(task_ids[start:start + 500])).execute())
    return int(generation)


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


def claim_each(trees: list[tuple[list[int], str]], new_owner: str) -> dict[int, int]:
    """Claim several trees ((ids root first, old owner) each) on one connection, each in its
    own transaction: {root id: new generation} for those this instance got."""
    taken = {}
    with database.connection_context():
        for ids, old_owner in trees:
            generation = claim(ids, old_owner, new_owner)
            if generation:
                taken[ids[0]] = generation
    return taken
