"""Setup extension: import each host's libvirt networks and storage pools into the inventory.

Registered through the ``ecp_desktop.setup_hooks`` entry point like any third-party
extension, it runs after the core "import" step. It owns its two tables and creates
them itself, and, like a core step, checks what it needs instead of assuming an order.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

import libvirt
import peewee

from ..models.db import database
from ..models.schema import BaseModel, utcnow
from ..services.core.errors import HypervisorError
from ..services.setup.pipeline import HookRegistry, SetupContext


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
    capacity = peewee.BigIntegerField(default=0)
    allocation = peewee.BigIntegerField(default=0)
    available = peewee.BigIntegerField(default=0)
    missing = peewee.BooleanField(default=False)
    last_seen_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "ext_storage_pool"
        indexes = ((("host_uri", "uuid"), True),)


TABLES = [Network, StoragePool]


def _network_row(uri: str, net: libvirt.virNetwork) -> dict:
    root = ET.fromstring(net.XMLDesc(0))
    forward, bridge = root.find("forward"), root.find("bridge")
    return {"host_uri": uri, "uuid": net.UUIDString(), "name": net.name(), "active": bool(net.isActive()),
            "autostart": bool(net.autostart()), "persistent": bool(net.isPersistent()),
            "forward_mode": forward.get("mode", "nat") if forward is not None else "",
            "bridge": bridge.get("name", "") if bridge is not None else "", "missing": False,
            "last_seen_at": utcnow()}


def _pool_row(uri: str, pool: libvirt.virStoragePool) -> dict:
    root = ET.fromstring(pool.XMLDesc(0))
    _state, capacity, allocation, available = pool.info()
    return {"host_uri": uri, "uuid": pool.UUIDString(), "name": pool.name(), "pool_type": root.get("type", ""),
            "active": bool(pool.isActive()), "autostart": bool(pool.autostart()),
            "target_path": root.findtext("target/path", ""), "capacity": capacity, "allocation": allocation,
            "available": available, "missing": False, "last_seen_at": utcnow()}


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
    database.create_tables(TABLES, safe=True)
    parts = []
    for uri, conn in connections.items():
        try:
            networks = [_network_row(uri, n) for n in conn.listAllNetworks(0)]
        except libvirt.libvirtError as exc:
            networks = None
            parts.append(f"{uri}: networks not read: {HypervisorError.from_libvirt(exc, host_uri=uri).one_line()}")
        try:
            pools = [_pool_row(uri, p) for p in conn.listAllStoragePools(0)]
        except libvirt.libvirtError as exc:
            pools = None
            parts.append(f"{uri}: pools not read: {HypervisorError.from_libvirt(exc, host_uri=uri).one_line()}")
        if networks is not None:
            _store(Network, uri, networks)
        if pools is not None:
            _store(StoragePool, uri, pools)
        if networks is not None and pools is not None:
            parts.append(f"{uri}: {len(networks)} network{'s' * (len(networks) != 1)}, "
                         f"{len(pools)} storage pool{'s' * (len(pools) != 1)}")
    return "; ".join(parts)


def register(hooks: HookRegistry) -> None:
    hooks.after("import", import_networks_and_pools, name="networks-and-pools")
