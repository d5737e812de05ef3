"""`ecp-desktop install-desktop`: the menu entry, AppStream metainfo and icons into XDG dirs.

The files ship inside the package (``resources/`` in the repository, laid out as under
``share/``), so a wheel installed anywhere can install its own desktop entry. When
``ecp-desktop`` is not on PATH (a virtual environment), the entry runs it by its
absolute path.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ecp_desktop import APP_ID, RESOURCES

DATA = RESOURCES


def user_share() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def shipped_files() -> list[Path]:
    """Every file to install, relative to ``share/``."""
    return sorted(p.relative_to(DATA) for p in DATA.rglob("*") if p.is_file() and APP_ID in p.name)


def command_line() -> list[str]:
    """How the menu entry starts the app: ``ecp-desktop`` when it is on PATH, else by its path."""
    if shutil.which("ecp-desktop"):
        return ["ecp-desktop"]
    script = Path(sys.executable).parent / "ecp-desktop"
    return [str(script)] if script.exists() else [sys.executable, "-m", "ecp_desktop"]


# The Desktop Entry Specification: an Exec argument holding one of these is quoted, and inside
# the quotes " ` $ \ are escaped; then, as in every string value, \ is written \\ and a field
# code's % is written %%.
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def exec_argument(argument: str) -> str:
    argument = argument.replace("%", "%%")
    if any(ch in _RESERVED for ch in argument):
        argument = '"' + "".join("\\" + ch if ch in '"`$\\' else ch for ch in argument) + '"'
    return argument


def _string_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def desktop_entry(text: str, argv: list[str]) -> str:
    """The shipped entry with its Exec= and TryExec= for ``argv`` (a path may hold spaces)."""
    if argv == ["ecp-desktop"]:
        return text
    lines = []
    for line in text.splitlines():
        if line.startswith("Exec="):
            line = "Exec=" + _string_value(" ".join(exec_argument(a) for a in argv)) + " %U"
        elif line.startswith("TryExec="):
            line = "TryExec=" + _string_value(argv[0])  # the program's whole path: no quoting here
        lines.append(line)
    return "\n".join(lines) + "\n"


def install(share: Path) -> list[Path]:
    written = []
    for relative in shipped_files():
        target = share / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix == ".desktop":
            target.write_text(desktop_entry((DATA / relative).read_text(encoding="utf-8"), command_line()),
                              encoding="utf-8")
        else:
            shutil.copyfile(DATA / relative, target)
        target.chmod(0o644)
        written.append(target)
    _refresh_caches(share)
    return written


def uninstall(share: Path) -> list[Path]:
    removed = []
    for relative in shipped_files():
        target = share / relative
        if target.exists():
            target.unlink()
            removed.append(target)
    _refresh_caches(share)
    return removed


def _refresh_caches(share: Path) -> None:
    """The menu and icon caches, where the desktop has the tools (harmless when it has not)."""
    for command in (["update-desktop-database", "-q", str(share / "applications")],
                    ["gtk-update-icon-cache", "-q", "-t", "-f", str(share / "icons" / "hicolor")]):
        if shutil.which(command[0]) and Path(command[-1]).is_dir():
            subprocess.run(command, capture_output=True, timeout=60, check=False)
