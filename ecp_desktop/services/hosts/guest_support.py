"""Whether a host offers a machine's guest type: OS type, architecture, domain type and
machine type, against the guest types of its capabilities (``capabilities.GuestType``).

Qt-free and free of I/O, so that every caller asks the same question the same way: the
details panel and restore (with the local host record that setup writes), and migration
checks (with the destination's capabilities, read live).
"""
from __future__ import annotations

import json

from .capabilities import GuestType


def unsupported_reason(offered: list[GuestType], *, os_type: str, arch: str, machine_type: str = "",
                       domain_type: str = "") -> str | None:
    """None when ``offered`` holds the machine's type; else why not, in plain words.

    What the machine leaves empty is not checked, and a host that lists no machine types
    for an architecture (libvirt's test driver) is taken to accept any: a flag must mean
    "the host says no", never "we could not tell".
    """
    os_type, arch = os_type or "hvm", arch or ""
    if not arch:
        return None  # the host picks the architecture: nothing to refuse
    same_os = [g for g in offered if g.os_type == os_type]
    if not same_os:
        return f"the host offers no {os_type} guests (it offers {offered_text(offered)})"
    same_arch = [g for g in same_os if g.arch == arch]
    if not same_arch:
        return f"the host offers no {os_type} guests for the {arch} architecture (it offers {offered_text(offered)})"
    if domain_type:
        domains = set().union(*(g.domain_types for g in same_arch))
        if domains and domain_type not in domains:
            return (f"the host offers {os_type}/{arch} guests under {', '.join(sorted(domains))}, "
                    f"not under {domain_type}")
        same_arch = [g for g in same_arch if not g.domain_types or domain_type in g.domain_types] or same_arch
    machines = set().union(*(g.machines for g in same_arch))
    if machine_type and machines and machine_type not in machines:
        return f"the host has no {machine_type!r} machine type for {arch} guests"
    return None


def offered_text(offered: list[GuestType]) -> str:
    kinds = sorted({f"{g.os_type}/{g.arch}" for g in offered})
    return ", ".join(kinds) if kinds else "no guest types"


def to_json(offered: list[GuestType]) -> str:
    """The host record's form: [{os_type, arch, domain_types, machines}]."""
    return json.dumps([{"os_type": g.os_type, "arch": g.arch, "domain_types": sorted(g.domain_types),
                        "machines": sorted(g.machines)} for g in offered])


def from_json(text: str) -> list[GuestType]:
    """The guest types a host record keeps, read defensively (the row is another
    operator's data): entries that are not what we wrote are left out. A record written
    before machine types were kept has none: machine types are then not checked."""
    try:
        data = json.loads(text or "[]")
    except ValueError:
        return []
    found = []
    for item in data if isinstance(data, list) else []:
        if isinstance(item, dict) and isinstance(item.get("os_type"), str) and isinstance(item.get("arch"), str):
            found.append(GuestType(item["os_type"], item["arch"], _strings(item.get("domain_types")),
                                   _strings(item.get("machines"))))
    return found


def _strings(values) -> set[str]:
    return {v for v in values if isinstance(v, str)} if isinstance(values, list) else set()
