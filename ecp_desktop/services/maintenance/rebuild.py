"""A dead host's machine defined afresh on a destination, built from the stored definition's
parsed model, never replayed.

The stored definition is data anyone who can write the inventory wrote. So nothing of it is
passed through: a new definition is built, as New Machine builds one, from a few values each
checked on its own — name, UUID, title and description (plain text), memory, vCPUs, the
architecture and machine type (names), the CPU mode (one of three), firmware by kind (efi or
bios, never a file), the clock offset; each disk a volume of an active pool *on the
destination*, found through libvirt (its path and format are what libvirt says there), that
no other machine uses (on the destination, by libvirt; anywhere in the inventory, by its
rows) and that reads no other file (a backing chain); each network interface by network
name, with its MAC and a known model; VNC or SPICE on the loopback; a pty serial console.
Everything else the stored definition has is listed to the user as not carried over. A disk
that cannot be carried is a reason the machine is not recovered there (it would boot
without it). Blocking: the destination's worker.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import libvirt

from ..core.names import name_problem
from ..libvirt_xml.devices import DISK_BUSES, MAC, NIC_MODELS
from ..libvirt_xml.domain import Console, Disk, Domain, Graphics, Interface, Serial, Video
from ..libvirt_xml.storage import disk_users, read_volume
from ..libvirt_xml.xmlmodel import XmlError, indent
from ..images.image_file import HEAD_BYTES, parse_image
from ..images.streams import receive

DOMAIN_TYPES = ("kvm", "qemu", "test")
ARCHES = ("x86_64", "i686", "aarch64", "armv7l", "ppc64le", "ppc64", "s390x", "riscv64")
MACHINE_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CPU_MODES = ("host-model", "host-passthrough", "maximum")
CLOCK_OFFSETS = ("utc", "localtime")
TARGET = re.compile(r"^(vd|sd|hd)[a-z]{1,2}$")
VIDEO_MODELS = ("virtio", "qxl", "vga", "cirrus", "bochs")
MAX_TEXT = 4000
# Parts of a stored definition the rebuilt one covers in its own way (not "left out").
_COVERED = {"name", "uuid", "title", "description", "metadata", "memory", "currentMemory", "vcpu", "os", "cpu",
            "clock", "features", "on_poweroff", "on_reboot", "on_crash", "devices"}
_COVERED_DEVICES = {"disk", "interface", "graphics", "serial", "console", "video", "emulator", "controller",
                    "input", "memballoon"}
_OS_CARRIED = {"type", "boot", "loader", "nvram"}
_DISK_CARRIED = {"driver", "source", "target", "address", "alias", "readonly", "boot", "serial"}


@dataclass
class Rebuilt:
    """The definition for one destination, or why not there; and what it leaves out."""
    xml: str = ""
    problems: list[str] = field(default_factory=list)  # why it cannot be defined there
    networks: list[str] = field(default_factory=list)  # the virtual networks its interfaces use
    left_out: list[str] = field(default_factory=list)  # what of the stored definition is not carried over


def _plain(value: str) -> str:
    """Title or description as plain text (no control characters but line breaks), bounded."""
    return "".join(ch for ch in value if ch in "\n\t" or ch.isprintable())[:MAX_TEXT]


def rebuild(conn: libvirt.virConnect, stored: Domain, used_elsewhere: dict[str, list[str]]) -> Rebuilt:
    """The definition of ``stored`` for the host of ``conn``. ``used_elsewhere``: storage keys
    (a path, ``pool/volume``) -> names of the other machines in the inventory whose stored
    definitions name them."""
    out = Rebuilt()
    new = Domain(domain_type=stored.domain_type if stored.domain_type in DOMAIN_TYPES else "kvm",
                 name=stored.name, uuid=stored.uuid)
    problem = name_problem(stored.name)
    if problem:
        out.problems.append(f"its name cannot be used: {problem}")
    if stored.title:
        new.title = _plain(stored.title)
    if stored.description:
        new.description = _plain(stored.description)
    memory = stored.memory_kib
    if memory <= 0:
        out.problems.append("its stored definition gives no memory size")
    new.memory_kib = memory
    new.current_memory_kib = stored.current_memory_kib if 0 < stored.current_memory_kib <= memory else memory
    vcpus = stored.max_vcpus if stored.max_vcpus > 0 else 1
    new.set_vcpus(vcpus, stored.current_vcpus if 0 < stored.current_vcpus <= vcpus else None)
    new.os_type = "hvm"
    if stored.arch in ARCHES:
        new.arch = stored.arch
    elif stored.arch:
        out.left_out.append(f"architecture {stored.arch!r} (the host's default is used)")
    if MACHINE_TYPE.match(stored.machine_type or ""):
        new.machine_type = stored.machine_type
    elif stored.machine_type:
        out.left_out.append("its machine type (the host's default is used)")
    _firmware(stored, new, out)
    if stored.cpu_mode in CPU_MODES:
        new.cpu_mode = stored.cpu_mode
    elif stored.cpu_mode:
        out.left_out.append(f"its CPU definition ({stored.cpu_mode}; the hypervisor's default CPU is used)")
    arch = new.arch or "x86_64"
    if stored.domain_type != "test" and arch in ("x86_64", "i686", "aarch64"):
        new.acpi = True
        new.apic = arch != "aarch64"
    if stored.clock_offset in CLOCK_OFFSETS:
        new.clock_offset = stored.clock_offset
    new.on_poweroff, new.on_reboot, new.on_crash = "destroy", "restart", "destroy"
    _disks(conn, stored, new, used_elsewhere, out)
    _interfaces(stored, new, out)
    _consoles(stored, new, out)
    _left_out(stored, out)
    if not out.problems:
        indent(new.element)
        out.xml = new.to_xml()
    return out


def _tag(element) -> str:
    return element.tag.rpartition("}")[2] if isinstance(element.tag, str) else "?"


def _left_out(stored: Domain, out: Rebuilt) -> None:
    """Name what the stored definition has that the rebuilt one does not carry over."""
    for part in stored.element:
        if _tag(part) not in _COVERED or (isinstance(part.tag, str) and part.tag.startswith("{")):
            out.left_out.append(f"<{_tag(part)}>")
    os_part = stored.element.find("os")
    for part in os_part if os_part is not None else []:
        if _tag(part) not in _OS_CARRIED:
            out.left_out.append(f"<os><{_tag(part)}>")
    features = stored.element.find("features")
    for part in features if features is not None else []:
        if _tag(part) not in ("acpi", "apic", "pae"):
            out.left_out.append(f"<features><{_tag(part)}>")
    cpu = stored.element.find("cpu")
    if cpu is not None and len(cpu):
        out.left_out.append("the details of its <cpu> (model, topology, features)")
    devices = stored.element.find("devices")
    for device in devices if devices is not None else []:
        tag = _tag(device)
        if tag not in _COVERED_DEVICES:
            out.left_out.append(f"its <{tag}> device")
        elif tag == "input" and device.get("type") not in ("mouse", "keyboard", "tablet"):
            out.left_out.append(f"its input device of type {device.get('type') or '?'}")
        elif tag in ("serial", "console") and device.find("log") is not None:
            out.left_out.append(f"the log file of its {tag}")
        elif tag == "disk":
            for part in device:
                if _tag(part) not in _DISK_CARRIED:
                    out.left_out.append(f"disk {_target(device)}: its <{_tag(part)}>")
            source = device.find("source")
            if source is not None and len({"file", "dev", "dir"} & set(source.attrib)) > 1:
                out.left_out.append(f"disk {_target(device)}: the other names of its source")
    if any(isinstance(name, str) and name.startswith("{") for element in stored.element.iter()
           for name in element.attrib):
        out.left_out.append("attributes in other namespaces")


def _target(disk) -> str:
    target = disk.find("target")
    return (target.get("dev") if target is not None else "") or "?"


def _firmware(stored: Domain, new: Domain, out: Rebuilt) -> None:
    """UEFI or BIOS asked for by kind: libvirt picks the host's own firmware file and makes the
    machine's variables afresh (the stored loader and NVRAM paths are never used)."""
    loader = stored.firmware_loader
    loader_element = stored.element.find("os/loader")
    pflash = loader_element is not None and loader_element.get("type") == "pflash"
    efi = stored.firmware == "efi" or pflash or (
        bool(loader) and any(word in loader.lower() for word in ("ovmf", "aavmf", "edk2", "efi")))
    if efi:
        new.firmware = "efi"
    if loader:
        out.left_out.append("its firmware file (asked for by kind: " + ("UEFI" if efi else "BIOS") + ")")
    if stored.nvram:
        out.left_out.append("its UEFI variables file (made afresh from the firmware's template)")


