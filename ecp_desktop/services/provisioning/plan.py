"""From a request and what the host offers to a plan: the definition to review and the flow of
steps that makes it (pure: no libvirt call; ``service.py`` reads the host and runs the flow).

Every step has its opposite (``operations.py`` and the engine's ``define_domain`` and
``start_domain``): a failure anywhere undoes what was made before it, and the machine's
definition carries the flow's mark until the flow has succeeded.
"""
from __future__ import annotations

import os
import secrets
import uuid as uuidlib
from dataclasses import dataclass, field, replace

from ..libvirt_xml.layout import pretty
from ..libvirt_xml.marks import with_flow_mark
from ..core.names import BadName, check_file_name, file_name_part
from ..tasks.engine import Group, Step
from .domain import DiskPlan, domain_xml
from ..libvirt_xml.devices import volume_name
from ..libvirt_xml.storage import FILE_POOLS, PoolSummary
from .host_offer import HostOffer, SourceVolume
from ..images.image_file import FlattenRefused, flatten, flatten_folder, flatten_hint, read_image
from .osinfo import OsDatabase, OsEntry
from .seed_iso import hostname_for, seed_files
from .spec import NO_DISK_SOURCES, SOURCE_LABELS, MachineSpec, disk_size_words, spec_problems

MIB, GIB = 2**20, 2**30


class PlanError(ValueError):
    """The request cannot be planned; the message says why in words."""


@dataclass
class Plan:
    spec: MachineSpec
    entry: OsEntry          # the OS with the spec's own choices applied
    uuid: str
    xml: str                # the definition to review (with the flow's mark)
    flow: Group
    notes: list[str] = field(default_factory=list)  # choices made for the user, and why
    # seed files by reference (never in a step's parameters: operations.hold_seed)
    seeds: dict[str, dict[str, str]] = field(default_factory=dict)


def resolve_entry(spec: MachineSpec, database: OsDatabase) -> OsEntry:
    entry = database.find(spec.os_id)
    if entry is None:
        hint = "" if database.entries else f" ({database.problem})"
        raise PlanError(f"no operating system {spec.os_id!r} in libosinfo's database{hint}; "
                        "`osinfo-query os` lists them, or use generic")
    changes = {"memory_mib": spec.memory_mib, "vcpus": spec.vcpus, "disk_mib": spec.disk_mib,
               "firmware": spec.firmware, "disk_bus": spec.disk_bus, "nic_model": spec.nic_model}
    return replace(entry, **{k: v for k, v in changes.items() if v})


def _check_host(spec: MachineSpec, entry: OsEntry, offer: HostOffer, notes: list[str]) -> OsEntry:
    if spec.name in offer.names:
        raise PlanError(f"a machine named {spec.name!r} exists on this host already; choose another name")
    if offer.memory_mib and entry.memory_mib > offer.memory_mib:
        raise PlanError(f"{entry.memory_mib} MiB of memory is more than the host has ({offer.memory_mib} MiB)")
    if offer.cpus and entry.vcpus > offer.cpus:
        raise PlanError(f"{entry.vcpus} vCPUs is more than the host has CPUs ({offer.cpus})")
    if entry.firmware == "efi" and not offer.efi:
        needs = "you chose UEFI" if spec.firmware == "efi" else f"{entry.name} boots only from UEFI"
        raise PlanError(f"{needs}, but {offer.firmware_words or 'the host has no UEFI firmware'}")
    if spec.virt_type and offer.domain_types and spec.virt_type not in offer.domain_types:
        raise PlanError(f"the host offers no {spec.virt_type!r} machines (it offers: {', '.join(offer.domain_types)})")
    if spec.secure_boot and not offer.secure_boot:
        raise PlanError("the host offers no secure boot firmware")
    if spec.network and spec.network not in offer.networks:
        raise PlanError(f"the host has no network named {spec.network!r} (it has: "
                        f"{', '.join(offer.networks) or 'none'})")
    if spec.bridge and offer.bridges and spec.bridge not in offer.bridges:
        notes.append(f"the host does not list a bridge {spec.bridge!r}; it is used as named")
    if offer.efi and entry.efi_supported and entry.firmware == "bios" and not spec.firmware:
        notes.append("BIOS firmware (UEFI is offered too: choose it with the firmware option)")
    return entry


def _pool(spec: MachineSpec, offer: HostOffer) -> PoolSummary:
    name = spec.pool or offer.default_pool
    pool = offer.pools.get(name)
    if pool is None:
        raise PlanError(f"the host has no storage pool named {name!r} (it has: {', '.join(offer.pools) or 'none'})"
                        if name else "the host has no active storage pool for the new disk")
    if not pool.active:
        raise PlanError(f"storage pool {name} is not active; start it first")
    return pool


