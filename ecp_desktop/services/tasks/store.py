"""Task rows in the database, written and read on the database thread only."""
from __future__ import annotations

import peewee

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.models.dialect import dialect


_COLUMNS = ("kind", "title", "host_uri", "target_uuid", "target_name", "status", "progress", "started_at",
            "finished_at", "error_message", "error_code", "error_json", "op", "params", "reason", "attempts",
            "owner", "summary", "concurrent", "generation")


def _sql_value(value):
    # What peewee's DateTimeField stores, so that reads through the ORM give datetimes back.
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if hasattr(value, "strftime") else value


def insert_task(record, columns: dict) -> None:
    # Parents and undone tasks were written before (one database thread, in order): their ids are known.
    backend = dialect()
    values = [_sql_value(columns[c]) for c in _COLUMNS]
    values += [record.parent.db_id if record.parent is not None else None,
               record.compensates.db_id if record.compensates is not None else None, schema.utcnow()]
    names = ", ".join((*_COLUMNS, "parent_id", "compensates_id", "created_at"))
    sql = f"INSERT INTO task ({names}) VALUES ({backend.marks(len(values))})"
    record.db_id = backend.insert_returning_id(database, sql, values)


def update_task(record, columns: dict) -> None:
    if record.db_id is None:
        return
    mark = dialect().mark
    sql = (f"UPDATE task SET {', '.join(f'{c} = {mark}' for c in _COLUMNS)} "
           f"WHERE id = {mark} AND generation = {mark}")  # (the batch checked the tree's generation already)
    database.execute_sql(sql, [_sql_value(columns[c]) for c in _COLUMNS] + [record.db_id, columns["generation"]])


def _generations(root_ids: list[int]) -> dict[int, int]:
    """The generation of each tree's root, read under a lock that a takeover's claim (which
    locks the root row to change it) waits for, or that makes this read wait for the claim:
    on PostgreSQL FOR SHARE; SQLite's IMMEDIATE transaction already excludes every writer."""
    if not root_ids:
        return {}
    backend = dialect()
    found = {}
    for start in range(0, len(root_ids), 500):
        chunk = root_ids[start:start + 500]
        cursor = database.execute_sql(f"SELECT id, generation FROM task WHERE id IN ({backend.marks(len(chunk))})"
                                      + backend.for_share, chunk)
        found.update({row[0]: int(row[1] or 0) for row in cursor.fetchall()})
    return found


def write_batch(batch: list) -> list:
    """Inserts and updates queued by the task service, in order, in one transaction; the
    records not written because their tree belongs to another instance now (a takeover
    raised its generation): the fence that tells an owner declared dead to stop."""
    roots = {}
    for _fn, record, columns in batch:
        root = record.root()
        if root.db_id is not None:  # a tree written before this batch: check whose it is
            roots.setdefault(root.db_id, columns["generation"])
    fenced = []
    with database.connection_context(), dialect().write_transaction(database):
        current = _generations(sorted(roots))
        for fn, record, columns in batch:
            root_id = record.root().db_id
            if root_id in roots and current.get(root_id, columns["generation"]) != columns["generation"]:
                fenced.append(record)
                continue
            fn(record, columns)
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


def machine_in_flow(uuid: str, states: set[str]) -> bool:
    """Whether a task of any instance targets the machine and is in one of ``states``, on any
    host (a migration's task names the source host; the machine is defined on the destination)."""
    T = schema.Task
    with database.connection_context():
        return T.select(T.id).where((T.target_uuid == uuid) & T.status.in_(sorted(states))).exists()


def claim(task_ids: list[int], old_owner: str, new_owner: str, *, stale_after: float | None = None
          ) -> list[dict]:
    """Take over a tree of tasks (root first) of a dead instance: its rows as they are now,
    with the new generation (the fencing token), or [] when another instance has it. On
    PostgreSQL the root row is locked with SKIP LOCKED: instances racing for the same orphans
    never wait for each other, each takes a different one or none. ``stale_after``: the old
    owner runs on another machine and is dead only while its heartbeat stays that old,
    checked in the same statement (it may have woken since recovery looked)."""
    backend = dialect()
    mark = backend.mark
    with database.connection_context(), database.atomic():
        if not backend.lock_or_skip(database, f"SELECT id FROM task WHERE id = {mark} AND owner = {mark}",
                                     [task_ids[0], old_owner]):
            return []
        sql = f"UPDATE task SET owner = {mark}, generation = generation + 1 WHERE id = {mark} AND owner = {mark}"
        args = [new_owner, task_ids[0], old_owner]
        if stale_after is not None:
            sql += (f" AND NOT EXISTS (SELECT 1 FROM instance WHERE owner = {mark} "
                    f"AND beat_at >= {backend.seconds_ago(stale_after)})")
            args.append(old_owner)
        if database.execute_sql(sql, args).rowcount != 1:
            return []
        return _fence_tree(task_ids[0], new_owner)


def claim_for_retry(root_id: int, generation: int, new_owner: str, *, failed: str, retrying: str) -> list[dict]:
    """Take a flow whose rollback failed to undo its leftovers again, from whichever instance
    owns it: the root's status turns from ``failed`` to ``retrying`` in the same statement,
    only if its generation is still the one read, so of two instances (or two clicks) one gets
    it, and nobody retries from rows that are out of date. Its rows as they are now, or []."""
    with database.connection_context(), database.atomic():
        root = (schema.Task.update(owner=new_owner, status=retrying, generation=schema.Task.generation + 1)
                .where((schema.Task.id == root_id) & (schema.Task.status == failed)
                       & (schema.Task.generation == generation)).execute())
        return _fence_tree(root_id, new_owner) if root else []


def _fence_tree(root_id: int, new_owner: str) -> list[dict]:
    """After the root's generation was raised (its row locked by this transaction): every row
    of the tree as it is now gets it and the owner; the rows, read back, parents first."""
    generation = schema.Task.select(schema.Task.generation).where(schema.Task.id == root_id).scalar()
    ids = [root_id] + [r["id"] for r in _descendants([root_id])]
    for start in range(0, len(ids), 500):
        (schema.Task.update(owner=new_owner, generation=generation)
         .where(schema.Task.id.in_(ids[start:start + 500])).execute())
    rows = list(schema.Task.select().where(schema.Task.id == root_id).dicts())
    return rows + _descendants([root_id])


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


def claim_each(trees: list[tuple[list[int], str, float | None]], new_owner: str) -> dict[int, list[dict]]:
    """Claim several trees ((ids root first, old owner, stale_after) each) on one connection,
    each in its own transaction: {root id: its rows now} for those this instance got."""
    taken = {}
    with database.connection_context():
        for ids, old_owner, stale_after in trees:
            rows = claim(ids, old_owner, new_owner, stale_after=stale_after)
            if rows:
                taken[ids[0]] = rows
    return taken
