"""Facts about libvirt domains, read in worker threads (never on the GUI thread)."""
from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field

import libvirt

STATE_NAMES = {
    libvirt.VIR_DOMAIN_NOSTATE: "nostate",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "blocked",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutdown",
    libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "pmsuspended",
}
STATE_LABELS = {
    "nostate": "no state", "running": "running", "blocked": "blocked", "paused": "paused",
    "shutdown": "shutting down", "shutoff": "shut off", "crashed": "crashed",
    "pmsuspended": "suspended (PM)",
}
ACTIVE_STATES = {"running", "blocked", "paused", "shutdown", "pmsuspended"}

# A lifecycle event tells the new state at once; the row changes before the refresh returns.
EVENT_STATES = {
    libvirt.VIR_DOMAIN_EVENT_STARTED: "running",
    libvirt.VIR_DOMAIN_EVENT_SUSPENDED: "paused",
    libvirt.VIR_DOMAIN_EVENT_RESUMED: "running",
    libvirt.VIR_DOMAIN_EVENT_STOPPED: "shutoff",
    libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED: "pmsuspended",
    libvirt.VIR_DOMAIN_EVENT_CRASHED: "crashed",
}


def state_name(code: int) -> str:
    return STATE_NAMES.get(code, "nostate")


@dataclass
class MachineInfo:
    """What a row shows about one domain on one host."""

    host_uri: str
    uuid: str
    name: str
    state: str
    vcpus: int = 0
    memory_kib: int = 0
    autostart: bool = False
    persistent: bool = True

    @property
    def key(self) -> tuple[str, str]:
        return (self.host_uri, self.uuid)

    def as_json(self) -> dict:
        data = asdict(self)
        data["host"] = data.pop("host_uri")
        return data


_STATS = libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_BALLOON


def list_machines(conn: libvirt.virConnect, host_uri: str) -> list[MachineInfo]:
    """Every domain of ``conn`` in a handful of calls, not a few per domain.

    One bulk stats call gives state (and vCPUs/memory where the driver reports them);
    persistence and autostart come from two filtered listings.
    """
    persistent = {d.UUIDString() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_PERSISTENT)}
    autostart = {d.UUIDString() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART)}
    machines = []
    for count, (dom, stats) in enumerate(conn.getAllDomainStats(_STATS), 1):
        if count % 500 == 0:
            time.sleep(0.001)  # a worker thread: let the GUI thread have the interpreter lock
        uuid = dom.UUIDString()
        vcpus = stats.get("vcpu.current") or stats.get("vcpu.maximum")
        memory = stats.get("balloon.maximum")
        if not vcpus or not memory:
            # Drivers without bulk vCPU/balloon stats (e.g. the test driver): one info() call.
            _state, max_mem, _mem, nr_cpu, _cpu_time = dom.info()
            vcpus, memory = vcpus or nr_cpu, memory or max_mem
        machines.append(MachineInfo(
            host_uri=host_uri, uuid=uuid, name=dom.name(), state=state_name(stats.get("state.state", 0)),
            vcpus=int(vcpus), memory_kib=int(memory),
            autostart=uuid in autostart, persistent=uuid in persistent,
        ))
    return machines


def read_machine(dom: libvirt.virDomain, host_uri: str) -> MachineInfo:
    """Fresh facts for one domain (after an event)."""
    state, max_mem, _mem, nr_cpu, _cpu_time = dom.info()
    persistent = bool(dom.isPersistent())
    return MachineInfo(
        host_uri=host_uri, uuid=dom.UUIDString(), name=dom.name(), state=state_name(state),
        vcpus=nr_cpu, memory_kib=max_mem,
        autostart=bool(dom.autostart()) if persistent else False, persistent=persistent,
    )


@dataclass
class DiskInfo:
    target: str
    device: str
    bus: str
    source: str
    driver_type: str


@dataclass
class InterfaceInfo:
    kind: str
    source: str
    mac: str
    model: str


@dataclass
class MachineDetails:
    """What the details panel shows; parsed from the domain XML."""

    xml: str
    os_type: str = ""
    arch: str = ""
    machine_type: str = ""
    domain_type: str = ""
    title: str = ""
    description: str = ""
    disks: list[DiskInfo] = field(default_factory=list)
    interfaces: list[InterfaceInfo] = field(default_factory=list)


def parse_details(xml: str, root: ET.Element | None = None) -> MachineDetails:
    """``root``: the parsed ``xml`` when the caller has it already (import parses once)."""
    root = ET.fromstring(xml) if root is None else root
    os_type = root.find("os/type")
    details = MachineDetails(
        xml=xml,
        domain_type=root.get("type", ""),
        os_type=os_type.text or "" if os_type is not None else "",
        arch=os_type.get("arch", "") if os_type is not None else "",
        machine_type=os_type.get("machine", "") if os_type is not None else "",
        title=root.findtext("title", ""),
        description=root.findtext("description", ""),
    )
    for disk in root.findall("devices/disk"):
        source = disk.find("source")
        src = ""
        if source is not None:
            src = source.get("file") or source.get("dev") or source.get("name") or ""
            if source.get("pool"):
                src = f"{source.get('pool')}/{source.get('volume', '')}"
        target, driver = disk.find("target"), disk.find("driver")
        details.disks.append(DiskInfo(
            target=target.get("dev", "") if target is not None else "",
            device=disk.get("device", "disk"),
            bus=target.get("bus", "") if target is not None else "",
            source=src,
            driver_type=driver.get("type", "") if driver is not None else "",
        ))
    for nic in root.findall("devices/interface"):
        source, mac, model = nic.find("source"), nic.find("mac"), nic.find("model")
        src = ""
        if source is not None:
            src = source.get("network") or source.get("bridge") or source.get("dev") or ""
        details.interfaces.append(InterfaceInfo(
            kind=nic.get("type", ""), source=src,
            mac=mac.get("address", "") if mac is not None else "",
            model=model.get("type", "") if model is not None else "",
        ))
    return details
