"""What differs between the two database backends, said once: the services write their plain
SQL (chosen where the ORM's per-row Python was too slow, or a lock needs a statement of its
own) through this, and never ask which backend they run on.

SQLite (one user's file) and PostgreSQL (a team's server) differ in their parameter marks,
their clock, row locks, write transactions, advisory locks and the fastest way to send many
rows (psycopg2's ``execute_values``: one multi-row INSERT per page; SQLite's ``executemany``).
"""
from __future__ import annotations

from collections.abc import Sequence

import peewee

from .db import database


class Dialect:
    def __init__(self, db: peewee.Database) -> None:
        self.shared_server = isinstance(db, peewee.PostgresqlDatabase)
        self.mark = "%s" if self.shared_server else "?"  # a query parameter
        self.now = "LOCALTIMESTAMP" if self.shared_server else "CURRENT_TIMESTAMP"  # naive UTC, as stored
        self.for_share = " FOR SHARE" if self.shared_server else ""  # SQLite's write transaction excludes writers
        self.advisory_locks = self.shared_server

    def marks(self, count: int) -> str:
        return ", ".join([self.mark] * count)

    def seconds_ago(self, seconds: float) -> str:
        """An SQL expression for the time ``seconds`` ago, comparable with stored times."""
        if self.shared_server:
            return f"LOCALTIMESTAMP - interval '{float(seconds)} seconds'"
        return f"datetime('now', '-{float(seconds)} seconds')"

    def write_transaction(self, db: peewee.Database):
        """A transaction that takes the write lock at once (SQLite's IMMEDIATE; PostgreSQL's rows
        are locked as they are touched)."""
        return db.atomic() if self.shared_server else db.atomic(lock_type="IMMEDIATE")

    def insert_returning_id(self, db: peewee.Database, sql: str, values: Sequence) -> int:
        """Run an INSERT of one row; the row's id."""
        if self.shared_server:
            return db.execute_sql(sql + " RETURNING id", values).fetchone()[0]
        return db.execute_sql(sql, values).lastrowid

    def lock_or_skip(self, db: peewee.Database, select: str, args: Sequence) -> bool:
        """Inside a transaction: lock the row ``select`` finds, skipping one another transaction
        holds (False: none, or held). On SQLite the write transaction already excludes every
        other writer, so the row is as good as locked."""
        if not self.shared_server:
            return True
        return db.execute_sql(select + " FOR UPDATE SKIP LOCKED", args).fetchone() is not None

    def insert_many(self, cursor, head: str, tail: str, columns: int, rows: Sequence[tuple], page: int) -> None:
        """``{head} VALUES ... {tail}`` for every row: many rows per round trip on a server."""
        if self.shared_server:
            from psycopg2.extras import execute_values
            execute_values(cursor, f"{head} VALUES %s {tail}", rows, page_size=page)
        else:
            cursor.executemany(f"{head} VALUES ({self.marks(columns)}) {tail}", rows)


    def foreign_tables(self, db: peewee.Database, names: Sequence[str]) -> list[tuple[str, str]]:
        """(table, owner) of those of ``names`` in the schema in use that another role owns (a
        shared server only: one user's SQLite file has no roles)."""
        if not self.shared_server:
            return []
        rows = db.execute_sql("SELECT tablename, tableowner FROM pg_tables WHERE schemaname = current_schema() "
                              "AND tablename = ANY(%s) AND tableowner <> current_user", (list(names),))
        return sorted(rows.fetchall())

    def own_session(self, db: peewee.Database):
        """A connection of its own (autocommit) to the server, for session advisory locks: they go
        when it is closed, or when the process dies."""
        import psycopg2
        conn = psycopg2.connect(**db.connect_params, dbname=db.database)
        conn.autocommit = True
        return conn


def dialect() -> Dialect:
    """The dialect of the inventory database open now."""
    return Dialect(database.obj)
