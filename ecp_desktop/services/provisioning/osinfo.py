"""Operating systems from libosinfo's database (Debian's ``osinfo-db``): what a new machine
should get for each (memory, vCPUs, disk size, firmware, disk bus, network model), and which
one an installer ISO holds (``osinfo-detect``, libosinfo's own tool).

The database is read as the XML files it is (xml.etree: libosinfo's own format, only read, so
not part of the libvirt vocabulary), once per process and folder; an OS
inherits devices, firmware and resources it does not state from the one it derives from, as
libosinfo does. Without the database every choice falls back to :data:`GENERIC`, and
:func:`load` says why, so the wizard and the command line can tell the user.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ROOT = "/usr/share/osinfo"
MIB, GIB = 2**20, 2**30
DETECT_SECONDS = 30
# PCI ids (vendor/device) in an OS's <devices>: what the guest has drivers for.
_VIRTIO_BLOCK = {"1af4/1001", "1af4/1042"}
_VIRTIO_NET = {"1af4/1000", "1af4/1041"}
_E1000E = {"8086/10d3"}


@dataclass(frozen=True)
class OsEntry:
    """One operating system and what a new machine for it gets by default."""

    id: str                  # libosinfo's URI id, e.g. http://debian.org/debian/11
    short_id: str            # e.g. debian11 (what --os takes)
    name: str
    family: str = ""
    version: str = ""
    memory_mib: int = 2048
    vcpus: int = 2
    disk_mib: int = 20 * 1024
    firmware: str = "bios"   # bios or efi (efi when the OS cannot boot from BIOS)
    efi_supported: bool = False
    disk_bus: str = "virtio"  # virtio or sata
    nic_model: str = "virtio"  # virtio, e1000e or e1000
    aliases: tuple[str, ...] = ()  # other short ids

    def matches(self, text: str) -> bool:
        """For the wizard's filter: ``text`` in the name, short id or family (any case)."""
        text = text.strip().lower()
        return not text or any(text in part.lower() for part in (self.name, self.short_id, self.family,
                                                                  *self.aliases))


GENERIC = OsEntry(id="generic", short_id="generic", name="Generic operating system", efi_supported=True)


@dataclass
class OsDatabase:
    entries: list[OsEntry] = field(default_factory=list)
    problem: str = ""  # why there are no entries (the database is absent or unreadable)

    def find(self, short_id: str) -> OsEntry | None:
        """The OS with this short id (or libosinfo URI id); ``generic`` is always there."""
        if short_id in ("generic", ""):
            return GENERIC
        for entry in self.entries:
            if short_id in (entry.short_id, entry.id) or short_id in entry.aliases:
                return entry
        return None

    def by_name(self, name: str) -> OsEntry | None:
        return next((e for e in self.entries if e.name == name), None)

    def search(self, text: str) -> list[OsEntry]:
        return [e for e in self.entries if e.matches(text)]


def load(root: str | None = None) -> OsDatabase:
    """Blocking (reads a few hundred files the first time): the database at ``root``
    (default $OSINFO_SYSTEM_DIR, else /usr/share/osinfo)."""
    return _load(root or os.environ.get("OSINFO_SYSTEM_DIR") or DEFAULT_ROOT)


@functools.lru_cache(maxsize=4)
def _load(root: str) -> OsDatabase:
    folder = Path(root) / "os"
    if not folder.is_dir():
        return OsDatabase(problem=f"libosinfo's database (Debian's osinfo-db) is not installed at {root}: "
                                  "generic defaults are used and no operating system can be chosen")
    raw: dict[str, ET.Element] = {}
    for path in sorted(folder.glob("*/*.xml")):
        try:
            for element in ET.parse(path).getroot().findall("os"):
                raw[element.get("id", "")] = element
        except (ET.ParseError, OSError):
            continue  # one damaged file costs its own entries only
    entries = [_entry(os_id, raw) for os_id in raw if os_id]
    entries.sort(key=lambda e: (e.family != "linux", e.name.lower()))
    if not entries:
        return OsDatabase(problem=f"libosinfo's database at {root} lists no operating system: generic defaults")
    return OsDatabase(entries)


def _lineage(os_id: str, raw: dict[str, ET.Element]) -> list[ET.Element]:
    """The OS and those it derives from (or clones), nearest first; loops cut."""
    chain, seen = [], set()
    while os_id in raw and os_id not in seen:
        seen.add(os_id)
        element = raw[os_id]
        chain.append(element)
        parent = element.find("derives-from")
        if parent is None:
            parent = element.find("clones")
        os_id = parent.get("id", "") if parent is not None else ""
    return chain


