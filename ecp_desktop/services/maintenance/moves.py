"""The evacuation's step: the one migrate path forward, and migrating back as its opposite.

``evacuate_domain`` runs exactly the migration step (``migration.run.MigrateDomain``: the
negotiated ladder, progress, abort, stall timeout, the machine left on one host). What
differs is its opposite: a plain migration's undo only settles the machine on one host,
while an evacuation under the *move back* policy undoes a migration that succeeded by
migrating the machine back to the host it came from (managed by this process, which reaches
both daemons, with the method that moved it) — only when someone is there to want it: a
recovery after a crash leaves the machine where it is and says so (Retry Rollback moves it).
The way back's flags are those of the way there kept to a fixed set (a row cannot add one).
Under *keep going* a migration that fails does not fail the flow: the machine stays where
it is (settled on the source by the migration step), the step says so, and the other
machines still move.
"""
from __future__ import annotations

import libvirt

from ..core.errors import HypervisorError, Refusal
from ..hosts.lookups import find_domain
from ..hosts.opening import open_approved
from ..migration.ladder import SUCCEEDED, tried_rows
from ..migration.run import MigrateDomain, require_migration_seal
from ..tasks.operations import UNATTENDED
from ..libvirt_xml.marks import set_home_mark
from ..migration.settle import abort_and_wait, settle

MOVE_BACK, KEEP_GOING = "move-back", "keep-going"
STAYED = "stayed"
# What the way back may keep of the way there (nothing else, whatever the row says): no
# peer-to-peer or tunnel (this process drives both daemons), no stream address (it named the
# destination's).
_BACK_FLAGS = (libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_OFFLINE | libvirt.VIR_MIGRATE_PERSIST_DEST
               | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE | libvirt.VIR_MIGRATE_NON_SHARED_DISK
               | libvirt.VIR_MIGRATE_NON_SHARED_INC | libvirt.VIR_MIGRATE_COMPRESSED
               | libvirt.VIR_MIGRATE_AUTO_CONVERGE | libvirt.VIR_MIGRATE_ABORT_ON_ERROR)
_BACK_PARAMS = (libvirt.VIR_MIGRATE_PARAM_BANDWIDTH, libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS)


class EvacuateDomain(MigrateDomain):
    """params: those of ``migrate_domain``, and policy (move-back | keep-going); run records
    outcome ("moved" or "stayed") and, when it stayed, error (libvirt's words). Before it
    leaves, the machine is marked with the host it comes from (``set_home_mark``)."""

    def prepare(self, conn, params):
        params = super().prepare(conn, params)
        set_home_mark(conn.lookupByUUIDString(params["uuid"]), params["source_uri"])
        return params

    async def run(self, context) -> str:
        try:
            words = await super().run(context)
        except HypervisorError as error:
            if context.record.params.get("policy") != KEEP_GOING or context.stop.is_set():
                raise
            where = context.record.summary or "the machine stayed on the source"
            context.record.params = {**context.record.params, "outcome": STAYED, "error": error.message}
            return f"not moved ({error.message}); {where}"
        context.record.params = {**context.record.params, "outcome": "moved"}
        return words

    def compensate(self, conn, params):
        """Settle the machine on one host (as a migration's undo does, after a crash too);
        then, under *move back*, if it is on the destination, migrate it back."""
        try:
            destination = open_approved(params["dest_uri"], operation="move back")
        except HypervisorError as error:
            require_migration_seal(self, conn, None, params)
            abort_and_wait(conn, params["uuid"])
            return _settle_without_destination(conn, params, error)
        try:
            require_migration_seal(self, conn, destination, params)
            abort_and_wait(conn, params["uuid"])
            where, done = settle(conn, destination, params)
            if where == "both":
                raise HypervisorError(f"{params['name']} runs on both hosts", code=libvirt.VIR_ERR_OPERATION_FAILED,
                                      operation="move back", machine=params["name"])
            if not _on_destination(conn, destination, params, where):
                return f"{params['name']} is on the source" + (f"; {', '.join(done)}" if done else "")
            if params.get("policy") == KEEP_GOING:  # (a crash or a cancel: what moved stays moved)
                return f"{params['name']} is on the destination; kept there (keep going)"
            if params.get(UNATTENDED):
                raise Refusal(f"{params['name']} is on the destination: a recovery after a crash does not move a "
                              "machine back by itself; use Retry Rollback to move it back")
            flags, typed = _way_back(params)
            destination.lookupByUUIDString(params["uuid"]).migrate3(conn, typed, flags)
            back, _done = settle(destination, conn, {"uuid": params["uuid"], "name": params["name"],
                                                     "dest_had_definition": True})
            if back == "both":
                raise HypervisorError(f"{params['name']} runs on both hosts after moving back",
                                      code=libvirt.VIR_ERR_OPERATION_FAILED, operation="move back",
                                      machine=params["name"])
            return f"moved {params['name']} back to the source"
        finally:
            destination.close()

    def undo_title(self, params):
        return f"Move {params['name']} back to the source"

    def leftover(self, params):
        return f"{params['name']} not moved back (on the destination or on both hosts)"


def _settle_without_destination(source: libvirt.virConnect, params: dict, error: HypervisorError) -> str:
    """The destination does not answer (its host died mid-evacuation). A machine active on the
    source is settled there: it never left, or its migration was cut off. Otherwise it may be on
    the destination, and nothing here can tell: the undo fails, and the outcome says so."""
    where, done = settle(source, None, params)
    if where == "source":
        return (f"{params['name']} is on the source (the destination does not answer: {error.one_line()})"
                + (f"; {', '.join(done)}" if done else ""))
    raise HypervisorError(f"{params['name']} is not running on the source and the destination does not answer "
                          f"({error.one_line()})", code=libvirt.VIR_ERR_OPERATION_FAILED, operation="move back",
                          machine=params["name"])


def _on_destination(source: libvirt.virConnect, destination: libvirt.virConnect, params: dict, where: str) -> bool:
    if where == "destination":
        return True
    if where != "neither":
        return False
    # Shut off (an offline move): where its definition is.
    return find_domain(source, params["uuid"]) is None and find_domain(destination, params["uuid"]) is not None


def _way_back(params: dict) -> tuple[int, dict]:
    """The flags and parameters of the rung that moved the machine, for the way back."""
    rows, ladder = tried_rows(params), params.get("ladder") or []
    index = next((i for i, row in enumerate(rows) if row.verdict == SUCCEEDED), 0)
    rung = ladder[index] if index < len(ladder) else {"flags": params["flags"], "params": params.get("params")}
    flags = int(rung["flags"]) & _BACK_FLAGS
    flags |= libvirt.VIR_MIGRATE_PERSIST_DEST
    if params.get("was_paused") is False and not flags & libvirt.VIR_MIGRATE_OFFLINE:
        flags |= libvirt.VIR_MIGRATE_LIVE
    typed = {k: v for k, v in (rung.get("params") or {}).items() if k in _BACK_PARAMS}
    return flags, typed


EVACUATE_STEP = "evacuate_domain"
STEPS = (EvacuateDomain(EVACUATE_STEP),)
