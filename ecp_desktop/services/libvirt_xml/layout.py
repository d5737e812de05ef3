"""Definitions laid out for a person: indented the same way, normalised (what a history
compares), and the difference of two."""
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
