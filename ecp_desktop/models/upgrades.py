"""Ordered schema migrations, recorded in ``schema_version``.

Each step is (version, name, function). A step runs once, inside a transaction,
on SQLite and PostgreSQL alike. Append new steps; never edit an applied one.
"""
from __future__ import annotations

from collections.abc import Callable

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from . import schema
from .dialect import Dialect

Step = tuple[int, str, Callable[[peewee.Database], None]]


class V1Host(peewee.Model):
    """The host table as version 1 created it (frozen: later versions alter it)."""

    uri = peewee.CharField(unique=True)
    label = peewee.CharField(default="")
    is_demo = peewee.BooleanField(default=False)
    autoconnect = peewee.BooleanField(default=True)
    hostname = peewee.CharField(default="")
    driver_type = peewee.CharField(default="")
    libvirt_version = peewee.IntegerField(default=0)
    hypervisor_version = peewee.IntegerField(default=0)
    cpu_model = peewee.CharField(default="")
    cpus = peewee.IntegerField(default=0)
    memory_mib = peewee.IntegerField(default=0)
    created_at = peewee.DateTimeField(default=schema.utcnow)
    last_connected_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "host"


class V1Machine(peewee.Model):
    host = peewee.ForeignKeyField(V1Host, backref="machines", on_delete="CASCADE")
    uuid = peewee.CharField(max_length=36)
    name = peewee.CharField()
    state = peewee.CharField(default="nostate")
    vcpus = peewee.IntegerField(default=0)
    memory_kib = peewee.BigIntegerField(default=0)
    autostart = peewee.BooleanField(default=False)
    persistent = peewee.BooleanField(default=True)
    missing = peewee.BooleanField(default=False)
    last_seen_at = peewee.DateTimeField(default=schema.utcnow)

    class Meta:
        table_name = "machine"
        indexes = ((("host", "uuid"), True),)


class V1Task(peewee.Model):
    kind = peewee.CharField()
    title = peewee.CharField()
    host_uri = peewee.CharField(default="")
    target_uuid = peewee.CharField(default="")
    target_name = peewee.CharField(default="")
    status = peewee.CharField(default="pending")
    progress = peewee.IntegerField(default=0)
    created_at = peewee.DateTimeField(default=schema.utcnow)
    started_at = peewee.DateTimeField(null=True)
    finished_at = peewee.DateTimeField(null=True)
    error_message = peewee.TextField(default="")
    error_code = peewee.IntegerField(null=True)

    class Meta:
        table_name = "task"


def _initial(db: peewee.Database) -> None:
    # The tables as they were at version 1; later steps alter them.
    with db.bind_ctx([V1Host, V1Machine, V1Task]):
        db.create_tables([V1Host, V1Machine, V1Task])
    db.create_tables([schema.Setting])


