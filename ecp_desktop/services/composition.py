"""The app's services as one graph, built the same way by the GUI, the CLI and the tests."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from .sharing import heartbeat
from .actions.host_actions import HostActions
from .inventory.live import Inventory
from .core.executors import Executors
from .actions.lifecycle import Lifecycle
from .migration.service import MigrationService
from .actions.restore import RestoreService
from .tasks.engine import TaskEngine
from .tasks.tree import changed_machines
from .tasks.service import TaskService
from .actions.templates import TemplateService
from .maintenance import moves as evacuation_moves  # noqa: F401  (registers evacuate_domain: recovery undoes it)
from .provisioning import operations as provisioning_operations  # noqa: F401  (registers its steps for recovery)
from .hardware.service import HardwareService  # imports hardware.operations: registers its steps for recovery

log = logging.getLogger(__name__)


@dataclass
class Services:
    executors: Executors
    inventory: Inventory
    tasks: TaskService
    lifecycle: Lifecycle
    host_actions: HostActions
    restore: RestoreService
    engine: TaskEngine
    templates: TemplateService
    migrations: MigrationService
    hardware: HardwareService

    def shutdown(self) -> None:
        """A clean exit: what runs now is what restore brings back next time (policy "last")."""
        if self.inventory.persist:
            # Through the inventory's write queue, with whatever it still holds from an outage:
            # one last attempt at exit (bounded: a database across the network may be gone).
            for uri, (running, stopped) in self.inventory.running_snapshot().items():
                self.inventory.record_desired(uri, running, "running")
                self.inventory.record_desired(uri, stopped, "shutoff")
            try:
                self.executors.database.submit(self.inventory.writes.write_pending).result(timeout=5)
            except Exception:
                log.warning("could not record the running machines at exit", exc_info=True)
            try:  # apart: a slow write above must not leave this instance looking alive for a minute
                self.executors.database.submit(heartbeat.leave).result(timeout=5)
            except Exception:
                log.warning("could not remove this instance's heartbeat at exit", exc_info=True)
            if self.inventory.writes.waiting():
                log.warning("%d inventory writes could not be made before the exit (the database is away)",
                            self.inventory.writes.waiting())
        self.inventory.close_all()
        self.executors.shutdown()


def build_services(executors: Executors | None = None, *, persist: bool = True, **inventory_options) -> Services:
    executors = executors or Executors()
    inventory = Inventory(executors, persist=persist, **inventory_options)
    tasks = TaskService(executors, persist=persist)
    engine = TaskEngine(tasks, inventory.hosts.get)

    async def follow_flow(step, _what: str) -> None:  # machines a flow defines, moves or undoes
        changed = changed_machines(step)
        if changed:
            await inventory.follow_flow(changed)
    engine.listeners.append(follow_flow)
    lifecycle = Lifecycle(inventory, tasks)
    return Services(executors, inventory, tasks, lifecycle, HostActions(inventory, tasks),
                    RestoreService(inventory, tasks, lifecycle), engine, TemplateService(inventory, engine),
                    MigrationService(inventory, engine), HardwareService(inventory, engine))
