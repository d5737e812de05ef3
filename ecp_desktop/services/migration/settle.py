"""Leaving the machine on exactly one host after a migration ends, fails or is interrupted.

A migration that fails may leave a paused source, a half-received copy on the destination
or a definition the migration created there; a process killed mid-migration may leave a
peer-to-peer job running on the source's daemon. These put it right, never by moving the
machine back, and never by force when it runs on both hosts (a person decides then).
"""
from __future__ import annotations

import logging
import time

import libvirt

from ..core.errors import HypervisorError
from ..libvirt_xml.domain import read_domain
from ..hosts.lookups import find_domain
from ..libvirt_xml.marks import carries_mark

log = logging.getLogger(__name__)
PAUSED_BY_MIGRATION = {libvirt.VIR_DOMAIN_PAUSED_MIGRATION, libvirt.VIR_DOMAIN_PAUSED_POSTCOPY_FAILED,
                       libvirt.VIR_DOMAIN_PAUSED_POSTCOPY}


def settle(source: libvirt.virConnect, destination: libvirt.virConnect | None,
           params: dict) -> tuple[str, list[str]]:
    """Leave the machine on exactly one host; return where it runs and what was done.

    Where: "destination", "source", "neither" (shut off, or lost) or "both" (never
    resolved by force: two running copies need a person to decide). Without the
    destination (its daemon is gone) only the source is put right.
    """
    uuid, done = params["uuid"], []
    src = find_domain(source, uuid)
    dst = find_domain(destination, uuid) if destination is not None else None
    src_state = _state(src)
    dst_state = _state(dst)
    if src is not None and src_state is None:
        src = None  # it left the source between the lookup and now (a migration ending)
    src_active = src_state is not None and src_state[0] != libvirt.VIR_DOMAIN_SHUTOFF
    dst_active = dst_state is not None and dst_state[0] != libvirt.VIR_DOMAIN_SHUTOFF
    dst_incoming = dst_active and dst_state == [libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_MIGRATION]
    if src_active and dst_incoming:
        dst.destroy()  # the half-received copy; the source still has the machine
        done.append("removed the incoming copy on the destination")
        dst_active = False
        dst = find_domain(destination, uuid)
    if dst_active and src_active:
        return "both", done
    if src_active and src_state[0] == libvirt.VIR_DOMAIN_PAUSED and src_state[1] in PAUSED_BY_MIGRATION \
            and not params.get("was_paused"):
        src.resume()
        done.append("resumed the machine on the source")
    if src_active and dst is not None and not params.get("dest_had_definition") and not dst.isActive():
        if carries_mark(dst, params.get("mark") or ""):  # the copy this migration made, not one it found
            dst.undefine()
            done.append("removed the definition left on the destination")
        else:
            done.append("left the definition on the destination alone (it does not carry this migration's mark)")
    if dst_active:
        return "destination", done
    return ("source" if src_active else "neither"), done




def _state(dom: libvirt.virDomain | None) -> list[int] | None:
    """The machine's [state, reason]; None when there is none, or it went away meanwhile (a
    peer-to-peer migration that a killed app had started ends in the source's daemon by itself,
    and the source's domain is gone the moment it does: seen in the lab, recovery's undo failed
    on "Domain not found" for a machine that had just arrived)."""
    if dom is None:
        return None
    try:
        return dom.state()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise


def abort_and_wait(conn: libvirt.virConnect, uuid: str, timeout: float = 30.0) -> None:
    dom = find_domain(conn, uuid)
    state = _state(dom)
    if state is None or state[0] == libvirt.VIR_DOMAIN_SHUTOFF:
        return
    try:
        if dom.jobInfo()[0] in (libvirt.VIR_DOMAIN_JOB_NONE, libvirt.VIR_DOMAIN_JOB_COMPLETED):
            return
        dom.abortJob()
    except libvirt.libvirtError as exc:
        log.info("no job to abort on %s: %s", uuid, exc)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if dom.jobInfo()[0] in (libvirt.VIR_DOMAIN_JOB_NONE, libvirt.VIR_DOMAIN_JOB_COMPLETED):
                return
        except libvirt.libvirtError:
            return  # the domain left this host (the job completed after all)
        time.sleep(0.2)


def persist_definition(conn: libvirt.virConnect, uuid: str) -> None:
    conn.defineXML(read_domain(conn.lookupByUUIDString(uuid), libvirt.VIR_DOMAIN_XML_MIGRATABLE).xml)


async def clean_up(source, destination, params: dict) -> tuple[str, list[str]]:
    try:
        return await destination.call_with(source, lambda d, s: settle(s, d, params),
                                           operation="migration cleanup", machine=params["name"])
    except HypervisorError as error:
        log.info("destination unreachable for the cleanup (%s); putting the source right", error)
    try:
        where, done = await source.call(lambda s: settle(s, None, params), operation="migration cleanup",
                                        machine=params["name"])
        return where, done + ["the destination could not be checked"]
    except HypervisorError as error:
        return "unknown host", [f"no cleanup: {error.message}"]