def _disks(conn: libvirt.virConnect, stored: Domain, new: Domain, used_elsewhere: dict[str, list[str]],
           out: Rebuilt) -> None:
    here = None  # the destination's machines and their disks, read once
    bases = None  # the files the destination's pool volumes read as backing files, read once
    taken: dict[str, str] = {}  # volume path -> the target that has it
    for disk in stored.disks:
        what = f"disk {disk.target or '?'}"
        if disk.device in ("cdrom", "floppy"):
            if disk.has_source:
                out.left_out.append(f"the medium in {disk.device} {disk.target or '?'}")
            continue
        if disk.device != "disk":
            out.problems.append(f"{what} is a {disk.device or 'device'} (only disks are carried over)")
            continue
        if disk.protocol or disk.kind not in ("file", "volume", "block"):
            out.problems.append(f"{what} is {disk.protocol or disk.kind} storage, not a volume of a storage pool: "
                                "define it by hand on the new host")
            continue
        if not TARGET.match(disk.target or "") or disk.bus not in DISK_BUSES:
            out.problems.append(f"{what}: its target or bus ({disk.target!r}, {disk.bus!r}) cannot be used")
            continue
        volume = _volume(conn, disk)
        if volume is None:
            out.problems.append(f"{what} ({disk.source}): no active storage pool there has that volume (storage of "
                                "the dead host only?)")
            continue
        try:
            described = read_volume(volume)
            path, pool = volume.path(), volume.storagePoolLookupByVolume().name()
        except (libvirt.libvirtError, XmlError) as exc:
            out.problems.append(f"{what} ({disk.source}): its volume there cannot be read ({exc})")
            continue
        if path in taken:
            out.problems.append(f"{what} ({path}) is the same volume as disk {taken[path]}")
            continue
        taken[path] = disk.target
        # The format is the stored one (raw unless it says qcow2), never guessed from the file:
        # a guest can write a qcow2 header into its raw disk.
        fmt = "qcow2" if disk.format == "qcow2" else "raw"
        if fmt == "qcow2":
            problem = _qcow2_problem(conn, volume, described)
            if problem:
                out.problems.append(f"{what} ({path}): {problem}")
                continue
        keys = {path, f"{pool}/{volume.name()}", *disk.keys()}
        others = sorted({name for key in keys for name in used_elsewhere.get(key, [])})
        if here is None:
            here, bases = disk_users(conn, except_uuid=stored.uuid), _backing_files(conn)
        others += sorted({name for key in keys for name in here.get(key, [])} - set(others))
        if others:
            out.problems.append(f"{what} ({path}) is also a disk of {', '.join(others)}: not this machine's own")
            continue
        if path in bases:
            out.problems.append(f"{what} ({path}) is the backing file of other volumes there: not this machine's own")
            continue
        rebuilt = Disk(device="disk")
        rebuilt.set_source(path=path)
        rebuilt.driver_name, rebuilt.format = "qemu", fmt
        rebuilt.target, rebuilt.bus = disk.target, disk.bus
        new.disks.append(rebuilt)


