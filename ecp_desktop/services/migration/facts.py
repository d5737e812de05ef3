"""What a migration negotiation needs to know about the machine and both hosts.

Each reader is blocking and runs in its host's worker thread. libvirt's own feature
probe (virConnectSupportsFeature) is private, so everything here rests on public calls:
capabilities, versions, CPU comparison, lookups, free memory, pools, the job state.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import libvirt

from ..core.errors import HypervisorError
from ..hosts.capabilities import read_capabilities
from ..libvirt_xml.domain import Disk, read_domain
from ..libvirt_xml.storage import locate, pool_paths
from ..hosts.states import state_name
from ..hosts.lookups import domain_by_name_or_uuid


@dataclass
class MachineFacts:
    name: str
    uuid: str
    state: str
    persistent: bool
    domain_type: str
    arch: str
    machine_type: str
    cpu_mode: str
    cpu_xml: str
    memory_kib: int
    disks: list[Disk] = field(default_factory=list)
    job: str = ""           # a job already running on the machine, in words ("" when none)


@dataclass
class HostSide:
    uri: str
    host_uuid: str = ""
    hostname: str = ""
    driver: str = ""
    libvirt_version: int = 0
    hypervisor_version: int = 0
    migrates: bool = False                  # capabilities list <migration_features>
    live: bool = False                      # ... with <live/>
    transports: list[str] = field(default_factory=list)
    guests: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (arch, type) -> machines
    host_cpu: str = ""
    free_memory: int | None = None          # bytes
    pool_paths: dict[str, str] = field(default_factory=dict)  # target path -> pool name
    # Destination only: the machine as seen there, and the CPU comparison.
    same_uuid: tuple[str, str] | None = None   # (name, state) of a domain with the machine's UUID
    same_name_uuid: str = ""                  # UUID of a domain with the machine's name
    cpu_verdict: str = ""                      # identical | superset | incompatible | unknown: ...
    existing_volumes: list[str] = field(default_factory=list)  # paths the copy would overwrite


def read_host(conn: libvirt.virConnect, uri: str) -> HostSide:
    side = HostSide(uri=uri, hostname=conn.getHostname(), driver=conn.getType(),
                    libvirt_version=conn.getLibVersion())
    try:
        side.hypervisor_version = conn.getVersion()
    except libvirt.libvirtError:
        pass
    caps = read_capabilities(conn)
    side.host_uuid, side.host_cpu = caps.host_uuid, caps.cpu_model
    side.migrates, side.live, side.transports = caps.migrates, caps.live, caps.transports
    for guest in caps.guests:
        for domain_type in guest.domain_types:
            side.guests.setdefault((guest.arch, domain_type), set()).update(guest.machines)
    try:
        side.free_memory = conn.getFreeMemory()
    except libvirt.libvirtError:
        side.free_memory = None
    side.pool_paths = pool_paths(conn)
    return side


def read_machine(conn: libvirt.virConnect, name_or_uuid: str) -> MachineFacts:
    dom = domain_by_name_or_uuid(conn, name_or_uuid)
    state = state_name(dom.state()[0])
    flags = libvirt.VIR_DOMAIN_XML_MIGRATABLE if state != "shutoff" else 0
    definition = read_domain(dom, flags)
    facts = MachineFacts(
        name=dom.name(), uuid=dom.UUIDString(), state=state, persistent=bool(dom.isPersistent()),
        domain_type=definition.domain_type, arch=definition.arch, machine_type=definition.machine_type,
        cpu_mode=definition.cpu_mode, cpu_xml=definition.cpu_xml,
        memory_kib=definition.current_memory_kib or definition.memory_kib)
    for disk in definition.disks:
        if disk.device in ("cdrom", "floppy") and not disk.has_source:
            continue
        if disk.path or disk.kind == "volume":
            locate(conn, disk)  # a path outside every pool stays local: nothing to pre-create
        facts.disks.append(disk)
    if state != "shutoff":
        try:
            job = dom.jobInfo()[0]
        except libvirt.libvirtError:
            job = libvirt.VIR_DOMAIN_JOB_NONE
        if job not in (libvirt.VIR_DOMAIN_JOB_NONE, libvirt.VIR_DOMAIN_JOB_COMPLETED):
            facts.job = {libvirt.VIR_DOMAIN_JOB_BOUNDED: "a bounded job (migration, save, dump)",
                         libvirt.VIR_DOMAIN_JOB_UNBOUNDED: "an unbounded job (block copy, backup)"}.get(
                             job, f"job type {job}")
    return facts



def read_destination(conn: libvirt.virConnect, uri: str, machine: MachineFacts) -> HostSide:
    side = read_host(conn, uri)
    try:
        dom = conn.lookupByUUIDString(machine.uuid)
        side.same_uuid = (dom.name(), state_name(dom.state()[0]))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise
    try:
        side.same_name_uuid = conn.lookupByName(machine.name).UUIDString()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise
    side.cpu_verdict = _compare_cpu(conn, uri, machine)
    for disk in machine.disks:
        if disk.needs_copy:
            try:
                conn.storageVolLookupByPath(disk.path)
                side.existing_volumes.append(disk.path)
            except libvirt.libvirtError:
                pass
    return side


def _compare_cpu(conn: libvirt.virConnect, uri: str, machine: MachineFacts) -> str:
    if machine.cpu_mode in ("host-passthrough", "maximum"):
        return "unknown: host-passthrough CPU, the hosts' models are compared instead"
    if not machine.cpu_xml:
        return "identical"  # no <cpu>: the hypervisor's default model, which every host of that type runs
    try:
        result = conn.compareHypervisorCPU(None, machine.arch or None, machine.machine_type or None,
                                           machine.domain_type or None, machine.cpu_xml, 0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
            return "unknown: the destination's driver cannot compare CPUs"
        error = HypervisorError.from_libvirt(exc, operation="compare the CPU", machine=machine.name, host_uri=uri)
        return f"unknown: {error.message}"  # (the error, with every field, is in the log)
    return {libvirt.VIR_CPU_COMPARE_IDENTICAL: "identical", libvirt.VIR_CPU_COMPARE_SUPERSET: "superset",
            libvirt.VIR_CPU_COMPARE_INCOMPATIBLE: "incompatible"}.get(result, f"unknown: result {result}")

