"""Setup extension: import each host's libvirt networks and storage pools into the inventory.

Registered through the ``ecp_desktop.setup_hooks`` entry point like any third-party
extension, it runs after the core "import" step. It owns its two tables and creates
them itself (and brings a table an earlier version made up to date), and, like a core
step, checks what it needs instead of assuming an order.

Sizes are bytes in 64-bit columns. libvirt reports them unsigned; a value past a signed
64-bit column (8 EiB: no real pool, a wrapped negative such as the test driver's
"available" of an over-full pool) is stored as unknown (NULL) and named in the summary.
"""
from __future__ import annotations


import libvirt
import peewee
from playhouse.migrate import SchemaMigrator, migrate

from ..models.db import database
from ..models.schema import BaseModel, utcnow
from ..services.core.errors import HypervisorError
from ..services.core.wording import count
from ..services.libvirt_xml import network as network_xml
from ..services.libvirt_xml import storage as storage_xml
from ..services.setup.pipeline import HookRegistry, SetupContext, SetupProblem


class Network(BaseModel):
    host_uri = peewee.CharField()
    uuid = peewee.CharField(max_length=36)
    name = peewee.TextField()
    active = peewee.BooleanField(default=False)
    autostart = peewee.BooleanField(default=False)
    persistent = peewee.BooleanField(default=True)
    forward_mode = peewee.CharField(default="")  # nat, route, bridge, ... ("" = isolated)
    bridge = peewee.CharField(default="")
    missing = peewee.BooleanField(default=False)
    last_seen_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "ext_network"
        indexes = ((("host_uri", "uuid"), True),)


class StoragePool(BaseModel):
    host_uri = peewee.CharField()
    uuid = peewee.CharField(max_length=36)
    name = peewee.TextField()
    pool_type = peewee.CharField(default="")
    active = peewee.BooleanField(default=False)
    autostart = peewee.BooleanField(default=False)
    target_path = peewee.TextField(default="")
    capacity = peewee.BigIntegerField(null=True)  # bytes; NULL: unknown (SIZES)
    allocation = peewee.BigIntegerField(null=True)
    available = peewee.BigIntegerField(null=True)
    missing = peewee.BooleanField(default=False)
    last_seen_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "ext_storage_pool"
        indexes = ((("host_uri", "uuid"), True),)


TABLES = [Network, StoragePool]
SIZES = ("capacity", "allocation", "available")
BIGINT_MAX = 2**63 - 1  # a signed 64-bit column, SQLite's INTEGER and PostgreSQL's bigint alike


def create_or_upgrade_tables(db: peewee.Database) -> list[str]:
    """Create the tables, or bring those an earlier version made up to date: its sizes could
    not be unknown (NOT NULL). Returns the columns changed; an up-to-date table is only read."""
    db.create_tables(TABLES, safe=True)
    table = StoragePool._meta.table_name
    strict = [c.name for c in db.get_columns(table) if c.name in SIZES and not c.null]
    if strict:
        migrator = SchemaMigrator.from_database(db)
        with db.atomic():
            migrate(*[migrator.drop_not_null(table, name) for name in strict])
    return strict


def _size(value: int) -> int | None:
    return value if 0 <= value <= BIGINT_MAX else None


def _network_row(uri: str, net: libvirt.virNetwork) -> dict:
    described = network_xml.Network.from_xml(net.XMLDesc(0))
    return {"host_uri": uri, "uuid": net.UUIDString(), "name": net.name(), "active": bool(net.isActive()),
            "autostart": bool(net.autostart()), "persistent": bool(net.isPersistent()),
            "forward_mode": described.forward_mode, "bridge": described.bridge, "missing": False,
            "last_seen_at": utcnow()}


def _pool_row(uri: str, pool: libvirt.virStoragePool, unknown: list[str]) -> dict:
    """The pool's row; a size out of range is None, and "name size" is added to ``unknown``."""
    described = storage_xml.Pool.from_xml(pool.XMLDesc(0))
    sizes = dict(zip(SIZES, pool.info()[1:], strict=True))
    unknown += [f"{pool.name()} {name}" for name, value in sizes.items() if _size(value) is None]
    return {"host_uri": uri, "uuid": pool.UUIDString(), "name": pool.name(), "pool_type": described.kind,
            "active": bool(pool.isActive()), "autostart": bool(pool.autostart()),
            "target_path": described.path, **{k: _size(v) for k, v in sizes.items()},
            "missing": False, "last_seen_at": utcnow()}


def _store(model: type[BaseModel], uri: str, rows: list[dict]) -> None:
    with database.atomic():
        fields = [getattr(model, k) for k in rows[0] if k not in ("host_uri", "uuid")] if rows else []
        if rows:
            model.insert_many(rows).on_conflict(conflict_target=[model.host_uri, model.uuid],
                                                preserve=fields).execute()
        present = [r["uuid"] for r in rows]
        model.update(missing=True).where((model.host_uri == uri) & model.uuid.not_in(present)).execute()


def import_networks_and_pools(ctx: SetupContext) -> str:
    connections = getattr(ctx, "open_connections", None)
    if not connections:
        return "skipped: no connection is open (the connections step did not run or found none)"
    upgraded = create_or_upgrade_tables(database.obj)
    parts = [f"upgraded its pool table (sizes may be unknown: {', '.join(upgraded)})"] if upgraded else []
    unread = 0
    for uri, conn in connections.items():
        unknown: list[str] = []
        try:
            networks = [_network_row(uri, n) for n in conn.listAllNetworks(0)]
        except libvirt.libvirtError as exc:
            networks = None
            unread += 1
            parts.append(f"{uri}: networks not read: {HypervisorError.from_libvirt(exc, host_uri=uri).one_line()}")
        try:
            pools = [_pool_row(uri, p, unknown) for p in conn.listAllStoragePools(0)]
        except libvirt.libvirtError as exc:
            pools = None
            unread += 1
            parts.append(f"{uri}: pools not read: {HypervisorError.from_libvirt(exc, host_uri=uri).one_line()}")
        if networks is not None:
            _store(Network, uri, networks)
        if pools is not None:
            _store(StoragePool, uri, pools)
        if networks is not None and pools is not None:
            parts.append(f"{uri}: {count(len(networks), 'network')}, {count(len(pools), 'storage pool')}"
                         + (f" (sizes libvirt reported out of range, kept as unknown: {', '.join(unknown)})"
                            if unknown else ""))
    if unread:  # the rest was imported; the summary counts this as a problem
        raise SetupProblem("; ".join(parts))
    return "; ".join(parts)


def register(hooks: HookRegistry) -> None:
    hooks.after("import", import_networks_and_pools, name="networks-and-pools")
