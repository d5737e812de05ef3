"""Counted nouns in messages: "1 machine", "2 machines", never "machine(s)"."""
from __future__ import annotations


def count(n: int, noun: str, plural: str = "") -> str:
    """``n`` and the noun, singular for exactly one (``plural`` when adding an s is wrong)."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
