"""Take, revert and delete snapshots: one function each, the one path every caller takes
(the window's Snapshots tab, the command line). Each holds the machine's lock across
instances (``machine_locks``), runs libvirt in the host's worker, records a task (shown in
the tasks pane with libvirt's error on failure) and never raises for libvirt's refusals.
Taking one runs the flow command ``create_snapshot`` (``tasks.operations``): a snapshot a
flow takes is made the same way, and undone by that flow's rollback."""
from __future__ import annotations

import logging

import libvirt

from ..libvirt_xml.marks import flow_state, put_flow_state

from ..hosts.connection import HostConnection, connected_host
from ..hosts.states import ACTIVE_STATES, STATE_LABELS, state_name
from ..inventory.live import Inventory
from ..inventory.machines import MachineInfo
from ..sharing import machine_locks
from ..tasks.operations import OPERATIONS
from ..tasks.records import TaskRecord
from ..tasks.service import TaskService
from .info import SnapshotInfo, external_supported, read_snapshots

log = logging.getLogger(__name__)
CREATE, REVERT, DELETE = "snapshot_create", "snapshot_revert", "snapshot_delete"  # task kinds


def revert_loses(machine: MachineInfo, snapshot: SnapshotInfo) -> str:
    """What reverting ``machine`` to ``snapshot`` throws away, in words (the question asked first)."""
    when = snapshot.created_text
    lost = [f"every change to its disks since {when}" if when != "-" else "every change to its disks since then"]
    if machine.state in ACTIVE_STATES:
        lost.append("its current memory: running programs and unsaved work")
    after = ("running" if snapshot.with_memory and snapshot.state in ("running", "blocked")
             else "paused" if snapshot.with_memory and snapshot.state == "paused" else "shut off")
    lost_text = " and ".join(lost)
    return (f"The current state of {machine.name} since snapshot {snapshot.name} is lost: {lost_text}. "
            f"It will be {after}, as it was when the snapshot was taken. Snapshots are kept.")


class Snapshots:
    def __init__(self, inventory: Inventory, tasks: TaskService) -> None:
        self.inventory = inventory
        self.tasks = tasks

    def _host(self, machine: MachineInfo, operation: str) -> HostConnection:
        return connected_host(self.inventory.hosts.get(machine.host_uri), machine.host_uri, operation=operation,
                              machine=machine.name)

    def external_supported(self, machine: MachineInfo) -> bool:
        host = self.inventory.hosts.get(machine.host_uri)
        return host is not None and external_supported(host.facts.driver_type)

    async def list(self, machine: MachineInfo) -> list[SnapshotInfo]:
        """The machine's snapshots, parents first (``HypervisorError`` when libvirt refuses)."""
        uuid = machine.uuid
        host = self._host(machine, "list snapshots")
        return await host.call(lambda conn: read_snapshots(conn, uuid), operation="list snapshots",
                               machine=machine.name)

    async def create(self, machine: MachineInfo, name: str, *, description: str = "", memory: bool = True,
                     external: bool = False) -> TaskRecord:
        """Take snapshot ``name``: with the memory of a running machine (``memory``), or its disks
        only; internal, or ``external`` (disks only, overlay files; where the host makes them)."""
        params = {"uuid": machine.uuid, "name": machine.name, "snapshot": name, "description": description,
                  "memory": memory, "external": external}
        command = OPERATIONS["create_snapshot"]

        async def work() -> str:
            host = self._host(machine, "create snapshot")
            return await machine_locks.call_locked(host, machine.uuid, machine.name, "create snapshot",
                                                   lambda conn: command.execute(conn, params))
        return await self._run(CREATE, f"Take snapshot {name} of {machine.name}", machine, work)

    async def revert(self, machine: MachineInfo, name: str) -> TaskRecord:
        """Revert to snapshot ``name`` (ask first: ``revert_loses``); the machine's row and the
        state restore brings back follow the state it is in afterwards."""
        uuid = machine.uuid

        def revert(conn: libvirt.virConnect) -> str:
            dom = conn.lookupByUUIDString(uuid)
            flows = flow_state(dom)  # a snapshot keeps the <metadata> it was taken with: seals of
            dom.revertToSnapshot(dom.snapshotLookupByName(name, 0), 0)  # ended flows come back
            put_flow_state(dom, flows)  # with it; the machine keeps those it has now, no others
            return state_name(dom.state()[0])

        async def work(record: TaskRecord) -> str:
            host = self._host(machine, "revert to snapshot")
            state = await machine_locks.call_locked(host, uuid, machine.name, "revert to snapshot", revert)
            self.inventory.record_desired(machine.host_uri, [uuid],
                                          "running" if state in ACTIVE_STATES else "shutoff")
            await self.inventory.follow_flow([(machine.host_uri, uuid)], lambda: record.db_id)
            return f"reverted to {name}; now {STATE_LABELS.get(state, state)}"
        return await self._run(REVERT, f"Revert {machine.name} to snapshot {name}", machine, work, pass_record=True)

    async def delete(self, machine: MachineInfo, name: str, *, children: bool = False) -> TaskRecord:
        """Delete snapshot ``name``; with ``children``, every snapshot under it too (else its
        children move up to its parent)."""
        uuid = machine.uuid

        def delete(conn: libvirt.virConnect) -> int:
            snap = conn.lookupByUUIDString(uuid).snapshotLookupByName(name, 0)
            below = snap.numChildren(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_DESCENDANTS) if children else 0
            snap.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN if children else 0)
            return below

        async def work() -> str:
            host = self._host(machine, "delete snapshot")
            below = await machine_locks.call_locked(host, uuid, machine.name, "delete snapshot", delete)
            return f"deleted {name}" + (f" and {below} below it" if below else "")
        title = f"Delete snapshot {name} of {machine.name}" + (" with its children" if children else "")
        return await self._run(DELETE, title, machine, work)

    async def _run(self, kind: str, title: str, machine: MachineInfo, work, *, pass_record: bool = False,
                   ) -> TaskRecord:
        record = await self.tasks.run(kind, title, work, host_uri=machine.host_uri, target_uuid=machine.uuid,
                                      target_name=machine.name, pass_record=pass_record)
        log.info("%s on %s: %s: %s", record.title, machine.host_uri, record.status, record.outcome)
        return record
