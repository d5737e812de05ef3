"""What a destination must offer a dead host's machine, read from the destination through libvirt.

The dead host cannot be asked anything: what is known of a machine is the inventory's last
definition. A disk is on storage the destination sees when the destination has an active
storage pool holding that very path (a volume disk: the pool of that name, active, with the
volume), so the machine started there opens the same disk the dead host did (a pool on a
shared directory, NFS, Ceph...). A disk on storage only the dead host had is the reason the
machine cannot be recovered there. Blocking: run on the destination's worker.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import libvirt

from ..libvirt_xml.domain import Domain, Graphics
from ..libvirt_xml.storage import read_pools
from ..libvirt_xml.xmlmodel import Element, XmlError
from ..hosts.lookups import find_domain
from ..core.names import name_problem

DISKLESS = ("cdrom", "floppy")  # an empty drive needs nothing


@dataclass
class Destination:
    """What one destination offers, read once for every machine checked against it."""
    uri: str
    free_memory: int | None = None            # bytes
    pools: dict[str, tuple[str, str, bool]] = field(default_factory=dict)  # name -> (type, target path, active)
    networks: dict[str, bool] = field(default_factory=dict)  # name -> active
    names: set[str] = field(default_factory=set)   # machines defined there now
    uuids: set[str] = field(default_factory=set)
    refreshed: set[str] = field(default_factory=set)  # pools refreshed once for this check


def read_destination(conn: libvirt.virConnect, uri: str) -> Destination:
    found = Destination(uri)
    try:
        found.free_memory = conn.getFreeMemory()
    except libvirt.libvirtError:
        found.free_memory = None
    for pool in read_pools(conn, with_volumes=False).values():
        found.pools[pool.name] = (pool.kind, os.path.normpath(pool.path or "/"), pool.active)
    for network in conn.listAllNetworks(0):
        found.networks[network.name()] = bool(network.isActive())
    for dom in conn.listAllDomains(0):
        found.names.add(dom.name())
        found.uuids.add(dom.UUIDString())
    return found


# A stored definition is shared data (anyone who can write the inventory wrote it), and
# defining and starting it runs it on the destination as the hypervisor's user. So only what a
# machine needs to be started elsewhere is brought, by an allow-list: an element not listed is
# a reason to refuse, never a guess. Refused outright: driver namespaces (qemu:commandline
# passes arguments), a kernel or firmware file of the host booted directly, host devices and
# directories passed through, interfaces that are host devices or run scripts, character
# devices that write host files or sockets, memory backed by a host file. Dropped (the
# destination's own is used): the emulator path, security labels (a static label could run the
# guest as root), the NVRAM file (made again from the firmware's template). Graphics listen on
# the destination's loopback only (a stored 0.0.0.0 would open a console to the network).
_DOMAIN_PARTS = {"name", "uuid", "title", "description", "metadata", "memory", "currentMemory", "maxMemory",
                 "vcpu", "vcpus", "iothreads", "cputune", "cpu", "os", "features", "clock", "on_poweroff",
                 "on_reboot", "on_crash", "on_lockfailure", "pm", "devices", "resource", "memtune", "blkiotune",
                 "numatune", "memoryBacking", "sysinfo", "idmap", "genid", "seclabel", "keywrap", "launchSecurity"}
_DROPPED = {"seclabel"}
_OS_PARTS = {"type", "boot", "bootmenu", "smbios", "bios", "loader", "nvram", "firmware", "acpi"}
_DEVICES = {"emulator", "disk", "controller", "interface", "input", "graphics", "video", "sound", "audio", "serial",
            "console", "channel", "parallel", "memballoon", "rng", "watchdog", "panic", "tpm", "hub", "iommu",
            "vsock", "lease", "crypto"}
_INTERFACE_TYPES = {"network", "bridge"}
_CHAR_TYPES = {"pty", "null", "spicevmc", "qemu-vdagent", "spiceport", "vc"}
_INPUT_TYPES = {"mouse", "keyboard", "tablet"}
FIRMWARE_DIRS = ("/usr/share/",)  # where distributions install OVMF and SeaBIOS


def _refusal(root: Element) -> str:
    """Why this definition is not brought to another host ("" when it may be), after the
    dropped parts are removed (``root`` is changed in place)."""
    for part in list(root):
        if not isinstance(part.tag, str) or part.tag.startswith("{"):
            return f"it has hypervisor-specific parts ({str(part.tag).split('}')[0].lstrip('{')})"
        if part.tag not in _DOMAIN_PARTS:
            return f"it has <{part.tag}>, which is not brought to another host"
        if part.tag in _DROPPED:
            root.remove(part)
    for labelled in root.iter():
        for label in labelled.findall("seclabel"):
            labelled.remove(label)  # (per-disk and per-device labels too)
    for part in root.find("os") if root.find("os") is not None else []:
        if part.tag not in _OS_PARTS:
            return f"it boots <{part.tag}> from a file of its host directly"
        if part.tag == "loader" and not (part.text or "").strip().startswith(FIRMWARE_DIRS):
            return f"its firmware is a file outside the system's firmware folders ({(part.text or '').strip()})"
    os_part = root.find("os")
    for nvram in os_part.findall("nvram") if os_part is not None else []:
        os_part.remove(nvram)
    memory = root.find("memoryBacking")
    if memory is not None and memory.find("source") is not None:
        return "its memory is backed by a file or memory of its host"
    devices = root.find("devices")
    for device in list(devices) if devices is not None else []:
        kind = device.get("type", "")
        if device.tag not in _DEVICES:
            return f"it passes <{device.tag}> (a host device or folder) of its host through"
        if device.tag == "emulator":
            devices.remove(device)
        elif device.tag == "interface" and (kind not in _INTERFACE_TYPES or device.find("script") is not None):
            return f"its network interface of type {kind or '?'} is a device or script of its host"
        elif device.tag in ("serial", "console", "channel", "parallel") and kind not in _CHAR_TYPES:
            return f"its {device.tag} of type {kind or '?'} writes to its host (a file, device or socket)"
        elif device.tag == "input" and kind not in _INPUT_TYPES:
            return f"its input device of type {kind or '?'} reads a device of its host"
        elif device.tag == "tpm" and device.find("backend") is not None and \
                device.find("backend").get("type") != "emulator":
            return "its TPM passes its host's TPM through"
        elif device.tag == "rng" and device.find("backend") is not None and \
                device.find("backend").get("model") not in ("random", "builtin"):
            return "its random number generator reads a device or socket of its host"
        elif device.tag == "disk" and kind not in ("file", "block", "volume", "network"):
            return f"its disk of type {kind or '?'} is a folder or device of its host"
        elif device.tag == "graphics":
            _loopback_only(Graphics(device))
    return ""


def _loopback_only(graphics: Graphics) -> None:
    if graphics.kind not in ("vnc", "spice"):
        return
    for listen in graphics.element.findall("listen"):
        graphics.element.remove(listen)
    graphics.listen_attribute, graphics.socket_attribute = "127.0.0.1", ""
    graphics.listen_type_text, graphics.listen_address = "address", "127.0.0.1"


def checked_definition(uuid: str, name: str, xml: str | None) -> tuple[Domain | None, str]:
    """The stored definition parsed, with what is dropped removed (see above), or why it
    cannot be used."""
    if not xml:
        return None, "the inventory has no definition of it (import it while its host answers: ecp-desktop import)"
    try:
        definition = Domain.from_xml(xml)
    except XmlError as exc:
        return None, f"its stored definition cannot be used: {exc}"
    refusal = _refusal(definition.element)
    if refusal:
        return None, f"{refusal}: not brought to another host"
    definition.xml = definition.to_xml()  # with what is dropped removed
    if definition.uuid != uuid:  # (libvirt writes UUIDs in lower case, the rows too)
        return None, f"its stored definition names another UUID ({definition.uuid or 'none'})"
    problem = name_problem(definition.name)
    if problem:
        return None, f"its stored definition's name cannot be used: {problem}"
    if definition.name != name:
        return None, f"its stored definition names another machine ({definition.name})"
    return definition, ""


def why_not_there(conn: libvirt.virConnect, found: Destination, definition: Domain) -> str:
    """"" when ``definition`` can be defined and started on this destination, else why not
    (every disk and network named). Storage is checked through libvirt, volume by volume."""
    if definition.uuid in found.uuids or find_domain(conn, definition.uuid) is not None:
        return f"{definition.name} is defined there already (same UUID): recovered or moved before?"
    if definition.name in found.names:
        return f"another machine named {definition.name} is defined there"
    problems = [p for p in (_disk_problem(conn, found, d) for d in definition.disks) if p]
    for nic in definition.interfaces:
        if nic.kind == "network" and nic.source:
            if nic.source not in found.networks:
                problems.append(f"network {nic.source} does not exist there")
            elif not found.networks[nic.source]:
                problems.append(f"network {nic.source} is not active there")
    return "; ".join(problems)


def _volume_at(conn: libvirt.virConnect, found: Destination, path: str, pools: list[str]):
    """The volume at ``path``, refreshing the pools that hold its folder once if libvirt does
    not list it: a pool on shared storage knows only the volumes it saw at its last refresh,
    and the dead host made this one (seen in the lab: "no volume at that path")."""
    try:
        return conn.storageVolLookupByPath(path)
    except libvirt.libvirtError:
        pass
    for name in pools:
        if name not in found.refreshed:
            found.refreshed.add(name)
            try:
                conn.storagePoolLookupByName(name).refresh(0)
            except libvirt.libvirtError:
                continue
    try:
        return conn.storageVolLookupByPath(path)
    except libvirt.libvirtError:
        return None


def _disk_problem(conn: libvirt.virConnect, found: Destination, disk) -> str:
    if not disk.has_source or (disk.device in DISKLESS and not disk.source):
        return ""
    what = f"disk {disk.target or '?'} ({disk.source})"
    if disk.protocol:
        return ""  # network storage (rbd, iscsi, nbd...): every host reaches it by its address
    if disk.kind == "volume":
        pool = found.pools.get(disk.pool)
        if pool is None:
            return f"{what}: no storage pool {disk.pool} there"
        if not pool[2]:
            return f"{what}: storage pool {disk.pool} is not active there"
        try:
            named = conn.storagePoolLookupByName(disk.pool)
            if disk.pool not in found.refreshed:
                found.refreshed.add(disk.pool)
                named.refresh(0)  # (what the dead host made since this host's last refresh)
            named.storageVolLookupByName(disk.volume)
        except libvirt.libvirtError:
            return f"{what}: pool {disk.pool} there has no volume {disk.volume}"
        return ""
    if not disk.path:
        return ""
    folder = os.path.dirname(os.path.normpath(disk.path))
    holders = [(name, kind, active) for name, (kind, path, active) in found.pools.items() if path == folder]
    if not holders:
        return f"{what}: no storage pool there has {folder} as its path (storage of the dead host only)"
    active = [(name, kind) for name, kind, on in holders if on]
    if not active:
        return f"{what}: storage pool {holders[0][0]} ({holders[0][1]}, {folder}) is not active there"
    volume = _volume_at(conn, found, disk.path, [name for name, _kind in active])
    if volume is None:
        return f"{what}: the {active[0][1]} pool {active[0][0]} there has no volume at that path"
    if os.path.normpath(volume.path()) != os.path.normpath(disk.path):
        return f"{what}: the volume there is at {volume.path()}"
    return ""
