"""A machine's definition (``<domain>``) and its devices, read and written through one model.

Details, import, migration checks, templates, Edit Hardware and New Machine all read and
write a definition through :class:`Domain`, so a disk means the same thing everywhere. The
model is pure (no libvirt call); ``storage.locate`` adds what the host's pools know about a
disk. Values are plain strings and numbers (the text is another client's).
"""
from __future__ import annotations

import libvirt

from .xmlmodel import (SizeProperty, XmlChildren, XmlError, XmlNode, flag, integer, register_prefix, serialize, text,
                       yes_no)

# A machine a flow of ours defines or changes carries the flow's mark (a random token kept
# with the step) in its <metadata> under this namespace until the flow has ended.
FLOW_NS = "urn:io.github.ecp-desktop:flow"
# A machine an evacuation moved away carries the host it came from under this namespace (set
# before it leaves, travelling with its definition), so that Exit Maintenance brings back only
# machines libvirt says came from that host, whatever the task history says.
HOME_NS = "urn:io.github.ecp-desktop:home"
LIBOSINFO_NS = "http://libosinfo.org/xmlns/libvirt/domain/1.0"
register_prefix("ecp", FLOW_NS)
register_prefix("ecphome", HOME_NS)
register_prefix("libosinfo", LIBOSINFO_NS)

# Pool types whose volumes every host of a cluster sees (libvirt skips them in its
# "unsafe migration" check too).
SHARED_POOL_TYPES = {"netfs", "rbd", "gluster", "iscsi", "iscsi-direct", "sheepdog", "vstorage", "mpath"}

# The order libvirt writes a domain's children and devices in: a new element goes there.
DOMAIN_ORDER = ("name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
                "currentMemory", "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads",
                "cputune", "numatune", "resource", "sysinfo", "bootloader", "bootloader_args", "os", "idmap",
                "features", "cpu", "clock", "on_poweroff", "on_reboot", "on_crash", "on_lockfailure", "pm",
                "perf", "devices", "seclabel")
DEVICE_ORDER = ("emulator", "disk", "controller", "lease", "filesystem", "interface", "smartcard", "serial",
                "parallel", "console", "channel", "input", "tpm", "graphics", "sound", "audio", "video", "hostdev",
                "redirdev", "redirfilter", "hub", "watchdog", "memballoon", "rng", "panic", "shmem", "memory",
                "iommu", "vsock", "crypto")


