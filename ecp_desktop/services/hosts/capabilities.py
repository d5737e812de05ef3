"""The one reader of a host's capabilities XML (``getCapabilities``): host UUID and CPU,
migration features, and the guest types it offers. Host facts, setup and migration
negotiation all read capabilities through here; New Machine reads the firmware a host offers
(``getDomainCapabilities``) through :func:`read_firmware`. Both documents are only read, never
written, so they are read with a few element look-ups rather than declared in the
vocabulary's model."""
from __future__ import annotations

from dataclasses import dataclass, field

import libvirt

from ..libvirt_xml.xmlmodel import parse


@dataclass
class GuestType:
    os_type: str                 # hvm, xen, exe, ...
    arch: str
    domain_types: set[str] = field(default_factory=set)    # qemu, kvm, test, ...
    machines: set[str] = field(default_factory=set)        # machine types and their canonical names


@dataclass
class Capabilities:
    host_uuid: str = ""
    cpu_model: str = ""
    cpu_arch: str = ""
    migrates: bool = False      # <migration_features> is there
    live: bool = False          # ... with <live/>
    transports: list[str] = field(default_factory=list)
    guests: list[GuestType] = field(default_factory=list)

    def machines_for(self, arch: str, domain_type: str) -> set[str] | None:
        """Machine types offered for ``arch`` under ``domain_type`` (None: not offered at all)."""
        found = None
        for guest in self.guests:
            if guest.arch == arch and domain_type in guest.domain_types:
                found = (found or set()) | guest.machines
        return found


def read_capabilities(conn: libvirt.virConnect) -> Capabilities:
    """Blocking: run in the host's worker thread."""
    return parse_capabilities(conn.getCapabilities())


def parse_capabilities(xml: str) -> Capabilities:
    root = parse(xml)
    caps = Capabilities(host_uuid=root.findtext("host/uuid", ""), cpu_model=root.findtext("host/cpu/model", ""),
                        cpu_arch=root.findtext("host/cpu/arch", ""))
    features = root.find("host/migration_features")
    if features is not None:
        caps.migrates = True
        caps.live = features.find("live") is not None
        caps.transports = [t.text or "" for t in features.findall("uri_transports/uri_transport")]
    for guest in root.findall("guest"):
        for arch in guest.findall("arch"):
            machines = {m.text or "" for m in arch.findall("machine")}
            machines |= {m.get("canonical", "") for m in arch.findall("machine")} - {""}
            for domain in arch.findall("domain"):
                machines |= {m.text or "" for m in domain.findall("machine")}
            caps.guests.append(GuestType(os_type=guest.findtext("os_type", ""), arch=arch.get("name", ""),
                                         domain_types={d.get("type", "") for d in arch.findall("domain")},
                                         machines=machines))
    return caps


@dataclass
class Firmware:
    """The firmware a host's hypervisor offers one kind of guest (its domain capabilities)."""
    efi: bool = False
    secure_boot: bool = False


def read_firmware(conn: libvirt.virConnect, arch: str, machine: str, domain_type: str) -> Firmware:
    """Blocking; raises libvirtError when the host does not say."""
    root = parse(conn.getDomainCapabilities(None, arch, machine or None, domain_type, 0))
    firmware = {v.text for v in root.findall("os/enum[@name='firmware']/value")}
    loaders = root.find("os/loader")
    efi = "efi" in firmware or (loaders is not None and loaders.get("supported") == "yes"
                                and bool(loaders.findall("value")))
    secure = efi and "yes" in {v.text for v in root.findall("os/loader/enum[@name='secure']/value")}
    return Firmware(efi, secure)
