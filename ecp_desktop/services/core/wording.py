"""Words for numbers in messages: counted nouns ("1 machine", "2 machines", never
"machine(s)") and sizes in bytes, written ("1.5 GiB") and read ("10G", "512 MiB")."""
from __future__ import annotations

import re

UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)


def count(n: int, noun: str, plural: str = "") -> str:
    """``n`` and the noun, singular for exactly one (``plural`` when adding an s is wrong)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def size_text(n: float) -> str:
    """Bytes as a person reads them: ``512 B``, ``1.5 GiB``."""
    for unit in UNITS:
        if abs(n) < 1024 or unit == UNITS[-1]:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def parse_size(text: str) -> int:
    """``10G``, ``10 GiB``, ``512M``, ``1.5T``, ``4096`` (bytes) → bytes (powers of 1024);
    ValueError in words for anything else."""
    found = _SIZE.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a size such as 10G, 512M or 4096 (bytes)")
    number, unit = float(found.group(1)), found.group(2).lower()
    return int(number * 1024 ** " kmgt".index(unit or " "))
