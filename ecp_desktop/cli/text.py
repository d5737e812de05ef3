"""How the commands' text output reads (no Qt): every value escaped for the terminal, tables
with a header line, memory in the window's units. ``--json`` prints the exact data instead."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
import re
import textwrap
import unicodedata

# What a terminal would act on instead of showing: C0 (tab and line ends included), DEL, C1,
# the bidirectional controls and the line and paragraph separators.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escaped(match: re.Match) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def terminal_text(value) -> str:
    """``value`` as text that is safe to print in a terminal's lines and tab-separated columns:
    control characters, bidi controls and line separators shown escaped (``\\t``, ``\\x1b``,
    ``\\u202e``); everything else, other scripts included, as it is. Text output only: JSON
    keeps the exact data."""
    return _UNSAFE.sub(_escaped, str(value))


def memory_text(kib: int) -> str:
    """Memory as the window's Memory column shows it: ``512 MiB``, ``1.5 GiB``."""
    mib = kib / 1024
    return f"{mib / 1024:.1f} GiB" if mib >= 1024 else f"{mib:.0f} MiB"


def local_time(when: datetime) -> str:
    """An aware time as the window shows when a machine was last seen: local, to the minute."""
    return when.astimezone().strftime("%Y-%m-%d %H:%M %Z")


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal: wide (CJK) characters two, combining marks none."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in text)


def _pad(text: str, columns: int) -> str:
    return text + " " * max(columns - width(text), 0)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """A header line and a line per row, every cell escaped (terminal_text). Columns are
    separated by one tab after each cell padded to its column's widest: they line up on a
    terminal, and ``cut -f``/``awk -F'\\t'`` still split them (a cell never holds a tab)."""
    cells = [[terminal_text(c) for c in header]] + [[terminal_text(c) for c in row] for row in rows]
    widths = [max(width(line[i]) for line in cells) for i in range(len(header))]
    return ["\t".join([_pad(c, w) for c, w in zip(line[:-1], widths, strict=False)] + [line[-1]]) for line in cells]


def wrapped_table(header: Sequence[str], rows: Sequence[Sequence[object]], caps: Sequence[int],
                  gap: str = "  ") -> list[str]:
    """Like ``table`` but aligned with spaces, and a cell longer than its column's cap wraps
    onto the next lines (in its own column) instead of being cut; the last column is never
    wrapped."""
    cells = [[terminal_text(c) for c in header]] + [[terminal_text(c) for c in row] for row in rows]
    widths = [min(max(width(line[i]) for line in cells), cap) for i, cap in enumerate(caps)]
    lines = []
    for line in cells:
        parts = [textwrap.wrap(c, w, break_on_hyphens=False) or [""] for c, w in zip(line, widths, strict=False)]
        parts += [[c] for c in line[len(widths):]]
        for n in range(max(len(p) for p in parts)):
            row = [_pad(p[n] if n < len(p) else "", w) for p, w in zip(parts, widths, strict=False)]
            row += [p[n] if n < len(p) else "" for p in parts[len(widths):]]
            lines.append(gap.join(row).rstrip())
    return lines
