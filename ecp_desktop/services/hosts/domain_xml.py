"""The one reader of libvirt domain XML: disks, interfaces, graphics, CPU, OS, NVRAM.

Details, import, migration checks and templates all read a definition through
:func:`parse_domain`, so a disk means the same thing everywhere. Parsing is pure (no
libvirt call); :func:`locate_storage` adds what the host's pools know about a disk.
The text is untrusted (another client wrote it): values are kept as plain strings.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape as _sax_escape

import libvirt

# Pool types whose volumes every host of a cluster sees (libvirt skips them in its
# "unsafe migration" check too).
SHARED_POOL_TYPES = {"netfs", "rbd", "gluster", "iscsi", "iscsi-direct", "sheepdog", "vstorage", "mpath"}
_UNITS_KIB = {"b": 1 / 1024, "bytes": 1 / 1024, "k": 1, "kib": 1, "kb": 1000 / 1024, "m": 1024, "mib": 1024,
              "mb": 1000**2 / 1024, "g": 1024**2, "gib": 1024**2, "gb": 1000**3 / 1024, "t": 1024**3, "tib": 1024**3}


def escape(text: str) -> str:
    """Text made safe for an XML element or a quoted attribute."""
    return _sax_escape(text, {"'": "&apos;", '"': "&quot;"})


@dataclass
class Disk:
    """A ``<disk>``: as written, plus (after :func:`locate_storage`) what its pool says."""

    target: str = ""
    device: str = "disk"    # disk, cdrom, floppy, lun
    bus: str = ""
    kind: str = "file"      # file, block, volume, network, dir
    path: str = ""          # file or block device ("" for network disks and unlocated volumes)
    pool: str = ""          # volume disks: as written; others: the pool found holding ``path``
    volume: str = ""
    protocol: str = ""      # network disks: rbd, nbd, iscsi, ...
    format: str = ""        # the driver type: qcow2, raw, ...
    readonly: bool = False
    has_source: bool = True
    pool_type: str = ""     # the rest: filled in by locate_storage
    pool_path: str = ""
    capacity: int = 0
    allocation: int = 0
    volume_format: str = ""  # the volume's own format (what a clone of it is made as)

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
        return not self.readonly and not self.shared and bool(self.path)


@dataclass
class Interface:
    kind: str
    source: str
    mac: str
    model: str


@dataclass
class Graphics:
    kind: str       # vnc, spice, ...
    listen: str
    port: int       # -1 (or 0) when libvirt picks one at start
    listen_type: str = "address"  # address, network, socket, none (<listen type=...>)
    socket: str = ""              # listen_type "socket": the Unix socket's path on the host

    @property
    def loopback_only(self) -> bool:
        """Reachable only from the host itself: a loopback address, a Unix socket, or no
        listener at all (a viewer on another machine needs an SSH tunnel to reach it)."""
        if self.listen_type in ("socket", "none"):
            return True
        address = self.listen.strip("[]").lower()
        return address == "localhost" or address.startswith("127.") or address == "::1"


@dataclass
class CharDevice:
    """A ``<serial>`` or ``<console>``: what libvirt's console stream can attach to."""
    device: str       # serial or console
    kind: str         # pty, file, unix, tcp, null, ...
    target_type: str  # isa-serial, serial, virtio, ...
    port: int
    alias: str = ""   # the live XML's alias (serial0, console0): openConsole's dev_name


@dataclass
class DomainXml:
    xml: str
    name: str = ""
    uuid: str = ""
    domain_type: str = ""
    os_type: str = ""
    arch: str = ""
    machine_type: str = ""
    firmware_loader: str = ""
    nvram: str = ""
    title: str = ""
    description: str = ""
    cpu_mode: str = ""
    cpu_xml: str = ""
    memory_kib: int = 0          # <memory>: the most it may have
    current_memory_kib: int = 0  # <currentMemory>: what it has now (0 when not given)
    vcpus: int = 0
    disks: list[Disk] = field(default_factory=list)
    interfaces: list[Interface] = field(default_factory=list)
    graphics: list[Graphics] = field(default_factory=list)
    serials: list[CharDevice] = field(default_factory=list)
    consoles: list[CharDevice] = field(default_factory=list)

    @property
    def displays(self) -> list[Graphics]:
        """The graphics devices a viewer can show (VNC and SPICE)."""
        return [g for g in self.graphics if g.kind in ("vnc", "spice")]

    @property
    def text_console(self) -> CharDevice | None:
        """The device ``openConsole(None, ...)`` attaches to (the first console, else the
        first serial port), None when the machine has neither."""
        return (self.consoles or self.serials or [None])[0]


