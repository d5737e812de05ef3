"""Names a user or another operator gives, checked before they become machines or paths.

- Machine names: printable, no bidi or line-separator controls (they make a name read as
  another on screen), no leading ``-`` or space, no ``/``, at most ``MAX_NAME`` characters.
- Name patterns (new machines from a template): a small language, parsed, never
  ``str.format``: literal text, ``{n}`` (the number), ``{n:0W}`` (padded to W digits, W up to
  9), and ``{{`` / ``}}`` for braces.
- File and volume names: ``[A-Za-z0-9._+-]`` only, never ``..``, never a leading ``-`` or
  ``.``; :func:`file_name_part` makes one from any text, the same way everywhere.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_NAME = 200
MAX_WIDTH = 9
# Characters that change how the rest of a line reads: bidi embeddings, overrides and
# isolates, marks, and the Unicode line and paragraph separators.
BIDI_AND_SEPARATORS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029")
_FILE_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


class BadName(ValueError):
    """The name cannot be used; the message says why in words."""


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a machine, or None when it can."""
    if not name.strip():
        return "a name cannot be empty"
    if len(name) > MAX_NAME:
        return f"a name has at most {MAX_NAME} characters (this one has {len(name)})"
    if name[0] in "- " or name[0].isspace():
        return f"{name!r} starts with {name[0]!r}; start it with a letter or a digit"
    if name[-1].isspace():
        return f"{name!r} ends with a space"
    if "/" in name:
        return f"{name!r} contains '/'"
    for ch in name:
        if ch in BIDI_AND_SEPARATORS:
            return f"{name!r} contains U+{ord(ch):04X}, which changes how text around it reads"
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") or not ch.isprintable():
            return f"{name!r} contains the control character U+{ord(ch):04X}"
    return None


def check_name(name: str) -> str:
    problem = name_problem(name)
    if problem:
        raise BadName(problem)
    return name


@dataclass(frozen=True)
class NamePattern:
    """A parsed pattern: literal parts and number fields, in order."""

    parts: tuple[str | int, ...]  # a str is literal text; an int is a number field's width (0: none)

    def name(self, number: int) -> str:
        return "".join(p if isinstance(p, str) else str(number).zfill(p) for p in self.parts)


_FIELD = re.compile(r"n(?::0?([1-9]))?")


def parse_pattern(pattern: str) -> NamePattern:
    """Parse ``web-{n}`` or ``web-{n:03}``; raises BadName saying what is wrong and where."""
    parts: list[str | int] = []
    literal, i, fields = [], 0, 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("{{", i) or pattern.startswith("}}", i):
            literal.append(ch)
            i += 2
            continue
        if ch == "}":
            raise BadName(f"a lone '}}' at position {i + 1}; write '}}}}' for a brace")
        if ch != "{":
            literal.append(ch)
            i += 1
            continue
        end = pattern.find("}", i)
        if end < 0:
            raise BadName(f"the '{{' at position {i + 1} is not closed; use {{n}} or {{n:03}}")
        field = pattern[i + 1:end]
        match = _FIELD.fullmatch(field)
        if match is None:
            raise BadName(f"{{{field}}} is not a number field; use {{n}} or {{n:03}} (up to {MAX_WIDTH} digits)")
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(int(match.group(1) or 0))
        fields += 1
        i = end + 1
    if literal:
        parts.append("".join(literal))
    if not fields:
        raise BadName("the name pattern must contain {n} (the machine's number), e.g. web-{n}")
    return NamePattern(tuple(parts))


def pattern_from_name(name: str) -> str:
    """A pattern that gives ``NAME-1``, ``NAME-2``... for any name (its braces escaped)."""
    return name.replace("{", "{{").replace("}", "}}") + "-{n}"


def file_name_part(text: str) -> str:
    """``text`` as a safe part of a file or volume name: [A-Za-z0-9._+-], no '..', no
    '.' at either end, no leading '-' (other characters become '_')."""
    safe = _FILE_UNSAFE.sub("_", text)
    while ".." in safe:
        safe = safe.replace("..", "_.")
    safe = safe.strip(".").lstrip("-")
    return safe or "_"


def check_file_name(name: str) -> str:
    """``name`` when it is a safe file or volume name; else BadName in words."""
    if not name or _FILE_UNSAFE.search(name) or ".." in name or name[0] in "-.":
        raise BadName(f"{name!r} is not a safe file name (letters, digits, '.', '_', '+', '-'; no '..')")
    return name


MAX_PATH = 4096


def text_problem(what: str, text: str, most: int = MAX_PATH, *, lines: bool = False) -> str | None:
    """Why ``text`` (a title, a description, a path or a name on a host) cannot go into a
    definition: too long, or a control character (with ``lines``, line breaks and tabs are
    allowed, as in a description)."""
    if len(text) > most:
        return f"the {what} has at most {most} characters (this one has {len(text)})"
    for ch in text:
        if (lines and ch in "\n\t") or (ch.isprintable() and ch not in BIDI_AND_SEPARATORS):
            continue
        return f"the {what} contains the control character U+{ord(ch):04X}"
    return None


def printable_line(text: object, most: int = 200) -> str:
    """A guest's or host's words as one plain line: control, direction and separator characters
    dropped, at most ``most`` characters (what the guest says is data, never markup or a path)."""
    return "".join(ch for ch in str(text or "") if ch.isprintable() and ch not in BIDI_AND_SEPARATORS)[:most]


MAX_LABEL = 100


def label_problem(label: str) -> str | None:
    """Why a host's label cannot be one (too long, a control character), or None ("" is
    allowed: the URI's short name is shown)."""
    return text_problem("label", label, MAX_LABEL)
