"""Looking up libvirt objects: one place that decides what "not there" means.

``find_*`` answer None for an object that does not exist (libvirt's NO_DOMAIN or
NO_STORAGE_VOL) and raise every other failure, so a host that went away is never
mistaken for a machine that is gone.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

import libvirt

from ..core.errors import HypervisorError
from .connection import HostConnection, connected_host
from .states import state_name

log = logging.getLogger(__name__)


def find_domain(conn: libvirt.virConnect, uuid: str) -> libvirt.virDomain | None:
    try:
        return conn.lookupByUUIDString(uuid)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise


def find_volume(conn: libvirt.virConnect, pool: str, name: str) -> libvirt.virStorageVol | None:
    try:
        return conn.storagePoolLookupByName(pool).storageVolLookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_STORAGE_VOL:
            return None
        raise


def domain_by_name_or_uuid(conn: libvirt.virConnect, name_or_uuid: str) -> libvirt.virDomain:
    """The machine with this UUID, else with this name (raises NO_DOMAIN when neither)."""
    try:
        return conn.lookupByUUIDString(name_or_uuid)
    except libvirt.libvirtError:
        return conn.lookupByName(name_or_uuid)


async def machine_states(hosts: Mapping[str, HostConnection], uri: str, after: str) -> dict[str, str]:
    """Every machine the host has now (running, paused or a shut-off definition): UUID -> state.
    A host that cannot be listed gives {} and a warning naming ``after`` (what the listing
    checks: "the evacuation")."""
    def states(conn: libvirt.virConnect) -> dict[str, str]:
        return {dom.UUIDString(): state_name(dom.state()[0]) for dom in conn.listAllDomains(0)}
    try:
        host = connected_host(hosts.get(uri), uri, operation="where the machines are")
        return await host.call(states, operation="where the machines are")
    except HypervisorError as error:
        log.warning("cannot list %s after %s: %s", uri, after, error)
        return {}