class Disk(XmlNode):
    """A ``<disk>``: as written, plus (after ``storage.locate``) what its pool says."""

    TAG = "disk"
    ORDER = ("driver", "auth", "source", "backingStore", "mirror", "target", "iotune", "boot", "readonly",
             "shareable", "transient", "serial", "wwn", "vendor", "product", "encryption", "alias", "address")
    SIBLING_ORDER = DEVICE_ORDER

    kind = text("./@type", "file", "file, block, volume, network, dir")
    device = text("./@device", "disk", "disk, cdrom, floppy, lun")
    driver_name = text("./driver/@name")
    format = text("./driver/@type", doc="the driver type: qcow2, raw, ...")
    cache = text("./driver/@cache", doc="'' for the hypervisor's default")
    source_file = text("./source/@file")
    source_dev = text("./source/@dev")
    source_dir = text("./source/@dir")
    source_pool = text("./source/@pool")
    source_volume = text("./source/@volume")
    source_protocol = text("./source/@protocol", doc="network disks: rbd, nbd, iscsi, ...")
    source_name = text("./source/@name", doc="network disks: the image or export")
    target = text("./target/@dev")
    bus = text("./target/@bus")
    boot_order = integer("./boot/@order")
    readonly = flag("./readonly")
    serial = text("./serial")

    # What the host's storage says (``storage.locate``); not part of the definition.
    located_path: str = ""
    located_pool: str = ""
    located_volume: str = ""
    pool_type: str = ""
    pool_path: str = ""
    capacity: int = 0
    allocation: int = 0
    volume_format: str = ""  # the volume's own format (what a clone of it is made as)
    backing_path: str = ""   # a file the volume reads below its own data (a qcow2 backing file)

    @property
    def has_source(self) -> bool:
        return self.element.find("source") is not None

    @property
    def path(self) -> str:
        """The file or block device ("" for network disks and volumes not located)."""
        return self.located_path or self.source_file or self.source_dev or self.source_dir

    @path.setter
    def path(self, value: str) -> None:
        if self.kind == "volume":
            self.located_path = value
        elif self.kind == "block":
            self.source_dev = value
        elif self.kind == "dir":
            self.source_dir = value
        else:
            self.source_file = value

    @property
    def pool(self) -> str:
        """Volume disks: as written; others: the pool found holding ``path``."""
        return self.source_pool if self.kind == "volume" else self.located_pool

    @pool.setter
    def pool(self, value: str) -> None:
        if self.kind == "volume":
            self.source_pool = value
        else:
            self.located_pool = value

    @property
    def volume(self) -> str:
        return self.source_volume if self.kind == "volume" else self.located_volume

    @volume.setter
    def volume(self, value: str) -> None:
        if self.kind == "volume":
            self.source_volume = value
        else:
            self.located_volume = value

    @property
    def protocol(self) -> str:
        if self.kind != "network" or not self.has_source:
            return ""
        return self.source_protocol or "network"

    @protocol.setter
    def protocol(self, value: str) -> None:
        self.source_protocol = value

    @property
    def read_only(self) -> bool:
        """Never written by the guest: marked read-only, or a CD-ROM."""
        return self.readonly or self.device == "cdrom"

    @property
    def source(self) -> str:
        """The source in words, as a user would name it."""
        if self.kind == "volume" or (self.pool and not self.path):
            return f"{self.pool}/{self.volume}"
        return self.path or self.protocol

    @property
    def shared(self) -> bool:
        """Every host of a cluster sees it (network storage or a shared pool)."""
        return bool(self.protocol) or self.pool_type in SHARED_POOL_TYPES

    @property
    def needs_copy(self) -> bool:
        """A writable local disk: a live migration must copy it (or the storage must be shared)."""
        return not self.read_only and not self.shared and bool(self.path)

    def keys(self) -> list[str]:
        """The names another machine's disk may use for the same storage: its path, its pool/volume."""
        keys = [self.path] if self.path else []
        if self.pool and self.volume:
            keys.append(f"{self.pool}/{self.volume}")
        return keys

    def set_source(self, *, path: str = "", pool: str = "", volume: str = "") -> None:
        """Point the disk at a file, a block device (``/dev/...``) or a pool's volume."""
        source = self.element.find("source")
        if source is not None:
            source.attrib.clear()
        if pool:
            self.kind, self.source_pool, self.source_volume = "volume", pool, volume
        else:
            self.kind = "block" if path.startswith("/dev/") else "file"
            self.path = path


class Interface(XmlNode):
    TAG = "interface"
    ORDER = ("start", "mac", "source", "virtualport", "ip", "route", "script", "backenddomain", "target",
             "guest", "model", "driver", "backend", "filterref", "tune", "teaming", "link", "mtu", "bandwidth",
             "vlan", "port", "coalesce", "rom", "boot", "alias", "address")
    SIBLING_ORDER = DEVICE_ORDER

    kind = text("./@type", doc="network, bridge, direct, user, ...")
    mac = text("./mac/@address")
    source_network = text("./source/@network")
    source_bridge = text("./source/@bridge")
    source_dev = text("./source/@dev")
    model = text("./model/@type")
    link_state = text("./link/@state", doc="'' (up) or down")
    boot_order = integer("./boot/@order")
    target_dev = text("./target/@dev")

    @property
    def source(self) -> str:
        return self.source_network or self.source_bridge or self.source_dev

    def connect(self, kind: str, source: str) -> None:
        """Attach to a network by name, a host bridge, or a host device (``direct``)."""
        element = self.element.find("source")
        if element is not None:
            element.attrib.clear()
        self.kind = kind
        attribute = {"network": "source_network", "bridge": "source_bridge"}.get(kind, "source_dev")
        setattr(self, attribute, source)


