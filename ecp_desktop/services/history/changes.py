"""What changed between two definitions of a machine, in one line of words:
"memory 2 GiB → 4 GiB; disk vdb added"."""
from __future__ import annotations

from ..core.wording import size_text
from ..libvirt_xml.domain import Domain
from ..libvirt_xml.xmlmodel import XmlError

NO_SUMMARY = "definition changed"


def _memory(kib: int) -> str:
    return size_text(kib * 1024).replace(".0 ", " ")


def _vcpus(domain: Domain) -> int:
    return domain.current_vcpus or domain.max_vcpus


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
    if old.memory_kib != new.memory_kib:
        parts.append(f"memory {_memory(old.memory_kib)} → {_memory(new.memory_kib)}")
    if _vcpus(old) != _vcpus(new):
        parts.append(f"vCPUs {_vcpus(old)} → {_vcpus(new)}")
    old_disks = {d.target: d for d in old.disks}
    new_disks = {d.target: d for d in new.disks}
    parts += [f"disk {t} added" for t in new_disks if t not in old_disks]
    parts += [f"disk {t} removed" for t in old_disks if t not in new_disks]
    parts += [f"disk {t} changed" for t in new_disks
              if t in old_disks and old_disks[t].to_xml() != new_disks[t].to_xml()]
    old_nics = {i.mac: i for i in old.interfaces}
    new_nics = {i.mac: i for i in new.interfaces}
    parts += [f"interface {m} added" for m in new_nics if m not in old_nics]
    parts += [f"interface {m} removed" for m in old_nics if m not in new_nics]
    parts += [f"interface {m} changed" for m in new_nics
              if m in old_nics and old_nics[m].to_xml() != new_nics[m].to_xml()]
    return "; ".join(parts) or NO_SUMMARY

