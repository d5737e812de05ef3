"""What every headless command shares: exit codes, URI checks, connecting the hosts,
finding a machine by name or UUID, printing JSON and task trees, and closing down."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging
import os
import json
import sys
from typing import TextIO

from ..services.composition import Services, build_services
from ..services.core.executors import Executors
from ..services.hosts.connection import HostConnection
from ..services.hosts.probe import DEMO_URI
from ..services.hosts.uri import InvalidUri, parse_uri
from ..services.inventory.machines import MachineInfo
from ..services.config import app_log, approved_hosts, preferences
from ..services.hosts.libvirt_loop import start_event_thread
from ..services.inventory import approvals
from ..services.setup.startup import HostChoice, initial_hosts
from ..services.sharing import heartbeat
from ..services.tasks.interrupted import finish_interrupted
from ..services.tasks.records import TaskRecord
from .text import table, terminal_text

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONNECTION, EXIT_REFUSED = 0, 1, 2, 3, 4


def say(message: str, err: TextIO = sys.stderr) -> None:
    """One line for the user on stderr, prefixed like every message of ours (whatever the
    message quotes cannot end the line or steer the terminal)."""
    print(f"ecp-desktop: {terminal_text(message)}", file=err)


def bad_uri(uris: list[str], err: TextIO) -> bool:
    """Say which URI cannot be used (one line on stderr); True when one cannot."""
    try:
        for uri in uris:
            parse_uri(uri)
    except InvalidUri as exc:
        say(str(exc), err)
        return True
    return False


def time_limit(variable: str, default: float) -> float | None:
    """Seconds from the environment (0: no limit); a value that is not a number gives the default."""
    try:
        seconds = float(os.environ.get(variable, default))
    except ValueError:
        return default
    return seconds if seconds > 0 else None


def headless_services() -> Services:
    """The app's services without a window: no events, no reconnect, nothing loaded yet.

    Every connection has keepalive (libvirt's event loop runs on a daemon thread here) and
    time limits, so a host that stops answering ends the command with exit 3 in bounded
    time: ECP_DESKTOP_OPEN_TIMEOUT (30 s) for an open, ECP_DESKTOP_CALL_TIMEOUT (600 s, a
    big disk's clone is one call) for a call."""
    start_headless_logging()
    start_event_thread()
    return build_services(Executors(), keepalive=True, events=False, reconnect=False, auto_load=False,
                          open_timeout=time_limit("ECP_DESKTOP_OPEN_TIMEOUT", 30.0),
                          call_timeout=time_limit("ECP_DESKTOP_CALL_TIMEOUT", 600.0))


def start_headless_logging() -> None:
    """The log file, as the window keeps it (every libvirt error a line), at the level of the
    preferences; nothing on the console: a command says what matters itself. Idempotent."""
    app_log.start_logging(getattr(logging, preferences.current().log_level), console=False)


def _choices(uris: list[str]) -> tuple[list[HostChoice], set[str]]:
    """Blocking (the database thread): typed URIs (this user's: approved now) or the
    configured hosts, and the URIs this user approved."""
    if uris:
        approved_hosts.approve(uris)
        return [HostChoice(uri) for uri in uris], approvals.approved_uris()
    return initial_hosts(), approvals.approved_uris()


async def connect_hosts(services: Services, uris: list[str], *, load: bool, known: bool = False
                        ) -> list[HostConnection]:
    """Connect ``uris`` (or the configured hosts this user approved) at once; with ``load``,
    list their machines; with ``known``, the inventory's last known rows first (they stay for
    a host that does not answer). A host only a row names is listed, with the reason, not
    connected.

    Typed URIs are for this command only: a new one is recorded (its machines with it) as a
    host that does not connect at start, so a later command or the window does not try it; a
    configured host keeps its setting. Only setup, the wizard and Add Connection configure."""
    loop = asyncio.get_running_loop()
    choices, allowed = await loop.run_in_executor(services.executors.database, _choices, uris)
    hosts = [services.inventory.add_host(c.uri, label=c.label, is_demo=c.is_demo) for c in choices]
    for host in hosts:
        if host.uri not in allowed:
            host.keep_closed(approved_hosts.unapproved_reason(host.uri))
    if known:
        await services.inventory.show_known([h.uri for h in hosts])
    autoconnect = not uris
    connected = await asyncio.gather(*(services.inventory.connect_host(h, autoconnect=autoconnect)
                                       if h.uri in allowed else _no() for h in hosts))
    if load:
        await asyncio.gather(*(services.inventory.load_host(h) for h, ok in zip(hosts, connected, strict=True)
                               if ok))
    return hosts


async def _no() -> bool:
    return False


DEMO_HOST_NOTE = (f"note: {DEMO_URI} (the demo host) lives inside each process that opens it: this command "
                  "began from its default state, its changes end with it, and the window (another process) "
                  "does not see them")


def acted_on_demo_host(services: Services) -> bool:
    """Whether a task of this command ran on the demo host, whose libvirt state (its machines,
    their states) each process holds for itself."""
    return any(t.host_uri == DEMO_URI and t.started_at is not None and not t.from_history
               for t in services.tasks.tasks)


def close(services: Services) -> None:
    """Let the task history reach the database, leave the heartbeat table, close everything;
    after a task on the demo host, say on stderr that its change stays in this process."""
    if acted_on_demo_host(services):
        say(DEMO_HOST_NOTE, sys.stderr)
    services.executors.database.submit(lambda: None).result()
    try:
        services.executors.database.submit(heartbeat.leave).result(timeout=5)
    except Exception:  # noqa: BLE001  (no heartbeat table before setup; a database gone)
        pass
    services.inventory.close_all()
    services.executors.shutdown()


def find_machine(services: Services, hosts: list[HostConnection], wanted: str, host_uri: str | None,
                 err: TextIO, *, exclude_host: str = "") -> tuple[MachineInfo | None, int]:
    """The one machine named (or with the UUID) ``wanted`` on the connected hosts, else
    (None, exit code) after saying why: not found (3 when a host is down, else 2) or on
    several hosts (2: name one with --host)."""
    found = [m for m in services.inventory.machines.values()
             if wanted in (m.name, m.uuid) and m.host_uri != exclude_host
             and (host_uri is None or m.host_uri == host_uri)]
    if len(found) == 1:
        return found[0], EXIT_OK
    if found:
        say(f"{wanted!r} is on several hosts ({', '.join(sorted(m.host_uri for m in found))}); "
            "name one with --host URI", err)
        return None, EXIT_USAGE
    down = [f"{h.uri}: {h.reason}" if h.reason else h.uri for h in hosts if not h.connected]
    say(f"no machine named {wanted!r} on the connected hosts"
        + (f" (not connected: {'; '.join(down)})" if down else ""), err)
    return None, EXIT_CONNECTION if down else EXIT_USAGE


def print_json(data, out: TextIO) -> None:
    json.dump(data, out, indent=2, ensure_ascii=False)
    out.write("\n")


def task_json(record: TaskRecord) -> dict:
    data = {
        "id": record.db_id, "kind": record.kind, "title": record.title, "status": record.status,
        "role": record.role, "host": record.host_uri, "target": record.target_name,
        "progress": record.progress, "attempts": record.attempts,
        "started": record.started_at.isoformat(timespec="seconds") if record.started_at else None,
        "finished": record.finished_at.isoformat(timespec="seconds") if record.finished_at else None,
        "outcome": record.outcome,
    }
    if record.error is not None:
        data["error"] = dict(record.error.fields())
    if record.children:
        data["children"] = [task_json(c) for c in record.children]
    return data


TREE_HEADER = ("TASK", "STATUS", "STARTED", "OUTCOME")


def tree_rows(roots: list[TaskRecord]) -> list[tuple[str, str, str, str]]:
    """A row per task, depth first, each indented under its parent (a top-level task with its
    number, for `tasks retry ID`)."""
    rows = []

    def add(record: TaskRecord, depth: int) -> None:
        when = record.started_at.strftime("%Y-%m-%d %H:%M:%S") if record.started_at else "-"
        tag = " [rollback]" if record.role == "rollback" else ""
        number = f"#{record.db_id} " if depth == 0 and record.db_id is not None else ""
        rows.append((f"{'  ' * depth}{number}{record.title}{tag}", record.status, when,
                     record.outcome))
        for child in record.children:
            add(child, depth + 1)
    for root in roots:
        add(root, 0)
    return rows


def print_tree(roots: list[TaskRecord], as_json: bool, out: TextIO) -> None:
    """Task trees as JSON, or a table: a header line, then a line per task."""
    if as_json:
        print_json([task_json(r) for r in roots], out)
        return
    for line in table(TREE_HEADER, tree_rows(roots)):
        print(line, file=out)


def print_while_read(write: Callable[[], None], out: TextIO) -> bool:
    """Run ``write`` (printing to ``out``) and flush; False when the reader closed ``out``
    early (``| head -1``). The work is done by then and its exit code stands: the rest of the
    output goes nowhere, and stderr still names every failure. (SIGPIPE's default action is
    not restored: libvirt's socket shares the signal, see cli/main.py.)"""
    try:
        write()
        out.flush()
        return True
    except BrokenPipeError:
        try:
            fd = out.fileno()
        except (AttributeError, OSError, ValueError):
            return False
        null = os.open(os.devnull, os.O_WRONLY)  # what is still buffered must not fail again at exit
        os.dup2(null, fd)
        os.close(null)
        return False


async def finish_interrupted_tasks(services: Services, err: TextIO) -> None:
    """Before a command changes anything: finish (undo) what a crashed instance left in flight,
    and say what was finished."""
    for line in (await finish_interrupted(services.engine)).lines():
        say(f"finished an interrupted task: {line}", err)


def report_exit(report: dict, code: int, as_json: bool, out: TextIO) -> int:
    """End a command that builds a JSON report: print it (with its exit code) when asked; the code."""
    if as_json:
        print_json({**report, "exit": code}, out)
    return code