def _attr(element: ET.Element | None, name: str, default: str = "") -> str:
    return element.get(name, default) if element is not None else default


def read_domain(dom: libvirt.virDomain, flags: int = 0) -> DomainXml:
    """The machine's definition as libvirt gives it (blocking: a host's worker thread)."""
    return parse_domain(dom.XMLDesc(flags))


def parse_domain(xml: str, root: ET.Element | None = None) -> DomainXml:
    """``root``: the parsed ``xml`` when the caller has it already (import parses once)."""
    root = ET.fromstring(xml) if root is None else root
    os_type, cpu = root.find("os/type"), root.find("cpu")
    parsed = DomainXml(
        xml=xml, name=root.findtext("name", ""), uuid=root.findtext("uuid", ""),
        domain_type=root.get("type", ""),
        os_type=(os_type.text or "") if os_type is not None else "",
        arch=_attr(os_type, "arch"), machine_type=_attr(os_type, "machine"),
        firmware_loader=root.findtext("os/loader", ""), nvram=root.findtext("os/nvram", ""),
        title=root.findtext("title", ""), description=root.findtext("description", ""),
        cpu_mode=_attr(cpu, "mode", "custom") if cpu is not None else "",
        cpu_xml=ET.tostring(cpu, encoding="unicode") if cpu is not None else "",
        memory_kib=_kib(root.find("memory")), current_memory_kib=_kib(root.find("currentMemory")),
        vcpus=_vcpus(root.find("vcpu")),
    )
    parsed.disks = [_disk(element) for element in root.findall("devices/disk")]
    for nic in root.findall("devices/interface"):
        source = nic.find("source")
        parsed.interfaces.append(Interface(
            kind=nic.get("type", ""),
            source=(_attr(source, "network") or _attr(source, "bridge") or _attr(source, "dev")),
            mac=_attr(nic.find("mac"), "address"), model=_attr(nic.find("model"), "type")))
    for graphics in root.findall("devices/graphics"):
        port = graphics.get("port", "-1")
        listen = graphics.find("listen")
        parsed.graphics.append(Graphics(
            kind=graphics.get("type", ""),
            listen=graphics.get("listen", "") or _attr(listen, "address"),
            port=-1 if port.strip() == "-1" else _integer(port) or -1,
            listen_type=_attr(listen, "type", "address"),
            socket=graphics.get("socket", "") or _attr(listen, "socket")))
    parsed.serials = [_char_device(e) for e in root.findall("devices/serial")]
    parsed.consoles = [_char_device(e) for e in root.findall("devices/console")]
    return parsed


def _char_device(element: ET.Element) -> CharDevice:
    target = element.find("target")
    return CharDevice(device=element.tag, kind=element.get("type", "pty"), target_type=_attr(target, "type"),
                      port=_integer(_attr(target, "port")), alias=_attr(element.find("alias"), "name"))


def _integer(text: str | None) -> int:
    """A count from the XML; 0 when it is not one (the text is another client's)."""
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() else 0


def _kib(node: ET.Element | None) -> int:
    if node is None:
        return 0
    return int(_integer(node.text) * _UNITS_KIB.get(node.get("unit", "KiB").lower(), 1))


def _vcpus(node: ET.Element | None) -> int:
    if node is None:
        return 0
    return _integer(node.get("current")) or _integer(node.text)


def _disk(element: ET.Element) -> Disk:
    source, target = element.find("source"), element.find("target")
    device = element.get("device", "disk")
    disk = Disk(target=_attr(target, "dev"), device=device, bus=_attr(target, "bus"),
                kind=element.get("type", "file"), format=_attr(element.find("driver"), "type"),
                readonly=element.find("readonly") is not None or device == "cdrom",
                has_source=source is not None)
    if source is None:
        return disk
    if disk.kind == "network":
        disk.protocol = source.get("protocol", "network")
    elif disk.kind == "volume":
        disk.pool, disk.volume = source.get("pool", ""), source.get("volume", "")
    else:
        disk.path = source.get("file") or source.get("dev") or source.get("dir") or ""
    return disk


