"""Lifecycle actions on machines, each one a task; bulk actions over a selection."""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import libvirt

from . import machine_locks
from .errors import HypervisorError
from .inventory import Inventory
from .machines import ACTIVE_STATES, MachineInfo
from .tasks import SUCCEEDED, TaskRecord, TaskService

WAVE = 50

# What the user asked for is what restore brings back (pause keeps the machine "on").
DESIRED_AFTER = {"start": "running", "resume": "running", "reboot": "running",
                 "shutdown": "shutoff", "force_off": "shutoff"}


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    verb: str  # for task titles: "Start web-01"
    call: Callable[[libvirt.virDomain], object]
    applies_to: frozenset[str]  # states in which the action makes sense (for enabling buttons)


ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("start", "Start", "Start", lambda d: d.create(), frozenset({"shutoff", "crashed", "nostate"})),
    Action("shutdown", "Shut down", "Shut down", lambda d: d.shutdown(), frozenset({"running", "blocked"})),
    Action("force_off", "Force off", "Force off", lambda d: d.destroy(), frozenset(ACTIVE_STATES | {"crashed"})),
    Action("reboot", "Reboot", "Reboot", lambda d: d.reboot(0), frozenset({"running", "blocked"})),
    Action("pause", "Pause", "Pause", lambda d: d.suspend(), frozenset({"running", "blocked"})),
    Action("resume", "Resume", "Resume", lambda d: d.resume(), frozenset({"paused", "pmsuspended"})),
)}


class Lifecycle:
    def __init__(self, inventory: Inventory, tasks: TaskService) -> None:
        self.inventory = inventory
        self.tasks = tasks

    async def apply(self, action_name: str, machine: MachineInfo) -> TaskRecord:
        action = ACTIONS[action_name]
        host = self.inventory.hosts.get(machine.host_uri)

        async def work() -> None:
            if host is None:
                raise HypervisorError(f"host {machine.host_uri} is no longer configured",
                                      operation=action.name, machine=machine.name, host_uri=machine.host_uri)
            uuid = machine.uuid

            def call(conn) -> None:
                # One operation at a time on a machine, across instances sharing the inventory.
                with machine_locks.held(machine.host_uri, uuid, what=machine.name):
                    action.call(conn.lookupByUUIDString(uuid))
            await host.call(call, operation=action.name, machine=machine.name)

        record = await self.tasks.run(action.name, f"{action.verb} {machine.name}", work,
                                      host_uri=machine.host_uri, target_uuid=machine.uuid,
                                      target_name=machine.name)
        if record.status == SUCCEEDED and action.name in DESIRED_AFTER:
            self.inventory.record_desired(machine.host_uri, [machine.uuid], DESIRED_AFTER[action.name])
        return record

    async def apply_many(self, action_name: str, machines: Iterable[MachineInfo]) -> list[TaskRecord]:
        """One task per machine, run concurrently (each host caps its own parallel calls).

        The tasks start in waves of WAVE, one turn of the event loop each: started all at
        once, 1,000 of them made one turn of the GUI's loop last well over 100 ms.
        """
        started = []
        for count, machine in enumerate(machines, 1):
            started.append(asyncio.ensure_future(self.apply(action_name, machine)))
            if count % WAVE == 0:
                await asyncio.sleep(0)
        return list(await asyncio.gather(*started))
