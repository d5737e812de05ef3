"""Looking up libvirt objects: one place that decides what "not there" means.

``find_*`` answer None for an object that does not exist (libvirt's NO_DOMAIN or
NO_STORAGE_VOL) and raise every other failure, so a host that went away is never
mistaken for a machine that is gone.
"""
from __future__ import annotations

import libvirt


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