MAX_CHAIN = 8


def _qcow2_problem(conn: libvirt.virConnect, volume: libvirt.virStorageVol, described) -> str:
    """Why a qcow2 volume cannot be the machine's disk ("" when it can): it must be qcow2 as
    libvirt reads it, keep its data in itself, and read only pool volumes of this host below
    it (an overlay on a base image), each checked the same way, its header read through libvirt."""
    for _depth in range(MAX_CHAIN):
        if described.format != "qcow2":
            return f"it is stored as qcow2 but is {described.format or 'not qcow2'} there"
        header = _header(conn, volume)
        if header is None:
            return "its header cannot be read through libvirt there"
        if header.external_data:
            return "it keeps its data in an external data file"
        if not described.backing_path:
            return ""
        try:
            volume = conn.storageVolLookupByPath(described.backing_path)
            described = read_volume(volume)
        except (libvirt.libvirtError, XmlError):
            return f"it reads {described.backing_path}, which is no storage pool's volume there"
        if described.format == "raw" and not described.backing_path:
            return ""
    return f"its chain of backing files is longer than {MAX_CHAIN}"


def _header(conn: libvirt.virConnect, volume: libvirt.virStorageVol):
    """The image's first bytes, read through libvirt (a stream), parsed; None when unreadable."""
    try:
        head = bytearray()
        receive(conn, volume, head.extend, HEAD_BYTES)
        return parse_image(bytes(head), volume.info()[1])
    except libvirt.libvirtError:
        return None