def _resource(chain: list[ET.Element], kind: str, tag: str) -> int:
    for element in chain:
        for resources in element.findall("resources"):
            if resources.get("arch", "all") not in ("all", "x86_64"):
                continue
            text = resources.findtext(f"{kind}/{tag}", "").strip()
            if text.isdigit():
                return int(text)
    return 0


def _entry(os_id: str, raw: dict[str, ET.Element]) -> OsEntry:
    chain = _lineage(os_id, raw)
    element = chain[0]
    short_ids = [s.text.strip() for s in element.findall("short-id") if s.text]
    name = next((n.text for n in element.findall("name") if n.text and not n.attrib), os_id)
    devices = {d.get("id", "").rsplit("/pci/", 1)[-1] for e in chain for d in e.findall("devices/device")}
    firmware = {}
    for e in reversed(chain):  # the nearest OS's word wins
        for fw in e.findall("firmware"):
            if fw.get("arch") == "x86_64":
                firmware[fw.get("type", "")] = fw.get("supported", "true") != "false"
    ram = max(_resource(chain, "recommended", "ram"), _resource(chain, "minimum", "ram"))
    cpus = _resource(chain, "recommended", "n-cpus") or max(_resource(chain, "minimum", "n-cpus"), 2)
    storage = max(_resource(chain, "recommended", "storage"), _resource(chain, "minimum", "storage"))
    return OsEntry(
        id=os_id, short_id=short_ids[0] if short_ids else os_id, name=name.strip(),
        family=element.findtext("family", "").strip(), version=element.findtext("version", "").strip(),
        memory_mib=max(ram // MIB, 256) if ram else GENERIC.memory_mib, vcpus=min(cpus, 8),
        disk_mib=max(-(-storage // GIB), 1) * 1024 if storage else GENERIC.disk_mib,
        firmware="efi" if firmware.get("bios") is False and firmware.get("efi") else "bios",
        efi_supported=firmware.get("efi", False),
        disk_bus="virtio" if devices & _VIRTIO_BLOCK else "sata",
        nic_model="virtio" if devices & _VIRTIO_NET else "e1000e" if devices & _E1000E else "e1000",
        aliases=tuple(short_ids[1:]))


@dataclass(frozen=True)
class Detection:
    entry: OsEntry | None
    words: str  # what was found, or why nothing was (for the wizard and --json)


_DETECTED = re.compile(r"for OS '(?P<name>.+?)(?: \((?P<arch>[^()]+)\))?'\s*$", re.M)


UNRECOGNISED = "Could not tell which operating system this is"
PICK_ONE = "Pick one below, or leave Generic."


def unrecognised_words(said: str) -> str:
    """What osinfo-detect's last line (``Media is bootable.``, ``Media is not bootable.``, an
    error) means when it named no operating system, in plain words."""
    if said.strip().lower() == "media is bootable.":
        return f"{UNRECOGNISED}; the medium is bootable. {PICK_ONE}"
    if said.strip().lower() == "media is not bootable.":
        return f"{UNRECOGNISED}, and the medium is not bootable: it may not be an installer. {PICK_ONE}"
    return f"{UNRECOGNISED} (osinfo-detect said: {said or 'nothing'}). {PICK_ONE}"


def detect_iso(path: str, database: OsDatabase | None = None, *, tool: str = "osinfo-detect") -> Detection:
    """Blocking: which OS the installer ISO at ``path`` (a local file) holds, by libosinfo's
    ``osinfo-detect`` (run with an argument list, never a shell, with a time limit)."""
    database = database or load()
    executable = shutil.which(tool)
    if executable is None:
        return Detection(None, f"{tool} is not installed (Debian's libosinfo-bin), so the ISO cannot be "
                                f"examined. {PICK_ONE}")
    if not os.path.isfile(path):
        return Detection(None, f"{path} is not a file on this computer, so it cannot be examined. {PICK_ONE}")
    try:
        done = subprocess.run([executable, "--", path], capture_output=True, text=True, timeout=DETECT_SECONDS,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Detection(None, f"{tool} failed: {exc}")
    match = _DETECTED.search(done.stdout)
    if done.returncode != 0 or match is None:
        said = (done.stderr or done.stdout).strip().splitlines()
        return Detection(None, unrecognised_words(said[-1] if said else ""))
    entry = database.by_name(match.group("name"))
    if entry is None:
        return Detection(None, f"{tool} found {match.group('name')!r}, which the database does not list. "
                                f"{PICK_ONE}")
    return Detection(entry, f"detected {entry.name} ({entry.short_id})")