def _setup_facts(db: peewee.Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    host, machine = schema.Host._meta.table_name, schema.Machine._meta.table_name
    ops = [
        migrator.add_column(host, "is_local", peewee.BooleanField(default=False)),
        migrator.add_column(host, "cpu_arch", peewee.CharField(default="")),
        migrator.add_column(host, "guest_types", peewee.TextField(default="[]")),
        migrator.add_column(host, "capabilities_at", peewee.DateTimeField(null=True)),
        migrator.add_column(machine, "managed_save", peewee.BooleanField(default=False)),
        migrator.add_column(machine, "os_type", peewee.CharField(default="")),
        migrator.add_column(machine, "disks", peewee.TextField(default="[]")),
        migrator.add_column(machine, "interfaces", peewee.TextField(default="[]")),
    ]
    if isinstance(db, peewee.PostgresqlDatabase):  # SQLite has no length limit to lift
        ops.append(migrator.alter_column_type(machine, "name", peewee.TextField()))
    migrate(*ops)


def _restore(db: peewee.Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    machine = schema.Machine._meta.table_name
    migrate(migrator.add_column(machine, "desired_state", peewee.CharField(default="")),
            migrator.add_column(machine, "restore_policy", peewee.CharField(default="last")),
            migrator.add_column(schema.Task._meta.table_name, "parent_id", peewee.IntegerField(null=True)))
    # What the inventory saw last is the best guess of what should run.
    schema.Machine.update(desired_state=peewee.Case(None, [(schema.Machine.state.in_(
        ["running", "blocked", "paused", "shutdown", "pmsuspended"]), "running")], "shutoff")).execute()


def _task_engine(db: peewee.Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    task = schema.Task._meta.table_name
    if isinstance(db, peewee.PostgresqlDatabase):  # titles name machines, whose names may be long
        migrate(migrator.alter_column_type(task, "title", peewee.TextField()),
                migrator.alter_column_type(task, "target_name", peewee.TextField()))
    migrate(
        migrator.add_column(task, "op", peewee.CharField(default="")),
        migrator.add_column(task, "params", peewee.TextField(default="{}")),
        migrator.add_column(task, "reason", peewee.CharField(default="regular")),
        migrator.add_column(task, "attempts", peewee.IntegerField(default=0)),
        migrator.add_column(task, "error_json", peewee.TextField(default="")),
        migrator.add_column(task, "owner", peewee.CharField(default="")),
        migrator.add_column(task, "compensates_id", peewee.IntegerField(null=True)),
        migrator.add_column(task, "summary", peewee.TextField(default="")),
        migrator.add_column(task, "concurrent", peewee.BooleanField(default=False)),
        migrator.add_index(task, ("parent_id",), False),
        migrator.add_index(task, ("status",), False),
    )


def _notes(db: peewee.Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    machine = schema.Machine._meta.table_name
    migrate(migrator.add_column(machine, "notes", peewee.TextField(default="")),
            migrator.add_column(machine, "version", peewee.IntegerField(default=0)))


def _instances(db: peewee.Database) -> None:
    db.create_tables([schema.Instance])


def _fencing_and_paused(db: peewee.Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(migrator.add_column(schema.Task._meta.table_name, "generation", peewee.IntegerField(default=0)),
            migrator.add_column(schema.Machine._meta.table_name, "paused_policy",
                                peewee.CharField(default="resume-after-fault")))


def _maintenance(db: peewee.Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    host = schema.Host._meta.table_name
    migrate(migrator.add_column(host, "maintenance_by", peewee.CharField(default="")),
            migrator.add_column(host, "maintenance_since", peewee.DateTimeField(null=True)))


def _definitions(db: peewee.Database) -> None:
    migrator = SchemaMigrator.from_database(db)
    migrate(migrator.add_column(schema.Machine._meta.table_name, "definition", peewee.TextField(null=True)))


def _definition_history(db: peewee.Database) -> None:
    db.create_tables([schema.DefinitionText, schema.DefinitionVersion])


STEPS: list[Step] = [
    (1, "initial inventory: settings, hosts, machines, tasks", _initial),
    (2, "setup facts: local host capabilities, machine disks and interfaces", _setup_facts),
    (3, "restore: desired state and policy per machine; parent tasks", _restore),
    (4, "task engine: operations, parameters, rollback flow, owner, structured errors", _task_engine),
    (5, "operators' notes per machine, with an edit version", _notes),
    (6, "app instances' heartbeats, to take over tasks of dead instances on other machines", _instances),
    (7, "a fencing generation per task (bumped by every takeover); restore's choice for paused machines",
     _fencing_and_paused),
    (8, "a host's maintenance mark (who set it, since when): restore skips it, evacuation empties it",
     _maintenance),
    (9, "each persistent machine's last known definition (to define it elsewhere when its host is gone)",
     _definitions),
    (10, "every definition of each machine, as numbered versions over texts stored once by digest",
     _definition_history),
]

LATEST_VERSION = STEPS[-1][0]


def current_version(db: peewee.Database) -> int:
    if not db.table_exists(schema.SchemaVersion._meta.table_name):
        return 0
    row = schema.SchemaVersion.select(peewee.fn.MAX(schema.SchemaVersion.version)).scalar()
    return row or 0


def missing_tables(db: peewee.Database) -> list[str]:
    """Tables of the current schema that are absent (e.g. dropped by an extension)."""
    present = set(db.get_tables())
    return [m._meta.table_name for m in schema.ALL_TABLES if m._meta.table_name not in present]


def recreate_missing(db: peewee.Database) -> list[str]:
    """Create, empty, the current schema's tables that are absent; return their names."""
    gone = missing_tables(db)
    if gone:
        db.create_tables([m for m in schema.ALL_TABLES if m._meta.table_name in gone], safe=True)
    return gone


def upgrade(db: peewee.Database) -> list[int]:
    """Apply every pending step; return the versions applied now. An inventory that is up to
    date is only read: an operator's database role needs no right to change tables. On a
    shared server, an upgrade refuses to go on while any of the app's tables belongs to another
    role (one made in advance would keep its owner's rights over the rows the app writes)."""
    if current_version(db) < LATEST_VERSION:
        names = [m._meta.table_name for m in schema.ALL_TABLES]
        foreign = Dialect(db).foreign_tables(db, names)
        if foreign:
            raise RuntimeError("not upgrading the inventory: " + ", ".join(
                f"table {table} belongs to role {owner}" for table, owner in foreign)
                + "; the tables must belong to the role that upgrades them (see packaging/postgresql-roles.sql)")
    if not db.table_exists(schema.SchemaVersion._meta.table_name):
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
