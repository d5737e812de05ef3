"""What a migration negotiation needs to know about the machine and both hosts.

Each reader is blocking and runs in its host's worker thread. libvirt's own feature
probe (virConnectSupportsFeature) is private, so everything here rests on public calls:
capabilities, versions, CPU comparison, lookups, free memory, pools, the job state.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import libvirt

# Pool types whose volumes every host of a cluster sees (libvirt skips them in its
# "unsafe migration" check too).
SHARED_POOL_TYPES = {"netfs", "rbd", "gluster", "iscsi", "iscsi-direct", "sheepdog", "vstorage", "mpath"}
STATES = {libvirt.VIR_DOMAIN_RUNNING: "running", libvirt.VIR_DOMAIN_PAUSED: "paused",
          libvirt.VIR_DOMAIN_SHUTOFF: "shutoff", libvirt.VIR_DOMAIN_CRASHED: "crashed",
          libvirt.VIR_DOMAIN_PMSUSPENDED: "suspended", libvirt.VIR_DOMAIN_BLOCKED: "running",
          libvirt.VIR_DOMAIN_SHUTDOWN: "shutting down"}


@dataclass
class Disk:
    target: str
    path: str = ""          # file or block device; "" for network disks
    network: str = ""       # protocol of a network disk (rbd, nbd, ...)
    readonly: bool = False
    pool: str = ""          # the source host's pool holding ``path``
    pool_type: str = ""
    volume: str = ""
    format: str = ""
    capacity: int = 0

    @property
    def shared(self) -> bool:
        return bool(self.network) or self.pool_type in SHARED_POOL_TYPES

    @property
    def needs_copy(self) -> bool:
        """A writable local disk: a live migration must copy it (or the storage must be shared)."""
        return not self.readonly and not self.shared and bool(self.path)


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
    caps = ET.fromstring(conn.getCapabilities())
    side.host_uuid = caps.findtext("host/uuid", "")
    side.host_cpu = caps.findtext("host/cpu/model", "")
    features = caps.find("host/migration_features")
    if features is not None:
        side.migrates = True
        side.live = features.find("live") is not None
        side.transports = [t.text or "" for t in features.findall("uri_transports/uri_transport")]
    for guest in caps.findall("guest"):
        arch = guest.find("arch")
        if arch is None:
            continue
        machines = {m.text or "" for m in arch.findall("machine")}
        machines |= {m.get("canonical", "") for m in arch.findall("machine")} - {""}
        for domain in arch.findall("domain"):
            found = side.guests.setdefault((arch.get("name", ""), domain.get("type", "")), set())
            found |= machines | {m.text or "" for m in domain.findall("machine")}
    try:
        side.free_memory = conn.getFreeMemory()
    except libvirt.libvirtError:
        side.free_memory = None
    for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        path = ET.fromstring(pool.XMLDesc(0)).findtext("target/path", "")
        if path:
            side.pool_paths[os.path.normpath(path)] = pool.name()
    return side


def read_machine(conn: libvirt.virConnect, name_or_uuid: str) -> MachineFacts:
    dom = _lookup(conn, name_or_uuid)
    state = STATES.get(dom.state()[0], "unknown")
    flags = libvirt.VIR_DOMAIN_XML_MIGRATABLE if state != "shutoff" else 0
    root = ET.fromstring(dom.XMLDesc(flags))
    os_type = root.find("os/type")
    cpu = root.find("cpu")
    facts = MachineFacts(
        name=dom.name(), uuid=dom.UUIDString(), state=state, persistent=bool(dom.isPersistent()),
        domain_type=root.get("type", ""), arch=os_type.get("arch", "") if os_type is not None else "",
        machine_type=os_type.get("machine", "") if os_type is not None else "",
        cpu_mode=(cpu.get("mode", "custom") if cpu is not None else ""),
        cpu_xml=ET.tostring(cpu, encoding="unicode") if cpu is not None else "",
        memory_kib=int(root.findtext("currentMemory") or root.findtext("memory") or 0))
    for disk in root.findall("devices/disk"):
        if disk.get("device") in ("cdrom", "floppy") and disk.find("source") is None:
            continue
        facts.disks.append(_disk(conn, disk))
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


def _disk(conn: libvirt.virConnect, element: ET.Element) -> Disk:
    source = element.find("source")
    target = element.find("target")
    disk = Disk(target=target.get("dev", "") if target is not None else "",
                readonly=element.find("readonly") is not None or element.get("device") == "cdrom")
    driver = element.find("driver")
    disk.format = driver.get("type", "") if driver is not None else ""
    if source is None:
        return disk
    if element.get("type") == "network":
        disk.network = source.get("protocol", "network")
        return disk
    if element.get("type") == "volume":
        pool = conn.storagePoolLookupByName(source.get("pool", ""))
        volume = pool.storageVolLookupByName(source.get("volume", ""))
        disk.path = volume.path()
    else:
        disk.path = source.get("file") or source.get("dev") or ""
    if disk.path:
        try:
            volume = conn.storageVolLookupByPath(disk.path)
            pool = volume.storagePoolLookupByVolume()
            disk.pool, disk.volume = pool.name(), volume.name()
            disk.pool_type = ET.fromstring(pool.XMLDesc(0)).get("type", "")
            disk.capacity = volume.info()[1]
        except libvirt.libvirtError:
            pass  # a path outside every pool: local, and we cannot pre-create it
    return disk


def read_destination(conn: libvirt.virConnect, uri: str, machine: MachineFacts) -> HostSide:
    side = read_host(conn, uri)
    try:
        dom = conn.lookupByUUIDString(machine.uuid)
        side.same_uuid = (dom.name(), STATES.get(dom.state()[0], "unknown"))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise
    try:
        side.same_name_uuid = conn.lookupByName(machine.name).UUIDString()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
            raise
    side.cpu_verdict = _compare_cpu(conn, machine)
    for disk in machine.disks:
        if disk.needs_copy:
            try:
                conn.storageVolLookupByPath(disk.path)
                side.existing_volumes.append(disk.path)
            except libvirt.libvirtError:
                pass
    return side


def _compare_cpu(conn: libvirt.virConnect, machine: MachineFacts) -> str:
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
        return f"unknown: {exc.get_error_message()}"
    return {libvirt.VIR_CPU_COMPARE_IDENTICAL: "identical", libvirt.VIR_CPU_COMPARE_SUPERSET: "superset",
            libvirt.VIR_CPU_COMPARE_INCOMPATIBLE: "incompatible"}.get(result, f"unknown: result {result}")


def _lookup(conn: libvirt.virConnect, name_or_uuid: str) -> libvirt.virDomain:
    try:
        return conn.lookupByUUIDString(name_or_uuid)
    except libvirt.libvirtError:
        return conn.lookupByName(name_or_uuid)
