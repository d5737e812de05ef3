"""Delete a machine, with the disks the user chose: a plan first (each disk with its storage,
its size and the other machines that use it), then a flow whose irreversible steps come
last: forced off (only when the user chose it), undefined (with its snapshot metadata, saved
state, UEFI variables and checkpoints), then each chosen volume deleted. A failure before the
undefine leaves the machine defined, and says so; a volume another machine uses is never
deleted here. The task history keeps the machine's last definition (the undefine step's
parameters); the inventory forgets the machine (it was deleted, not lost).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import libvirt

from ..core.errors import Refusal
from ..core.wording import count
from ..hosts.connection import connected_host
from ..hosts.lookups import find_domain
from ..inventory.live import Inventory
from ..inventory.machines import MachineInfo
from ..libvirt_xml.domain import read_domain
from ..libvirt_xml.storage import disk_users, locate, overlays_of
from ..tasks.engine import Group, Step, TaskEngine
from ..tasks.operations import Operation
from ..tasks.records import TaskRecord

KIND = "delete_machine"
UNDEFINE_EVERYTHING = (libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
                       | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA)


@dataclass
class DiskChoice:
    """One disk of the machine, and whether its volume may be deleted with it."""
    target: str
    device: str
    source: str              # its path, or pool/volume
    pool: str = ""           # the storage pool holding it ("" when in none: never deleted here)
    volume: str = ""
    size: int = 0            # bytes
    users: list[str] = field(default_factory=list)  # the other machines of the host whose disks name it
    overlays: list[str] = field(default_factory=list)  # volumes of its pool reading it as their base

    @property
    def why_kept(self) -> str:
        """Why this disk cannot be deleted with the machine ("" when it can)."""
        if self.users:
            return f"also a disk of {', '.join(self.users)}"
        if self.overlays:
            return f"the base of linked clone volume {', '.join(self.overlays)}"
        if not self.pool:
            return "in no storage pool of the host"
        return ""

    @property
    def ticked(self) -> bool:
        """Deleted by default: a disk (not a CD-ROM's medium) in a pool that no other machine uses."""
        return not self.why_kept and self.device == "disk"

    def as_json(self) -> dict:
        return {"target": self.target, "device": self.device, "source": self.source, "pool": self.pool,
                "volume": self.volume, "size": self.size, "users": self.users, "overlays": self.overlays,
                "kept_because": self.why_kept}


@dataclass
class DeletePlan:
    machine: MachineInfo
    disks: list[DiskChoice]
    snapshots: int
    running: bool

    def as_json(self) -> dict:
        return {"machine": self.machine.name, "uuid": self.machine.uuid, "host": self.machine.host_uri,
                "running": self.running, "snapshots": self.snapshots, "disks": [d.as_json() for d in self.disks]}


def read_plan(conn: libvirt.virConnect, machine: MachineInfo) -> DeletePlan:
    """Blocking: the host's worker."""
    dom = conn.lookupByUUIDString(machine.uuid)
    domain = read_domain(dom, libvirt.VIR_DOMAIN_XML_INACTIVE)
    others = disk_users(conn, except_uuid=machine.uuid)
    disks = []
    for disk in domain.disks:
        if not disk.has_source:
            continue
        found = locate(conn, disk)
        overlays = overlays_of(conn, disk.pool, disk.path) if found and disk.path else []
        disks.append(DiskChoice(disk.target, disk.device, disk.source, disk.pool if found else "",
                                disk.volume if found else "", disk.capacity if found else 0, others.of(disk),
                                overlays))
    try:
        snapshots = dom.snapshotNum(0)
    except libvirt.libvirtError:
        snapshots = 0
    return DeletePlan(machine, disks, snapshots, bool(dom.isActive()))


class ForceOffDomain(Operation):
    """params: uuid, name. The first step of a deletion the user confirmed for a running
    machine; not undone (a machine being deleted is not started again)."""

    def execute(self, conn, params):
        dom = find_domain(conn, params["uuid"])
        if dom is not None and dom.isActive():
            dom.destroy()
            return f"forced off {params['name']}"
        return f"{params['name']} was not running"

    def compensate(self, conn, params):
        return f"{params['name']} left shut off"

    def undo_title(self, params):
        return f"Leave {params['name']} shut off"

    def leftover(self, params):
        return f"{params['name']} shut off"


class UndefineDomain(Operation):
    """params: uuid, name; prepare keeps its definition (the task history's record of what was
    deleted). Final: the deletion's volumes are deleted only after it."""

    def prepare(self, conn, params):
        dom = conn.lookupByUUIDString(params["uuid"])
        if dom.isActive():
            raise Refusal(f"{params['name']} is running: force it off first (the deletion asks)")
        return {**params, "definition": dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)}

    def execute(self, conn, params):
        dom = conn.lookupByUUIDString(params["uuid"])
        if dom.isActive():
            raise Refusal(f"{params['name']} started meanwhile; not deleted")
        try:
            dom.undefineFlags(UNDEFINE_EVERYTHING)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() not in (libvirt.VIR_ERR_NO_SUPPORT, libvirt.VIR_ERR_INVALID_ARG):
                raise
            dom.undefine()  # a driver without those flags (nothing of them to remove there)
        return f"undefined {params['name']} (its definition is kept in this task)"

    def compensate(self, conn, params):
        return f"{params['name']} stays deleted (its definition is kept in the task history)"

    def undo_title(self, params):
        return f"Check {params['name']}"

    def leftover(self, params):
        return f"{params['name']} deleted"

    def machines_changed(self, params, host_uri):
        return [(host_uri, params["uuid"])]


