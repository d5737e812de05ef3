"""Ordered schema migrations, recorded in ``schema_version``.

Each step is (version, name, function). A step runs once, inside a transaction,
on SQLite and PostgreSQL alike. Append new steps; never edit an applied one.
"""
from __future__ import annotations

from collections.abc import Callable

import peewee

from . import schema

Step = tuple[int, str, Callable[[peewee.Database], None]]


def _initial(db: peewee.Database) -> None:
    db.create_tables([schema.Setting, schema.Host, schema.Machine, schema.Task])


STEPS: list[Step] = [
    (1, "initial inventory: settings, hosts, machines, tasks", _initial),
]

LATEST_VERSION = STEPS[-1][0]


def current_version(db: peewee.Database) -> int:
    if not db.table_exists(schema.SchemaVersion._meta.table_name):
        return 0
    row = schema.SchemaVersion.select(peewee.fn.MAX(schema.SchemaVersion.version)).scalar()
    return row or 0


def upgrade(db: peewee.Database) -> list[int]:
    """Apply every pending step; return the versions applied now."""
    db.create_tables([schema.SchemaVersion])
    have = current_version(db)
    if have > LATEST_VERSION:
        raise RuntimeError(
            f"the database has schema version {have}, newer than this app knows ({LATEST_VERSION}); "
            "update ECP Desktop"
        )
    applied = []
    for version, name, step in STEPS:
        if version <= have:
            continue
        with db.atomic():
            step(db)
            schema.SchemaVersion.create(version=version, name=name)
        applied.append(version)
    return applied
