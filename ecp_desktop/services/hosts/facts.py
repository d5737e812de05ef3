"""What a host is: its name, versions, CPU and memory, read once per connection."""
from __future__ import annotations

from dataclasses import dataclass

import libvirt

from .capabilities import read_capabilities


@dataclass
class HostFacts:
    hostname: str = ""
    driver_type: str = ""
    libvirt_version: int = 0
    hypervisor_version: int = 0
    cpu_model: str = ""
    cpus: int = 0
    memory_mib: int = 0
    host_uuid: str = ""


def version_text(number: int) -> str:
    """libvirt's encoded version (major*1e6 + minor*1e3 + micro) as text."""
    if not number:
        return ""
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


def read_facts(conn: libvirt.virConnect) -> HostFacts:
    info = conn.getInfo()  # [model, memory MiB, cpus, mhz, nodes, sockets, cores, threads]
    facts = HostFacts(
        hostname=conn.getHostname(), driver_type=conn.getType(),
        libvirt_version=conn.getLibVersion(), cpu_model=info[0], cpus=info[2], memory_mib=info[1],
    )
    try:
        facts.hypervisor_version = conn.getVersion()
    except libvirt.libvirtError:
        pass  # some drivers do not report a hypervisor version
    try:
        caps = read_capabilities(conn)
        facts.host_uuid = caps.host_uuid
        facts.cpu_model = caps.cpu_model or facts.cpu_model
    except (libvirt.libvirtError, ValueError):  # XmlError: capabilities not readable
        pass
    return facts
