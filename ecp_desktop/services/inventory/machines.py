"""Facts about libvirt domains, read in worker threads (never on the GUI thread)."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import libvirt

from ..hosts.states import state_name

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