class Graphics(XmlNode):
    TAG = "graphics"
    ORDER = ("listen", "channel", "image", "streaming", "clipboard", "mouse", "filetransfer", "gl", "audio")
    SIBLING_ORDER = DEVICE_ORDER

    kind = text("./@type", doc="vnc, spice, ...")
    port_text = text("./@port")
    autoport = yes_no("./@autoport")
    listen_attribute = text("./@listen")
    listen_type_text = text("./listen/@type")
    listen_address = text("./listen/@address")
    socket_attribute = text("./@socket")
    listen_socket = text("./listen/@socket")
    passwd = text("./@passwd", doc="only in a definition read with VIR_DOMAIN_XML_SECURE")
    passwd_valid_to = text("./@passwdValidTo")

    @property
    def port(self) -> int:
        """-1 when libvirt picks one at start."""
        raw = self.port_text.strip()
        return -1 if raw in ("", "-1") or not (raw.isascii() and raw.isdigit()) else int(raw) or -1

    @property
    def listen(self) -> str:
        return self.listen_attribute or self.listen_address

    @property
    def listen_type(self) -> str:
        """address, network, socket, none (<listen type=...>)."""
        return self.listen_type_text or "address"

    @property
    def socket(self) -> str:
        """listen_type "socket": the Unix socket's path on the host."""
        return self.socket_attribute or self.listen_socket

    @property
    def loopback_only(self) -> bool:
        """Reachable only from the host itself: a loopback address, a Unix socket, or no
        listener at all (a viewer on another machine needs an SSH tunnel to reach it)."""
        if self.listen_type in ("socket", "none"):
            return True
        address = self.listen.strip("[]").lower()
        return address == "localhost" or address.startswith("127.") or address == "::1"


class CharDevice(XmlNode):
    """A ``<serial>`` or ``<console>``: what libvirt's console stream can attach to."""

    ORDER = ("source", "protocol", "log", "target", "alias", "address")
    SIBLING_ORDER = DEVICE_ORDER

    kind = text("./@type", "pty", "pty, file, unix, tcp, null, ...")
    target_type = text("./target/@type", doc="isa-serial, serial, virtio, ...")
    port = integer("./target/@port")
    alias = text("./alias/@name", doc="the live XML's alias (serial0, console0): openConsole's dev_name")

    @property
    def device(self) -> str:
        return self.element.tag


class Serial(CharDevice):
    TAG = "serial"


class Console(CharDevice):
    TAG = "console"


class Channel(XmlNode):
    """``<channel>``: a named host-guest pipe, e.g. the QEMU guest agent's
    (``org.qemu.guest_agent.0``; libvirt makes its socket when ``kind`` is unix)."""
    TAG = "channel"
    ORDER = ("source", "target", "alias", "address")
    SIBLING_ORDER = DEVICE_ORDER
    GUEST_AGENT = "org.qemu.guest_agent.0"

    kind = text("./@type", "unix", "unix, pty, spicevmc, ...")
    target_type = text("./target/@type", doc="virtio for the guest agent")
    target_name = text("./target/@name")
    target_state = text("./target/@state", doc="the live XML's: connected while the guest's end is open")


class Video(XmlNode):
    TAG = "video"
    SIBLING_ORDER = DEVICE_ORDER
    model = text("./model/@type")


class RandomSource(XmlNode):
    """``<rng>``: the guest's entropy device, fed from the host's ``/dev/urandom``."""
    TAG = "rng"
    SIBLING_ORDER = DEVICE_ORDER
    model = text("./@model")
    backend_model = text("./backend/@model")
    backend = text("./backend")


class BootDevice(XmlNode):
    """``<os><boot dev=...>``: a device type to boot from, in order (hd, cdrom, network)."""
    TAG = "boot"
    SIBLING_ORDER = ("type", "firmware", "loader", "nvram", "boot")
    dev = text("./@dev")


class FirmwareFeature(XmlNode):
    TAG = "feature"
    name = text("./@name")
    enabled = yes_no("./@enabled")


