"""What changed between two definitions of a machine, in one line of words:
"memory 2 GiB → 4 GiB; disk vdb added"."""
from __future__ import annotations

from ..core.wording import size_text
from ..libvirt_xml.domain import Domain
from ..libvirt_xml.xmlmodel import XmlError

NO_SUMMARY = "definition changed"


def _memory(kib: int) -> str:
    return size_text(kib * 1024).replace(".0 ", " ")


def _amounts(old: tuple[int, int], new: tuple[int, int], noun: str, words=str) -> list[str]:
    """(what it has, the most it may have) before and after: the first as ``noun``, the most
    only when it changed and is not simply what it has, before or after."""
    out = []
    if old[0] != new[0]:
        out.append(f"{noun} {words(old[0])} → {words(new[0])}")
    if old[1] != new[1] and (old[0] != old[1] or new[0] != new[1]):
        out.append(f"maximum {noun} {words(old[1])} → {words(new[1])}")
    return out


def _memory_of(domain: Domain) -> tuple[int, int]:
    return domain.current_memory_kib or domain.memory_kib, domain.memory_kib


def _vcpus_of(domain: Domain) -> tuple[int, int]:
    return domain.current_vcpus or domain.max_vcpus, domain.max_vcpus


def summary(old_xml: str | None, new_xml: str) -> str:
    """The changes from ``old_xml`` to ``new_xml`` that a user names (name, memory, vCPUs,
    disks by target, network interfaces by MAC), "; "-joined; "first definition" when there
    is no old one; NO_SUMMARY when what changed is none of those (or cannot be read)."""
    if old_xml is None:
        return "first definition"
    try:
        old, new = Domain.from_xml(old_xml), Domain.from_xml(new_xml)
    except XmlError:
        return NO_SUMMARY
    parts = []
    if old.name != new.name:
        parts.append(f"renamed {old.name} → {new.name}")
    parts += _amounts(_memory_of(old), _memory_of(new), "memory", _memory)
    parts += _amounts(_vcpus_of(old), _vcpus_of(new), "vCPUs")
    parts += _devices("disk", {d.target: d for d in old.disks}, {d.target: d for d in new.disks})
    parts += _devices("interface", {i.mac: i for i in old.interfaces}, {i.mac: i for i in new.interfaces})
    return "; ".join(parts) or NO_SUMMARY


def _devices(kind: str, old: dict, new: dict) -> list[str]:
    """Devices of ``kind`` by key (a disk's target, an interface's MAC): added, removed, changed."""
    return ([f"{kind} {k} added" for k in new if k not in old]
            + [f"{kind} {k} removed" for k in old if k not in new]
            + [f"{kind} {k} changed" for k in new if k in old and old[k].to_xml() != new[k].to_xml()])