def locate_storage(conn: libvirt.virConnect, disk: Disk) -> bool:
    """Fill in the disk's pool, volume, pool type and path, capacity and allocation from the
    host's storage (blocking). False when the disk is in no pool the host knows."""
    try:
        if disk.kind == "volume":
            pool = conn.storagePoolLookupByName(disk.pool)
            volume = pool.storageVolLookupByName(disk.volume)
            disk.path = volume.path()
        elif disk.path:
            volume = conn.storageVolLookupByPath(disk.path)
            pool = volume.storagePoolLookupByVolume()
        else:
            return False
        pool_root = ET.fromstring(pool.XMLDesc(0))
        disk.pool, disk.volume = pool.name(), volume.name()
        disk.pool_type, disk.pool_path = pool_root.get("type", ""), pool_root.findtext("target/path", "")
        _kind, disk.capacity, disk.allocation = volume.info()
        disk.volume_format = _attr(ET.fromstring(volume.XMLDesc(0)).find("target/format"), "type")
    except libvirt.libvirtError:
        return False
    return True


# A machine a flow of ours defines carries the flow's mark (a random token kept with the
# step) in its <metadata> until the flow has succeeded. An undo acts only on a machine that
# carries the mark of the step it undoes: a task row alone (another operator can write one)
# never makes this app undefine or stop a machine it did not make.
FLOW_NS = "urn:io.github.ecp-desktop:flow"


def with_console_passwords(dom: libvirt.virDomain, xml: str) -> str:
    """``xml`` with the console passwords the machine's definition has now. Definitions read for
    a plan or kept in the task history leave them out (no VIR_DOMAIN_XML_SECURE: secrets stay
    out of the database), so a definition written back from them would drop the password and
    open the console to whoever reaches its port. Blocking: on the host's worker."""
    secure = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE))
    kept = {}  # graphics type -> (passwd, passwdValidTo): one display of each type in practice
    for graphics in secure.findall("devices/graphics"):
        if graphics.get("passwd") is not None:
            kept.setdefault(graphics.get("type"), (graphics.get("passwd"), graphics.get("passwdValidTo")))
    if not kept:
        return xml
    root = ET.fromstring(xml)
    for graphics in root.findall("devices/graphics"):
        if graphics.get("type") in kept and graphics.get("passwd") is None:
            password, valid_to = kept[graphics.get("type")]
            graphics.set("passwd", password)
            if valid_to:
                graphics.set("passwdValidTo", valid_to)
    ET.register_namespace("ecp", FLOW_NS)
    return ET.tostring(root, encoding="unicode")


def with_flow_mark(xml: str, mark: str) -> str:
    """The definition with the flow's mark in its <metadata>."""
    root = ET.fromstring(xml)
    metadata = root.find("metadata")
    if metadata is None:
        metadata = ET.SubElement(root, "metadata")
    for old in metadata.findall(f"{{{FLOW_NS}}}flow"):
        metadata.remove(old)
    ET.SubElement(metadata, f"{{{FLOW_NS}}}flow", {"mark": mark})
    ET.register_namespace("ecp", FLOW_NS)
    return ET.tostring(root, encoding="unicode")


def flow_mark(dom: libvirt.virDomain) -> str:
    """The flow mark the machine carries ("" when none)."""
    try:
        text = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, FLOW_NS, libvirt.VIR_DOMAIN_AFFECT_CONFIG
                            if dom.isPersistent() else libvirt.VIR_DOMAIN_AFFECT_LIVE)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            return ""
        raise
    try:
        return ET.fromstring(text).get("mark", "")
    except ET.ParseError:
        return ""


def _both(dom: libvirt.virDomain) -> int:
    flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG if dom.isPersistent() else 0
    return flags | (libvirt.VIR_DOMAIN_AFFECT_LIVE if dom.isActive() else 0)


def set_flow_mark(dom: libvirt.virDomain, mark: str) -> None:
    """Mark a machine a flow is about to change (its definition and, if running, its live state)."""
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, f'<flow mark="{escape(mark)}"/>', "ecp", FLOW_NS, _both(dom))


def clear_flow_mark(dom: libvirt.virDomain) -> None:
    """The flow is over: the machine is the user's now, and no undo may touch it."""
    try:
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None, FLOW_NS, _both(dom))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            raise