STEPS = (ForceOffDomain("force_off_domain"), UndefineDomain("undefine_domain"))


def deletion_flow(plan: DeletePlan, delete_disks: set[str], *, force_off: bool) -> Group:
    """The flow (``Refusal`` in words when it cannot be: a running machine without force_off,
    a disk that is not this machine's or cannot be deleted)."""
    m = plan.machine
    if plan.running and not force_off:
        raise Refusal(f"{m.name} is running: deleting it forces it off first; choose that explicitly")
    by_target = {d.target: d for d in plan.disks}
    unknown = sorted(delete_disks - set(by_target))
    if unknown:
        raise Refusal(f"{m.name} has no disk {', '.join(unknown)}")
    kept = [f"{t} ({by_target[t].why_kept})" for t in sorted(delete_disks) if by_target[t].why_kept]
    if kept:
        raise Refusal(f"not deleted with {m.name}: {'; '.join(kept)}")
    chosen = [d for d in plan.disks if d.target in delete_disks]
    what = f" and {count(len(chosen), 'disk')}" if chosen else ""
    root = Group(KIND, f"Delete {m.name}{what}", host_uri=m.host_uri, target_uuid=m.uuid, target_name=m.name)

    def step(op: str, title: str, params: dict) -> None:
        root.children.append(Step(op, title, params, m.host_uri, m.uuid, m.name))
    base = {"uuid": m.uuid, "name": m.name}
    if plan.running:
        step("force_off_domain", f"Force off {m.name}", base)
    step("undefine_domain", f"Undefine {m.name}", base)
    for disk in chosen:  # last: a deleted volume cannot come back
        step("delete_volume", f"Delete volume {disk.pool}/{disk.volume}", {**base, "pool": disk.pool,
                                                                          "volume": disk.volume})
    return root


class Deleter:
    """Machine → Delete… and ``ecp-desktop delete``."""

    def __init__(self, inventory: Inventory, engine: TaskEngine) -> None:
        self.inventory = inventory
        self.engine = engine

    async def plan(self, machine: MachineInfo) -> DeletePlan:
        host = connected_host(self.inventory.hosts.get(machine.host_uri), machine.host_uri, operation="delete",
                              machine=machine.name)
        return await host.call(lambda conn: read_plan(conn, machine), operation="read what deleting takes",
                               machine=machine.name)

    async def delete(self, plan: DeletePlan, delete_disks: set[str], *, force_off: bool = False) -> TaskRecord:
        return await self.engine.run(deletion_flow(plan, delete_disks, force_off=force_off))
