"""Definitions laid out for a person: indented the same way, normalised (what a history
compares), the difference of two, and which of their parts differ."""
from __future__ import annotations

import difflib

from .xmlmodel import indent, parse, serialize


def pretty(xml: str) -> str:
    """``xml`` indented by two spaces a level, whatever its layout was."""
    root = parse(xml)
    indent(root)
    return serialize(root)


def normalised(xml: str) -> str:
    """``xml`` laid out one way: indented as ``pretty`` does, with every element's attributes
    in name order, so two texts that differ only in layout or attribute order are equal."""
    root = parse(xml)
    for element in root.iter():
        if len(element.attrib) > 1:
            ordered = sorted(element.attrib.items())
            element.attrib.clear()
            element.attrib.update(ordered)
    indent(root)
    return serialize(root)


def xml_diff(old: str, new: str, old_label: str = "current definition", new_label: str = "after the edit") -> str:
    """The unified diff of two definitions, both laid out the same way ("" when equal)."""
    return "".join(difflib.unified_diff(pretty(old).splitlines(True), pretty(new).splitlines(True),
                                        old_label, new_label, n=2))


def _parts(xml: str, skipped: frozenset[str]) -> dict[str, list[str]]:
    """Each top-level element and each device of a definition, normalised, by the name a
    person reads ("cputune", "devices/watchdog"); ``skipped`` names are left out."""
    found: dict[str, list[str]] = {}
    for child in parse(normalised(xml)):
        children = [(f"devices/{d.tag}", d) for d in child] if child.tag == "devices" else [(child.tag, child)]
        for name, element in children:
            if name not in skipped:
                element.tail = None
                found.setdefault(name, []).append(serialize(element))
    return found


def differing_parts(old: str, new: str, skipped: frozenset[str] = frozenset()) -> list[str]:
    """The names of the parts (as ``_parts`` names them) that differ between two definitions,
    in the order they first appear ([] when the rest is the same)."""
    before, after = _parts(old, skipped), _parts(new, skipped)
    return [name for name in dict.fromkeys([*before, *after])
            if sorted(before.get(name, [])) != sorted(after.get(name, []))]
