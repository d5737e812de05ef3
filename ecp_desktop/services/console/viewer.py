"""The graphical console: a machine's VNC or SPICE display in virt-viewer, one per machine.

virt-viewer is given the libvirt URI and the machine's UUID: it asks libvirt where the
display listens, tunnels through SSH for ``qemu+ssh://`` hosts, reconnects when the machine
restarts and titles its window with the machine's name. The command is an argument list
(never a shell string); the URI passes the app's allowlist first, and the UUID follows
``--`` so that nothing from the host is read as an option.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from ..hosts.connection import HostConnection
from ..hosts.states import ACTIVE_STATES
from ..libvirt_xml.domain import Domain, read_domain
from ..hosts.uri import InvalidUri, parse_uri

VIEWER = "virt-viewer"  # Debian's virt-viewer package (it also ships remote-viewer)
TUNNELLING_TRANSPORTS = {"ssh"}  # virt-viewer tunnels the display through these itself
_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")


class ConsoleProblem(Exception):
    """The console cannot be opened; the message says why in plain words, and what to do."""


def find_viewer(which: Callable[[str], str | None] = shutil.which) -> str:
    """The viewer's path, or ConsoleProblem saying how to install it."""
    path = which(VIEWER)
    if not path:
        raise ConsoleProblem("No graphical console viewer is installed: install virt-viewer "
                             "(on Debian or Ubuntu: sudo apt install virt-viewer).")
    return path


def viewer_command(viewer: str, uri: str, machine: Domain) -> list[str]:
    """The argument list that shows ``machine``'s display (read from its live XML), or
    ConsoleProblem when there is none this machine can reach."""
    name = machine.name or machine.uuid
    try:
        parsed = parse_uri(uri)
    except InvalidUri as exc:
        raise ConsoleProblem(f"The host's address is not one this app opens: {exc}") from None
    if not _UUID.fullmatch(machine.uuid):
        raise ConsoleProblem(f"{name} has no valid UUID in its definition.")
    displays = machine.displays
    if not displays:
        others = sorted({g.kind for g in machine.graphics if g.kind})
        also = f" (its {', '.join(others)} display cannot be shown by virt-viewer)" if others else ""
        raise ConsoleProblem(f"{name} has no graphical display: no VNC or SPICE device{also}. "
                             "Add one in its definition, or use its serial console (the Console tab).")
    if parsed.is_test:
        raise ConsoleProblem(f"{name} runs on libvirt's test driver, whose displays are not real: "
                             "there is nothing to show.")
    if parsed.is_remote and parsed.transport not in TUNNELLING_TRANSPORTS and all(d.loopback_only for d in displays):
        where = displays[0].socket or displays[0].listen or "no network address"
        raise ConsoleProblem(
            f"{name}'s display listens only on {parsed.host or 'the host'} itself ({where}), and this connection "
            f"({parsed.transport or 'direct'}) cannot tunnel to it. Connect to the host over SSH "
            f"(qemu+ssh://{parsed.host}/system), or make the display listen on an address this computer reaches.")
    return [viewer, f"--connect={uri}", "--uuid", "--reconnect", "--", machine.uuid]


@dataclass
class ViewerOutcome:
    started: bool   # False: one was already open for this machine (nothing new started)
    message: str


@dataclass
class _Viewer:
    process: Any  # subprocess.Popen
    errors: IO[bytes]


class ViewerSessions:
    """The viewers this app started, one per machine ((host URI, UUID)).

    Another process's window cannot be raised portably (X11 and Wayland differ, and the
    viewer offers no remote control), so a second Open Console starts nothing and says the
    viewer is open."""

    def __init__(self, popen: Callable[..., Any] = subprocess.Popen) -> None:
        self._popen = popen
        self._viewers: dict[tuple[str, str], _Viewer] = {}

    def is_open(self, key: tuple[str, str]) -> bool:
        viewer = self._viewers.get(key)
        return viewer is not None and viewer.process.poll() is None

    def launch(self, key: tuple[str, str], argv: list[str], name: str) -> ViewerOutcome:
        if self.is_open(key):
            return ViewerOutcome(False, f"The console of {name} is already open in its own window.")
        self._forget(key)
        errors = tempfile.TemporaryFile(prefix="ecp-viewer-")
        try:
            process = self._popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                                  close_fds=True, start_new_session=True)
        except OSError as exc:
            errors.close()
            raise ConsoleProblem(f"The viewer could not be started: {exc.strerror or exc}") from None
        self._viewers[key] = _Viewer(process, errors)
        return ViewerOutcome(True, f"Opening the console of {name}…")

    def failure(self, key: tuple[str, str]) -> str:
        """What the viewer said on stderr if it has ended with a failure ("" while it runs or
        after a clean exit). Its words are the host's data: shown as plain text."""
        viewer = self._viewers.get(key)
        if viewer is None or viewer.process.poll() in (None, 0):
            return ""
        viewer.errors.seek(0)
        text = viewer.errors.read()[-2000:].decode("utf-8", "replace").strip()
        return text or f"the viewer exited with status {viewer.process.returncode}"

    def _forget(self, key: tuple[str, str]) -> None:
        viewer = self._viewers.pop(key, None)
        if viewer is not None:
            viewer.errors.close()

    def close_all(self) -> None:
        """End every viewer still open (the app is quitting and closes its consoles)."""
        for key, viewer in list(self._viewers.items()):
            if viewer.process.poll() is None:
                viewer.process.terminate()
                try:
                    viewer.process.wait(2)
                except subprocess.TimeoutExpired:
                    viewer.process.kill()
                    viewer.process.wait(2)
            self._forget(key)


async def open_viewer(sessions: ViewerSessions, host: HostConnection, uuid: str, name: str,
                      viewer: str | None = None) -> ViewerOutcome:
    """Machine → Open Console: read the live definition (on the host's worker thread), build
    the command and start the viewer unless one is open for this machine. Raises
    ConsoleProblem (said to the user as it is) or HypervisorError (the error dialog)."""
    key = (host.uri, uuid)
    if sessions.is_open(key):
        return ViewerOutcome(False, f"The console of {name} is already open in its own window.")
    viewer = viewer or find_viewer()
    machine = await host.call(lambda conn: read_domain(conn.lookupByUUIDString(uuid)),
                              operation="open console", machine=name)
    return sessions.launch(key, viewer_command(viewer, host.uri, machine), machine.name or name)


def can_open_console(selected) -> bool:
    """Machine → Open Console applies: one selected machine, shown live and running."""
    return len(selected) == 1 and selected[0].live and selected[0].state in ACTIVE_STATES
