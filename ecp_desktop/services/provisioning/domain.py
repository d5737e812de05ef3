"""The definition of a new machine, built through the vocabulary's ``Domain`` (every name and
path the user or the host gave is a field the serializer escapes, never pasted text).

Firmware is asked for by kind (``<os firmware='efi'>``: libvirt picks the host's UEFI build
and makes the machine's variables), only where the host's domain capabilities offer it.
Every machine gets a serial console (``<serial type='pty'>`` and its ``<console>``), which
the Console tab and a lab test read, and graphics that listen on the host's loopback only.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..libvirt_xml.devices import targets
from ..libvirt_xml.domain import BootDevice, Channel, Console, Disk, Domain, FirmwareFeature, Graphics, Interface, \
    RandomSource, Serial, Timer, Video
from ..libvirt_xml.xmlmodel import indent
from .host_offer import HostOffer
from .osinfo import OsEntry
from .spec import MachineSpec


@dataclass(frozen=True)
class DiskPlan:
    """A disk or CD-ROM of the new machine: a file (``path``) or a pool's volume."""
    device: str               # disk or cdrom
    path: str = ""
    pool: str = ""
    volume: str = ""
    format: str = "raw"
    bus: str = "virtio"

    @property
    def source(self) -> str:
        return self.path or f"{self.pool}/{self.volume}"


def boot_order(spec: MachineSpec) -> list[str]:
    first = {"iso": ["cdrom"], "pxe": ["network"]}.get(spec.source, [])
    return first if spec.no_disk else [*first, "hd"]


def domain_xml(spec: MachineSpec, entry: OsEntry, offer: HostOffer, uuid: str, disks: list[DiskPlan]) -> str:
    """The ``<domain>`` to define. ``entry`` carries the spec's choices already (memory, vCPUs,
    firmware, disk bus, network model)."""
    domain = Domain(domain_type=spec.virt_type or offer.domain_type, name=spec.name, uuid=uuid)
    if entry.id != "generic":
        domain.os_id = entry.id  # what virt-manager records too
    domain.memory_kib = domain.current_memory_kib = entry.memory_mib * 1024
    domain.set_vcpus(entry.vcpus)
    domain.vcpu_placement = "static"
    efi = entry.firmware == "efi" and offer.efi
    if efi:
        domain.firmware = "efi"
    domain.os_type, domain.arch, domain.machine_type = "hvm", offer.arch, offer.machine
    if efi and offer.secure_boot:
        for feature in ("secure-boot", "enrolled-keys"):
            domain.firmware_features.append(FirmwareFeature(enabled=spec.secure_boot, name=feature))
    for device in boot_order(spec):
        domain.boot_devices.append(BootDevice(dev=device))
    if not offer.is_test:
        domain.acpi = domain.apic = True
        if efi and spec.secure_boot:
            domain.smm = "on"  # secure boot's variables are guarded by SMM
        domain.cpu_mode = "host-model"  # migratable between like hosts, unlike passthrough
        domain.clock_offset = "localtime" if entry.family == "winnt" else "utc"
        domain.timers.append(Timer(name="rtc", tickpolicy="catchup"))
    domain.on_poweroff, domain.on_reboot, domain.on_crash = "destroy", "restart", "destroy"
    for plan, target in zip(disks, targets([d.bus for d in disks]), strict=True):
        disk = Disk(device=plan.device)
        disk.set_source(path=plan.path, pool=plan.pool, volume=plan.volume)
        disk.driver_name, disk.format, disk.target, disk.bus = "qemu", plan.format, target, plan.bus
        disk.readonly = plan.device == "cdrom"
        domain.disks.append(disk)
    if spec.bridge or spec.network:
        nic = Interface()
        nic.connect("bridge" if spec.bridge else "network", spec.bridge or spec.network)
        nic.model = entry.nic_model
        domain.interfaces.append(nic)
    domain.serials.append(Serial(kind="pty", port=0))
    domain.consoles.append(Console(kind="pty", target_type="serial", port=0))
    if spec.graphics != "none":
        domain.graphics.append(Graphics(kind=spec.graphics, autoport=True, listen_type_text="address",
                                        listen_address="127.0.0.1"))
        if not offer.is_test:
            domain.videos.append(Video(model="virtio" if entry.family == "linux" else "vga"))
    if not offer.is_test:
        domain.random_sources.append(RandomSource(model="virtio", backend_model="random", backend="/dev/urandom"))
        # Where a guest's qemu-guest-agent answers: its addresses, OS name, quiesced snapshots.
        domain.channels.append(Channel(kind="unix", target_type="virtio", target_name=Channel.GUEST_AGENT))
    indent(domain.element)
    return domain.to_xml()
