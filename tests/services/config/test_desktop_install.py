"""The menu entry starts the app however odd the path it is installed under: Exec= quoted as the
Desktop Entry Specification says, TryExec= the program's whole path, and desktop-file-validate
content with the result (Debian's desktop-file-utils, a real validator)."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from ecp_desktop import APP_ID, RESOURCES
from ecp_desktop.services.config.desktop_install import command_line, desktop_entry, install

SHIPPED = (RESOURCES / "applications" / f"{APP_ID}.desktop").read_text(encoding="utf-8")
ODD = ["/opt/My Apps/ecp \"desktop\" $HOME `x` 100%/bin/ecp-desktop", "-m", "ecp_desktop"]


def _string(value: str) -> str:
    """A desktop file's string value as read (its escapes undone)."""
    out, chars = [], iter(value)
    for ch in chars:
        out.append({"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}.get(next(chars), "?") if ch == "\\" else ch)
    return "".join(out)


def _exec_arguments(value: str) -> list[str]:
    """The Exec key's arguments as a launcher reads them (quoting, then %% for %)."""
    args, current, quoted, chars = [], "", False, iter(_string(value))
    started = False
    for ch in chars:
        if quoted:
            if ch == "\\":
                current += next(chars)
            elif ch == '"':
                quoted = False
            else:
                current += ch
        elif ch == '"':
            quoted = started = True
        elif ch == " ":
            if started:
                args.append(current)
            current, started = "", False
        else:
            current += ch
            started = True
    if started:
        args.append(current)
    return [a.replace("%%", "%") for a in args]


def _key(text: str, key: str) -> str:
    return next(line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "="))


def test_a_path_with_spaces_quotes_and_dollars_is_one_argument_and_tryexec_keeps_it_whole(tmp_path):
    entry = desktop_entry(SHIPPED, ODD)
    assert _exec_arguments(_key(entry, "Exec")) == [*ODD, "%U"]
    assert _string(_key(entry, "TryExec")) == ODD[0]
    validator = shutil.which("desktop-file-validate")
    if validator is None:
        pytest.fail("desktop-file-validate is missing (Debian's desktop-file-utils: ./test.sh installs it)")
    path = tmp_path / f"{APP_ID}.desktop"
    path.write_text(entry, encoding="utf-8")
    checked = subprocess.run([validator, str(path)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0 and "error" not in checked.stdout.lower(), checked.stdout + checked.stderr


def test_on_path_the_shipped_entry_is_installed_as_it_is(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    assert command_line() == ["ecp-desktop"]
    [desktop] = [p for p in install(tmp_path) if p.suffix == ".desktop"]
    assert desktop.read_text(encoding="utf-8") == SHIPPED and oct(desktop.stat().st_mode & 0o777) == "0o644"