class Timer(XmlNode):
    TAG = "timer"
    name = text("./@name")
    tickpolicy = text("./@tickpolicy")


class OsInfo(XmlNode):
    """libosinfo's record of the operating system (what virt-manager writes too)."""
    TAG = f"{{{LIBOSINFO_NS}}}os"
    id = text("./@id")


class HomeMark(XmlNode):
    TAG = f"{{{HOME_NS}}}home"
    host = text("./@host")


class UndoSeal(XmlNode):
    """One step's undo sealed on the machine: the step's flow mark, its operation and a digest
    of the data its undo acts with. A task row's undo runs only when it matches one."""
    TAG = "undo"  # unqualified: libvirt puts only the metadata element itself in the namespace
    mark = text("./@mark")
    op = text("./@op")
    digest = text("./@digest")


class FlowMark(XmlNode):
    TAG = f"{{{FLOW_NS}}}flow"
    mark = text("./@mark")
    seals = XmlChildren(UndoSeal, "./undo")


class Domain(XmlNode):
    """A ``<domain>``. ``xml`` is the text it was read from (what libvirt gave); ``to_xml()``
    the definition as it is now."""

    TAG = "domain"
    ORDER = DOMAIN_ORDER
    xml: str = ""

    domain_type = text("./@type", doc="kvm, qemu, test, ...")
    id = integer("./@id", -1, "a running machine's number (live XML)")
    name = text("./name")
    uuid = text("./uuid")
    title = text("./title")
    description = text("./description")
    memory_kib = SizeProperty("./memory", doc="the most it may have")
    current_memory_kib = SizeProperty("./currentMemory", doc="what it has now (0 when not given)")
    max_vcpus = integer("./vcpu", doc="the most it may have")
    current_vcpus = integer("./vcpu/@current", doc="0 when it has them all")
    vcpu_placement = text("./vcpu/@placement")
    firmware = text("./os/@firmware", doc="efi or bios: asked for by kind, libvirt picks the file")
    os_type = text("./os/type")
    arch = text("./os/type/@arch")
    machine_type = text("./os/type/@machine")
    firmware_loader = text("./os/loader")
    nvram = text("./os/nvram")
    cpu_mode_attribute = text("./cpu/@mode")
    acpi = flag("./features/acpi")
    apic = flag("./features/apic")
    smm = text("./features/smm/@state")
    clock_offset = text("./clock/@offset")
    on_poweroff = text("./on_poweroff")
    on_reboot = text("./on_reboot")
    on_crash = text("./on_crash")

    boot_devices = XmlChildren(BootDevice, "./os/boot")
    firmware_features = XmlChildren(FirmwareFeature, "./os/firmware/feature")
    timers = XmlChildren(Timer, "./clock/timer")
    disks = XmlChildren(Disk, "./devices/disk")
    interfaces = XmlChildren(Interface, "./devices/interface")
    graphics = XmlChildren(Graphics, "./devices/graphics")
    serials = XmlChildren(Serial, "./devices/serial")
    consoles = XmlChildren(Console, "./devices/console")
    channels = XmlChildren(Channel, "./devices/channel")
    videos = XmlChildren(Video, "./devices/video")
    random_sources = XmlChildren(RandomSource, "./devices/rng")
    os_infos = XmlChildren(OsInfo, f"./metadata/{{{LIBOSINFO_NS}}}libosinfo/{{{LIBOSINFO_NS}}}os")
    flow_marks = XmlChildren(FlowMark, f"./metadata/{{{FLOW_NS}}}flow")
    home_marks = XmlChildren(HomeMark, f"./metadata/{{{HOME_NS}}}home")

    @classmethod
    def from_xml(cls, text_value: str) -> Domain:
        domain = super().from_xml(text_value)
        domain.xml = text_value
        return domain

    @property
    def guest_agent(self) -> Channel | None:
        """The QEMU guest agent's channel, or None when the machine has none."""
        return next((c for c in self.channels if c.target_name == Channel.GUEST_AGENT), None)

    @property
    def vcpus(self) -> int:
        """The vCPUs it has (``current`` when given, else all)."""
        return self.current_vcpus or self.max_vcpus

    def set_vcpus(self, maximum: int, current: int | None = None) -> None:
        """``current`` left out (or equal to the maximum) writes no ``current``."""
        self.max_vcpus = maximum
        self.current_vcpus = current if current is not None and current != maximum else None

    @property
    def cpu_mode(self) -> str:
        """"" when there is no <cpu> (the hypervisor's default model); custom when not said."""
        return (self.cpu_mode_attribute or "custom") if self.element.find("cpu") is not None else ""

    @cpu_mode.setter
    def cpu_mode(self, value: str) -> None:
        self.cpu_mode_attribute = value

    @property
    def cpu_xml(self) -> str:
        """The <cpu> element as text, for ``compareHypervisorCPU`` ("" when there is none)."""
        cpu = self.element.find("cpu")
        return serialize(cpu) if cpu is not None else ""

    @property
    def flow_mark(self) -> str:
        """The flow mark this definition carries ("" when none)."""
        return next((m.mark for m in self.flow_marks), "")

    @flow_mark.setter
    def flow_mark(self, value: str) -> None:
        for old in list(self.flow_marks):
            self.flow_marks.remove(old)
        if value:
            self.flow_marks.append(FlowMark(mark=value))

    @property
    def os_id(self) -> str:
        return next((info.id for info in self.os_infos), "")

    @os_id.setter
    def os_id(self, value: str) -> None:
        for old in list(self.os_infos):
            self.os_infos.remove(old)
        if value:
            self.os_infos.append(OsInfo(id=value))

    @property
    def boot_order(self) -> list[str]:
        """Per-device boot order: targets and MACs (lower case), first first."""
        ordered = [(d.boot_order, d.target) for d in self.disks if d.boot_order]
        ordered += [(n.boot_order, n.mac.lower()) for n in self.interfaces if n.boot_order]
        return [key for _order, key in sorted(ordered)]

    def set_boot_order(self, keys: list[str]) -> None:
        """Per-device <boot order> for these targets and MACs, and no <os><boot> (libvirt
        refuses both at once)."""
        for boot in list(self.boot_devices):
            self.boot_devices.remove(boot)
        devices: list[Disk | Interface] = [*self.disks, *self.interfaces]
        for device in devices:
            device.boot_order = None
        for index, key in enumerate(keys, 1):
            for device in devices:
                if (isinstance(device, Disk) and device.target == key) or \
                        (isinstance(device, Interface) and device.mac.lower() == key.lower()):
                    device.boot_order = index

    def disk(self, target: str) -> Disk | None:
        return next((d for d in self.disks if d.target == target), None)

    def interface(self, mac: str) -> Interface | None:
        return next((n for n in self.interfaces if n.mac.lower() == mac.lower()), None)

    @property
    def displays(self) -> list[Graphics]:
        """The graphics devices a viewer can show (VNC and SPICE)."""
        return [g for g in self.graphics if g.kind in ("vnc", "spice")]

    @property
    def text_console(self) -> CharDevice | None:
        """The device ``openConsole(None, ...)`` attaches to (the first console, else the
        first serial port), None when the machine has neither."""
        return (list(self.consoles) or list(self.serials) or [None])[0]


def parse_domain(xml: str) -> Domain:
    """Raises XmlError (a ValueError) for text that is not a ``<domain>``."""
    return Domain.from_xml(xml)


def read_domain(dom: libvirt.virDomain, flags: int = 0) -> Domain:
    """The machine's definition as libvirt gives it (blocking: a host's worker thread)."""
    return Domain.from_xml(dom.XMLDesc(flags))


def agent_connected(dom: libvirt.virDomain) -> bool:
    """The machine runs and its QEMU guest agent's channel is connected (the guest's end is
    open: the agent answers, or at least listens). Blocking."""
    try:
        if not dom.isActive():
            return False
        channel = read_domain(dom).guest_agent
    except (libvirt.libvirtError, XmlError):
        return False
    return channel is not None and channel.target_state == "connected"
