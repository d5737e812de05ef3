"""The app's services as one graph, built the same way by the GUI, the CLI and the tests: the
one place that knows them all, and where every flow step is registered (crash recovery and
Retry Rollback look a task row's operation up by name, so a process that never ran a feature
must still know its steps)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from .actions.host_actions import HostActions
from .actions.lifecycle import Lifecycle
from .actions import deletion
from .actions.deletion import Deleter
from .actions.rename import Renamer
from .actions.restore import RestoreService
from .actions.templates import TemplateService
from .config import preferences
from .core.executors import Executors
from .guests.address_watch import AddressWatch
from .hardware import operations as hardware_operations
from .hardware.service import HardwareService
from .inventory.live import Inventory
from .maintenance import moves as evacuation_moves
from .maintenance.evacuate import EvacuationService
from .maintenance.return_home import ReturnHome
from .maintenance.recover import RecoveryService
from .maintenance.watch import MarkWatch
from .migration import run as migration_run
from .migration.service import MigrationService
from .networks.service import NetworkService
from .provisioning import operations as provisioning_operations
from .provisioning.service import ProvisioningService
from .sharing import heartbeat
from .snapshots.service import Snapshots
from .storage.service import StorageService
from .tasks import operations as task_operations
from .tasks import store as task_store
from .tasks.engine import TaskEngine
from .tasks.service import TaskService
from .tasks.records import UNFINISHED
from .tasks.tree import changed_machines

if TYPE_CHECKING:
    from .usage.service import UsageService

log = logging.getLogger(__name__)


def register_operations() -> None:
    """Every flow step of every feature, known by name (idempotent)."""
    for steps in (task_operations.STEPS, hardware_operations.STEPS, migration_run.STEPS, evacuation_moves.STEPS,
                  provisioning_operations.STEPS, deletion.STEPS):
        task_operations.register(steps)


@dataclass
class Services:
    executors: Executors
    inventory: Inventory
    tasks: TaskService
    engine: TaskEngine
    lifecycle: Lifecycle
    renamer: Renamer
    deleter: Deleter
    host_actions: HostActions
    restore: RestoreService
    templates: TemplateService
    migrations: MigrationService
    evacuations: EvacuationService
    return_home: ReturnHome
    host_recovery: RecoveryService
    hardware: HardwareService
    provisioning: ProvisioningService
    snapshots: Snapshots
    maintenance_marks: MarkWatch
    addresses: AddressWatch
    storage: StorageService
    networks: NetworkService

    @cached_property
    def usage(self) -> UsageService:
        """Made when first asked for (the window's Usage pane and column): its numbers need
        numpy, which headless commands never import."""
        from .usage.service import UsageService
        return UsageService(self.inventory, interval=preferences.current().usage_interval)

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
        self.maintenance_marks.stop()
        self.inventory.close_all()
        self.executors.shutdown()


def build_services(executors: Executors | None = None, *, persist: bool = True, **inventory_options) -> Services:
    register_operations()
    executors = executors or Executors()
    inventory = Inventory(executors, persist=persist, **inventory_options)
    tasks = TaskService(executors, persist=persist)
    engine = TaskEngine(tasks, inventory.hosts.get)

    async def follow_flow(step, _what: str) -> None:  # machines a flow defines, moves or undoes
        changed = changed_machines(step)
        if changed:
            await inventory.follow_flow(changed, lambda: step.root().db_id)  # the flow the user started
    engine.listeners.append(follow_flow)
    # this instance's own tasks first (their rows may not be written yet), then any instance's
    inventory.in_flow = lambda _uri, uuid: tasks.changing(uuid) or task_store.machine_in_flow(uuid, UNFINISHED)
    lifecycle = Lifecycle(inventory, tasks)
    migrations = MigrationService(inventory, engine)
    evacuations = EvacuationService(migrations)
    return Services(executors=executors, inventory=inventory, tasks=tasks, engine=engine, lifecycle=lifecycle,
                    renamer=Renamer(inventory, tasks), deleter=Deleter(inventory, engine),
                    host_actions=HostActions(inventory, tasks),
                    restore=RestoreService(inventory, tasks, lifecycle),
                    templates=TemplateService(inventory, engine), migrations=migrations, evacuations=evacuations,
                    return_home=ReturnHome(evacuations), host_recovery=RecoveryService(inventory, engine),
                    hardware=HardwareService(inventory, engine), provisioning=ProvisioningService(inventory, engine),
                    snapshots=Snapshots(inventory, tasks), maintenance_marks=MarkWatch(executors),
                    addresses=AddressWatch(inventory), storage=StorageService(inventory, tasks),
                    networks=NetworkService(inventory, tasks))
