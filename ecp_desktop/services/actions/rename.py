"""Renaming a machine: libvirt's own rename, for a machine that is not running.

The one path the window (F2 on a row) and the command line (``rename``) take: the new name
is checked as a new machine's is, a running machine is refused in words, the rename runs as
a task under the machine's lock, and the row, the inventory, the task history and the notes
follow the machine's UUID (nothing keys on its name).
"""
from __future__ import annotations

import libvirt

from ..core.errors import Refusal
from ..core.names import name_problem
from ..hosts.connection import connected_host
from ..hosts.states import ACTIVE_STATES
from ..inventory.live import Inventory
from ..inventory.machines import MachineInfo
from ..sharing import machine_locks
from ..tasks.records import TaskRecord
from ..tasks.service import TaskService

RENAME = "rename"


def state_problem(machine: MachineInfo) -> str | None:
    """Why ``machine`` cannot be renamed whatever the name, in words; None when it can."""
    if not machine.persistent:
        return f"{machine.name} has no definition to rename (a transient machine ends with its run)"
    if machine.state in ACTIVE_STATES:
        return f"{machine.name} is {machine.state}: libvirt renames only a machine that is shut off; shut it down first"
    return None


def rename_problem(machine: MachineInfo, new_name: str, names_on_host: set[str]) -> str | None:
    """Why ``machine`` cannot be renamed ``new_name`` now, in words; None when it can."""
    problem = name_problem(new_name)
    if problem:
        return problem
    if new_name == machine.name:
        return f"{machine.name} already has that name"
    if new_name in names_on_host:
        return f"a machine named {new_name!r} exists on this host already"
    return state_problem(machine)


class Renamer:
    def __init__(self, inventory: Inventory, tasks: TaskService) -> None:
        self.inventory = inventory
        self.tasks = tasks

    def problem(self, machine: MachineInfo, new_name: str) -> str | None:
        names = {m.name for m in self.inventory.machines_of(machine.host_uri) if m.uuid != machine.uuid}
        return rename_problem(machine, new_name, names)

    async def rename(self, machine: MachineInfo, new_name: str) -> TaskRecord:
        """Rename as a task (``Refusal`` before any task when the name or the state is wrong);
        the row follows once libvirt has done it."""
        problem = self.problem(machine, new_name)
        if problem:
            raise Refusal(problem)
        old, uuid = machine.name, machine.uuid

        def rename(conn: libvirt.virConnect) -> str:
            dom = conn.lookupByUUIDString(uuid)
            if dom.isActive():  # (it started since the row was read)
                raise Refusal(f"{dom.name()} is running now: libvirt renames only a machine that is shut off")
            dom.rename(new_name, 0)
            return f"renamed {old} to {new_name}"

        async def work(record: TaskRecord) -> str:
            host = connected_host(self.inventory.hosts.get(machine.host_uri), machine.host_uri, operation="rename",
                                  machine=old)
            words = await machine_locks.call_locked(host, uuid, old, "rename", rename)
            await self.inventory.follow_flow([(machine.host_uri, uuid)], lambda: record.db_id)
            return words
        return await self.tasks.run(RENAME, f"Rename {old} to {new_name}", work, host_uri=machine.host_uri,
                                    target_uuid=uuid, target_name=old, pass_record=True)