def _new_volume(pool: PoolSummary, name: str, hint: str = "") -> str:
    try:
        check_file_name(name)
    except BadName as exc:
        raise PlanError(str(exc)) from None
    if name in pool.volumes:
        raise PlanError(f"pool {pool.name} has a volume named {name} already; "
                        + (hint or "choose another machine name or remove that volume (another machine's?)"))
    return name


def _machine_volume(machine: str, part: str, extension: str) -> str:
    """``web-disk.qcow2``: the devices' one naming rule."""
    try:
        return volume_name(machine, part, f".{extension}")
    except BadName as exc:
        raise PlanError(str(exc)) from None


def _disk_at(pool: PoolSummary, volume: str, fmt: str, bus: str, device: str = "disk") -> DiskPlan:
    if pool.kind in FILE_POOLS and pool.path:
        return DiskPlan(device, path=f"{pool.path.rstrip('/')}/{volume}", format=fmt, bus=bus)
    return DiskPlan(device, pool=pool.name, volume=volume, format=fmt, bus=bus)


def make_plan(spec: MachineSpec, offer: HostOffer, database: OsDatabase) -> Plan:
    problems = spec_problems(spec)
    if problems:
        raise PlanError("; ".join(problems))
    notes = [database.problem] if database.problem else []
    entry = _check_host(spec, resolve_entry(spec, database), offer, notes)
    new_uuid, uri, name = str(uuidlib.uuid4()), spec.host_uri, spec.name
    steps: list[Step] = []
    disks: list[DiskPlan] = []
    seeds: dict[str, dict[str, str]] = {}
    cdrom_bus = "sata"

    def step(op: str, title: str, params: dict) -> None:
        steps.append(Step(op, title, params, uri, new_uuid, name))

    needs_pool = spec.upload or spec.source == "cloud-image" or (spec.source in NO_DISK_SOURCES and not spec.no_disk)
    pool = _pool(spec, offer) if needs_pool else None
    source = offer.source
    if spec.upload:
        base = _new_volume(pool, file_name_part(os.path.basename(spec.source_path)),
                           "use that volume (its path on the host) instead of uploading the file again")
        image = read_image(spec.source_path)
        local_path = spec.source_path
        if spec.source != "iso" and image.reads_other_files():
            if not spec.flatten:
                raise PlanError(f"{spec.source_path}: {image.reads_other_files()}; "
                                f"{flatten_hint(spec.source_path, here=True)}")
            try:  # the user's choice: a copy standing alone, made here with the user's own rights
                local_path = flatten(spec.source_path, flatten_folder())
            except FlattenRefused as refused:
                raise PlanError(f"{spec.source_path} cannot be flattened: {refused}") from None
            notes.append(f"{os.path.basename(spec.source_path)} {image.reads_other_files()}: a copy standing alone "
                         "is uploaded (made with qemu-img on this computer)")
            image = read_image(local_path)
        fmt = "raw" if spec.source == "iso" else image.format
        size = os.path.getsize(local_path)
        step("upload_volume", f"Upload {os.path.basename(spec.source_path)} to pool {pool.name}",
             {"pool": pool.name, "name": base, "local_path": local_path, "size": size, "format": fmt})
        where = _disk_at(pool, base, fmt, cdrom_bus)
        source = None if spec.source == "iso" else _uploaded(pool, base, where, image.virtual_size, fmt)
        source_path = where.path or f"{pool.name}/{base}"
    else:
        source_path = source.path if source is not None else spec.source_path
        if source is not None and source.backing_path and spec.source in ("cloud-image", "import-disk"):
            raise PlanError(f"{source_path}: it has a backing file ({source.backing_path!r}), as its pool says; "
                            f"{flatten_hint(source_path)}")
    disk_bytes = entry.disk_mib * MIB

    if spec.source in NO_DISK_SOURCES:
        if spec.no_disk:
            notes.append("no disk: the machine keeps nothing it writes once it is turned off")
        else:
            volume = _new_volume(pool, _machine_volume(name, "disk", spec.disk_format))
            step("create_volume", f"Make disk {volume} ({disk_size_words(entry.disk_mib)})",
                 {"pool": pool.name, "name": volume, "capacity": disk_bytes, "format": spec.disk_format})
            disks.append(_disk_at(pool, volume, spec.disk_format, entry.disk_bus))
        if spec.source == "iso":
            disks.append(_disk_at(pool, base, "raw", cdrom_bus, "cdrom") if spec.upload
                         else DiskPlan("cdrom", path=source_path, format="raw", bus=cdrom_bus))
    elif spec.source == "cloud-image":
        if source is None:
            raise PlanError(f"{spec.source_path} is not a volume of a storage pool on the host; the cloud image "
                            "must be in a pool (or choose to upload it from this computer)")
        capacity = max(disk_bytes, source.capacity)
        if spec.full_copy:
            copy_pool = offer.pools[source.pool]
            volume = _new_volume(copy_pool, _machine_volume(name, "disk", source.format or "qcow2"))
            step("clone_volume", f"Copy {source.name} to {volume}",
                 {"pool": source.pool, "source": source.name, "name": volume, "capacity": capacity,
                  "allocation": 0, "format": source.format or "qcow2"})
            disks.append(_disk_at(copy_pool, volume, source.format or "qcow2", entry.disk_bus))
            if copy_pool.name != pool.name:
                notes.append(f"the full copy is made in the image's own pool, {copy_pool.name}")
        else:
            volume = _new_volume(pool, _machine_volume(name, "disk", "qcow2"))
            step("create_volume", f"Make disk {volume} over {source.name} ({capacity // GIB} GiB)",
                 {"pool": pool.name, "name": volume, "capacity": capacity, "format": "qcow2",
                  "backing_path": source.path, "backing_format": source.format or "qcow2"})
            disks.append(_disk_at(pool, volume, "qcow2", entry.disk_bus))
        if spec.seed is not None:
            seed = _new_volume(pool, _machine_volume(name, "seed", "iso"))
            files = seed_files(spec.seed, f"iid-{new_uuid}", hostname_for(name))
            reference = secrets.token_hex(16)
            seeds[reference] = files
            step("make_seed_volume", f"Make seed ISO {seed} (cloud-init: user {spec.seed.user})",
                 {"pool": pool.name, "name": seed, "files": sorted(files), "contents": reference})
            disks.append(_disk_at(pool, seed, "raw", cdrom_bus, "cdrom"))
    else:  # import-disk: used where it is, by this machine alone
        _check_unused(spec.source_path, source, offer)
        fmt = (source.format if source is not None and source.format else
               "qcow2" if spec.source_path.endswith(".qcow2") else "raw")
        disks.append(DiskPlan("disk", path=source_path, format=fmt, bus=entry.disk_bus))

    # The machine is defined first: each volume step then seals its undo on it (its flow mark
    # and the volume), which is what lets that undo delete the volume.
    mark = secrets.token_hex(16)
    for volume_step in steps:
        volume_step.params.update(uuid=new_uuid, mark=mark)
    xml = pretty(with_flow_mark(domain_xml(spec, entry, offer, new_uuid, disks), mark))  # the review shows it
    steps.insert(0, Step("define_domain", f"Define {name}", {"uuid": new_uuid, "name": name, "xml": xml,
                                                              "mark": mark}, uri, new_uuid, name))
    flow = Group("create_machine", f"Create {name} from {SOURCE_LABELS[spec.source]}", list(steps), host_uri=uri,
                 target_uuid=new_uuid, target_name=name)
    plan = Plan(spec, entry, new_uuid, xml, flow, notes, seeds)
    set_start(plan, spec.start)
    return plan