def _backing_files(conn: libvirt.virConnect) -> set[str]:
    """Every file a volume of the destination's active pools reads as its backing file."""
    found = set()
    for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
        try:
            volumes = pool.listAllVolumes(0)
        except libvirt.libvirtError:
            continue
        for volume in volumes:
            try:
                backing = read_volume(volume).backing_path
            except (libvirt.libvirtError, XmlError):
                continue
            if backing:
                found.add(backing)
    return found


def _volume(conn: libvirt.virConnect, disk: Disk) -> libvirt.virStorageVol | None:
    """The destination's volume for the stored disk: by pool and name, or by path (its pools
    refreshed once when libvirt does not list it: the dead host may have made it since)."""
    try:
        if disk.kind == "volume":
            pool = conn.storagePoolLookupByName(disk.pool)
            if not pool.isActive():
                return None
            pool.refresh(0)
            return pool.storageVolLookupByName(disk.volume)
        if not disk.path:
            return None
        try:
            return conn.storageVolLookupByPath(disk.path)
        except libvirt.libvirtError:
            for pool in conn.listAllStoragePools(libvirt.VIR_CONNECT_LIST_STORAGE_POOLS_ACTIVE):
                pool.refresh(0)
            return conn.storageVolLookupByPath(disk.path)
    except libvirt.libvirtError:
        return None


def _interfaces(stored: Domain, new: Domain, out: Rebuilt) -> None:
    for nic in stored.interfaces:
        if nic.kind != "network" or name_problem(nic.source_network or ""):
            out.left_out.append(f"network interface {nic.mac or '?'} ({nic.kind or '?'} {nic.source or ''})".strip()
                                + ": only virtual networks by name are carried over")
            continue
        rebuilt = Interface()
        rebuilt.connect("network", nic.source_network)
        out.networks.append(nic.source_network)
        if MAC.match(nic.mac or ""):
            rebuilt.mac = nic.mac.lower()
        rebuilt.model = nic.model if nic.model in NIC_MODELS else "virtio"
        new.interfaces.append(rebuilt)


def _consoles(stored: Domain, new: Domain, out: Rebuilt) -> None:
    """A pty serial console always; graphics of the stored kind on the loopback; its video model."""
    if any(serial.kind != "pty" for serial in [*stored.serials, *stored.consoles]):
        out.left_out.append("serial ports or consoles other than a pty (a pty serial console is used)")
    new.serials.append(Serial(kind="pty", port=0))
    new.consoles.append(Console(kind="pty", target_type="serial", port=0))
    for graphics in stored.graphics:
        if graphics.kind in ("vnc", "spice") and not any(g.kind == graphics.kind for g in new.graphics):
            new.graphics.append(Graphics(kind=graphics.kind, autoport=True, listen_type_text="address",
                                         listen_address="127.0.0.1"))
        elif graphics.kind not in ("vnc", "spice"):
            out.left_out.append(f"its {graphics.kind or '?'} graphics")
    model = next((v.model for v in stored.videos), "")
    if new.graphics and stored.domain_type != "test":
        new.videos.append(Video(model=model if model in VIDEO_MODELS else "virtio"))
