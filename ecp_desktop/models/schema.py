"""Tables of the inventory. Changes to them go through models/migrations.py."""
from __future__ import annotations

import datetime as dt

import peewee

from .db import database


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class BaseModel(peewee.Model):
    class Meta:
        database = database


class SchemaVersion(BaseModel):
    version = peewee.IntegerField(primary_key=True)
    name = peewee.CharField()
    applied_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "schema_version"


class Setting(BaseModel):
    key = peewee.CharField(primary_key=True)
    value = peewee.TextField()


class Host(BaseModel):
    """A configured libvirt connection and the facts last read from it."""

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
    # Written by setup's "local host" step: the machine the app runs on, and the
    # guest types it offers (JSON list of {os_type, arch, domain_types, machines}), which the
    # details and restore check machines against (hosts/guest_support.py).
    is_local = peewee.BooleanField(default=False)
    cpu_arch = peewee.CharField(default="")
    guest_types = peewee.TextField(default="[]")
    capabilities_at = peewee.DateTimeField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    last_connected_at = peewee.DateTimeField(null=True)
    # Version 8: the host is in maintenance (its machines evacuated or being evacuated):
    # restore starts nothing on it and it is no destination. Empty: not in maintenance; else
    # who set it ("hostname:pid:start", as Task.owner) and when (the database row is shared).
    maintenance_by = peewee.CharField(default="")
    maintenance_since = peewee.DateTimeField(null=True)


class Machine(BaseModel):
    """A libvirt domain as last seen, keyed by (host, UUID): a rename stays the same row."""

    host = peewee.ForeignKeyField(Host, backref="machines", on_delete="CASCADE")
    uuid = peewee.CharField(max_length=36)
    name = peewee.TextField()  # libvirt names may be longer than a VARCHAR(255)
    state = peewee.CharField(default="nostate")
    vcpus = peewee.IntegerField(default=0)
    memory_kib = peewee.BigIntegerField(default=0)
    autostart = peewee.BooleanField(default=False)
    persistent = peewee.BooleanField(default=True)
    missing = peewee.BooleanField(default=False)
    # Facts from the domain XML, written by import (JSON lists of the details dataclasses).
    managed_save = peewee.BooleanField(default=False)
    os_type = peewee.CharField(default="")
    disks = peewee.TextField(default="[]")
    interfaces = peewee.TextField(default="[]")
    # Restore: what should run (what the user last asked for, or what ran at the app's last
    # clean exit; first sight: what was seen) and the per-machine policy: last, always, never.
    desired_state = peewee.CharField(default="")
    restore_policy = peewee.CharField(default="last")
    # Version 7: what restore does with the machine when it is found paused
    # (actions/restore.py PAUSED_POLICIES; an unknown value reads as the default).
    paused_policy = peewee.CharField(default="resume-after-fault")
    last_seen_at = peewee.DateTimeField(default=utcnow)
    # Version 5: the operators' notes, edited by several people on a shared inventory; the
    # version counts the edits, and an edit made on an older version is refused.
    notes = peewee.TextField(default="")
    version = peewee.IntegerField(default=0)
    # Version 9: the last known definition of a persistent machine (its inactive domain XML
    # as libvirt gave it at the last import; NULL: never read, or transient), so that its
    # machines can be defined on another host when a host is gone (maintenance/recover.py).
    definition = peewee.TextField(null=True)

    class Meta:
        indexes = ((("host", "uuid"), True),)


class Task(BaseModel):
    """One operation a user started, with its outcome; the task history."""

    kind = peewee.CharField()
    title = peewee.TextField()  # names a machine, which may be long (TEXT since version 4)
    host_uri = peewee.CharField(default="")
    target_uuid = peewee.CharField(default="")
    target_name = peewee.TextField(default="")
    status = peewee.CharField(default="pending", index=True)
    progress = peewee.IntegerField(default=0)
    created_at = peewee.DateTimeField(default=utcnow)
    started_at = peewee.DateTimeField(null=True)
    finished_at = peewee.DateTimeField(null=True)
    error_message = peewee.TextField(default="")
    error_code = peewee.IntegerField(null=True)
    parent_id = peewee.IntegerField(null=True, index=True)  # the task this one is a step of
    # Version 4: the task engine. A leaf names its operation (``op``) and parameters, so
    # a later process can undo it; ``reason`` is "regular" or "rollback" (an undo task,
    # ``compensates_id`` names the task it undoes); ``owner`` is the app instance running it.
    op = peewee.CharField(default="")
    params = peewee.TextField(default="{}")
    reason = peewee.CharField(default="regular")
    attempts = peewee.IntegerField(default=0)
    error_json = peewee.TextField(default="")
    owner = peewee.CharField(default="")
    compensates_id = peewee.IntegerField(null=True)
    summary = peewee.TextField(default="")
    concurrent = peewee.BooleanField(default=False)
    # Version 7: the fencing token. A takeover (crash recovery, a retried rollback) adds one
    # on every row of the tree; a write that names an older generation changes nothing, so
    # an owner that was declared dead finds out at its next write that the flow is not its own.
    generation = peewee.IntegerField(default=0)


class Instance(BaseModel):
    """A running app instance on a shared inventory and its last sign of life (version 6).

    ``beat_at`` is the database server's clock, so hosts with skewed clocks agree on who
    is alive; an instance silent for longer than task_recovery's limit is dead, and its
    unfinished tasks may be taken over by another machine's instance.
    """

    owner = peewee.CharField(primary_key=True)  # hostname:pid:start, as in Task.owner
    started_at = peewee.DateTimeField(default=utcnow)
    beat_at = peewee.DateTimeField(default=utcnow)


class DefinitionText(BaseModel):
    """One normalised definition (version 10), stored once however many versions name it:
    keyed by the SHA-256 of its normalised XML, the text zlib-compressed."""

    digest = peewee.CharField(max_length=64, primary_key=True)
    body = peewee.BlobField()

    class Meta:
        table_name = "definition_text"


class DefinitionVersion(BaseModel):
    """One definition a machine had (version 10), numbered from 1 per machine. ``origin``:
    "app" (a flow of this app wrote it: ``task_id`` and ``by``, the instance, say which),
    "outside" (found changed, no flow of ours wrote it) or "imported" (the first seen).
    (machine, number) is unique: two instances that saw the same change race for one number,
    and the loser re-reads the newest version instead of adding a second."""

    machine = peewee.ForeignKeyField(Machine, backref="definition_versions", on_delete="CASCADE")
    number = peewee.IntegerField()
    recorded_at = peewee.DateTimeField(default=utcnow)
    origin = peewee.CharField()
    task_id = peewee.IntegerField(null=True)
    by = peewee.CharField(default="")
    summary = peewee.TextField(default="")
    digest = peewee.ForeignKeyField(DefinitionText, column_name="digest", field="digest", on_delete="RESTRICT")

    class Meta:
        table_name = "definition_version"
        indexes = ((("machine", "number"), True),)


ALL_TABLES = [SchemaVersion, Setting, Host, Machine, Task, Instance, DefinitionText, DefinitionVersion]