def _check_unused(path: str, source: SourceVolume | None, offer: HostOffer) -> None:
    """Refuse a disk another machine's definition names (by its path or as pool/volume)."""
    keys = [path] + ([source.path, f"{source.pool}/{source.name}"] if source is not None else [])
    users = sorted({user for key in keys for user in offer.disk_users.get(key, [])})
    if users:
        raise PlanError(f"{path} is a disk of {', '.join(users)}; two machines writing one disk corrupt it")


def set_start(plan: Plan, start: bool) -> None:
    """Add or drop the last step, Start (the wizard's *Start after creating*, changed after review)."""
    steps = [s for s in plan.flow.children if s.op != "start_domain"]
    if start:
        define = next(s for s in steps if s.op == "define_domain")
        steps.append(Step("start_domain", f"Start {plan.spec.name}", {
            "uuid": plan.uuid, "name": plan.spec.name, "mark": define.params["mark"]}, define.host_uri, plan.uuid,
            plan.spec.name))
    plan.flow.children = steps
    plan.spec = replace(plan.spec, start=start)


def _uploaded(pool: PoolSummary, volume: str, where: DiskPlan, size: int, fmt: str) -> SourceVolume:
    """The cloud image as it will be once uploaded (what the overlay is made over)."""
    return SourceVolume(pool.name, volume, where.path or f"{pool.name}/{volume}", size, fmt)
