"""What a user asks for when making a machine (``MachineSpec``), checked in words before the
host is asked anything (:func:`spec_problems`) and against what the host offers when the
plan is made (``plan.py``). Qt-free: the wizard and the command line fill in the same one."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..core.names import name_problem, text_problem
from ..libvirt_xml.devices import DISK_FORMATS, NEW_MACHINE_DISK_BUSES, NIC_MODELS
from .seed_iso import SeedConfig

SOURCES = ("iso", "cloud-image", "import-disk", "pxe")
SOURCE_LABELS = {"iso": "an installer ISO", "cloud-image": "a cloud image", "import-disk": "an existing disk",
                 "pxe": "network boot (PXE)"}
GRAPHICS = ("vnc", "spice", "none")
FIRMWARE = ("bios", "efi")
MEMORY_MIB = (64, 4 * 2**20)    # 64 MiB .. 4 TiB
VCPUS = (1, 512)
DISK_MIB = (16, 64 * 2**20)     # 16 MiB .. 64 TiB
NO_DISK_SOURCES = ("iso", "pxe")  # a live ISO, a diskless network boot: the sources a machine without disk boots from


@dataclass
class MachineSpec:
    """A new machine. Zero or "" means "what the operating system's entry recommends" (memory,
    vCPUs, disk size, firmware, disk bus, network model) or "the host's default" (pool)."""

    name: str
    host_uri: str
    source: str = "iso"
    # iso, cloud-image, import-disk: a file on the host (a pool volume's path, or any path
    # the host can open); with ``upload``, a local file copied into ``pool`` first.
    source_path: str = ""
    upload: bool = False
    os_id: str = "generic"
    memory_mib: int = 0
    vcpus: int = 0
    disk_mib: int = 0
    no_disk: bool = False          # iso, pxe: no new empty disk (a live ISO, a diskless network boot)
    pool: str = ""
    disk_format: str = "qcow2"
    full_copy: bool = False        # cloud image: a full copy instead of a copy-on-write overlay
    flatten: bool = False          # an uploaded image that reads other files: a copy standing alone is uploaded
    network: str = "default"       # a libvirt network ("" with no bridge: no network card)
    bridge: str = ""               # a host bridge instead of a libvirt network
    graphics: str = "vnc"
    firmware: str = ""
    secure_boot: bool = False
    disk_bus: str = ""
    nic_model: str = ""
    seed: SeedConfig | None = field(default=None)  # cloud images: who may log in (None: no seed)
    virt_type: str = ""            # kvm or qemu (software emulation); "": the host's best
    start: bool = False


def _between(what: str, value: int, bounds: tuple[int, int], unit: str) -> str | None:
    low, high = bounds
    if value and not low <= value <= high:
        return f"{what} must be between {low} and {high} {unit} (not {value})"
    return None


def disk_size_words(mib: int) -> str:
    """``16 MiB``, ``20 GiB``, ``64 TiB``: in the largest unit that holds it whole."""
    for unit, step in (("TiB", 2**20), ("GiB", 2**10)):
        if mib and mib % step == 0:
            return f"{mib // step} {unit}"
    return f"{mib} MiB"


def disk_size_problem(mib: int) -> str | None:
    """Why a new empty disk of ``mib`` MiB cannot be made, in words, or None (0: the OS's size)."""
    low, high = DISK_MIB
    if mib and mib < low:
        return f"a new disk must be at least {disk_size_words(low)} (not {disk_size_words(mib)})"
    if mib > high:
        return f"a new disk must be at most {disk_size_words(high)} (not {disk_size_words(mib)})"
    return None


def spec_problems(spec: MachineSpec) -> list[str]:
    """What is wrong with the request itself, in words (empty: nothing); the host's answers
    (the name taken, the pool or network missing, too little memory) come at planning."""
    problems = []
    name = name_problem(spec.name)
    if name:
        problems.append(name)
    if spec.source not in SOURCES:
        problems.append(f"the source must be one of {', '.join(SOURCES)} (not {spec.source!r})")
    elif spec.source == "pxe":
        if spec.source_path:
            problems.append("network boot takes no source file")
        if not (spec.network or spec.bridge):
            problems.append("network boot needs a network or a bridge")
    elif not spec.source_path:
        problems.append(f"a machine from {SOURCE_LABELS[spec.source]} needs its file")
    else:
        problems.append(text_problem("source path", spec.source_path))
        if not os.path.isabs(spec.source_path):
            problems.append(f"the source path {spec.source_path!r} is not absolute")
        if spec.upload and not os.path.isfile(spec.source_path):
            problems.append(f"{spec.source_path} is not a local file that can be uploaded")
    if spec.upload and spec.source == "import-disk":
        problems.append("an existing disk is used where it is: give its path on the host (no upload)")
    problems += [_between("memory", spec.memory_mib, MEMORY_MIB, "MiB"),
                 _between("the vCPU count", spec.vcpus, VCPUS, ""),
                 disk_size_problem(spec.disk_mib)]
    if spec.no_disk and spec.source not in NO_DISK_SOURCES:
        problems.append(f"a machine from {SOURCE_LABELS.get(spec.source, spec.source)} boots from its disk: "
                        "it cannot be left out")
    for what, value, allowed in (("graphics", spec.graphics, GRAPHICS), ("disk format", spec.disk_format,
                                 DISK_FORMATS), ("firmware", spec.firmware, ("", *FIRMWARE)),
                                 ("disk bus", spec.disk_bus, ("", *NEW_MACHINE_DISK_BUSES)),
                                 ("network model", spec.nic_model, ("", *NIC_MODELS))):
        if value not in allowed:
            problems.append(f"the {what} must be one of {', '.join(a for a in allowed if a)} (not {value!r})")
    for what, value in (("pool", spec.pool), ("network", spec.network), ("bridge", spec.bridge)):
        problems.append(text_problem(f"{what} name", value))
    if spec.network and spec.bridge:
        problems.append("choose a libvirt network or a bridge, not both")
    if spec.secure_boot and spec.firmware == "bios":
        problems.append("secure boot needs UEFI firmware")
    if spec.seed is not None:
        if spec.source != "cloud-image":
            problems.append("a cloud-init seed (user, SSH key, password) is only for a cloud image")
        else:
            problems.append(spec.seed.problem())
    return [p for p in problems if p]
