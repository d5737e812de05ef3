"""Which running copy of the app owns a task, and whether that copy is still alive.

An owner is ``hostname:pid:start`` where start is the process's start time in clock
ticks since boot (``/proc/PID/stat``), so a recycled PID is not mistaken for the
owner. Tasks owned by another machine are left to that machine.
"""
from __future__ import annotations

import os
import socket


def _start_ticks(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return ""
    # the command name (field 2) may hold spaces and parentheses: split after its last ")"
    return stat.rsplit(")", 1)[1].split()[19]


def instance_id(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


INSTANCE_ID = instance_id()


def owner_alive(owner: str) -> bool | None:
    """True/False for an owner on this machine; None when it ran elsewhere (unknown)."""
    try:
        host, pid, start = owner.rsplit(":", 2)
    except ValueError:
        return False  # written by an older version: nobody runs it any more
    if host != socket.gethostname():
        return None
    return pid.isdigit() and _start_ticks(int(pid)) == start and start != ""


def started_by(owner: str) -> str:
    """An owner in words: "workstation-2 (process 4711)"."""
    try:
        host, pid, _start = owner.rsplit(":", 2)
    except ValueError:
        return owner or "an unknown instance"
    return f"{host} (process {pid})"


def owner_label(owner: str) -> str:
    """An owner in a few words for a narrow column: "process 4711" on this computer, the
    computer's short name ("workstation-2") for another one."""
    try:
        host, pid, _start = owner.rsplit(":", 2)
    except ValueError:
        return owner or "unknown"
    return f"process {pid}" if host == socket.gethostname() else host.split(".", 1)[0]
