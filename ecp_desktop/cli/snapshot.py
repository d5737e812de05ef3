"""``ecp-desktop snapshot list|create|revert|delete MACHINE [NAME]``: the Snapshots tab without
a window, through the same path (the machine's lock, the task history, libvirt's errors)."""
from __future__ import annotations

import asyncio
import datetime as dt
import sys
from typing import TextIO

from .common import (EXIT_CONNECTION, EXIT_FAILED, EXIT_OK, EXIT_USAGE, bad_uri, close, connect_hosts, find_machine,
                     headless_services, print_json, print_tree, print_while_read, say)
from .text import table
from ..services.core.errors import HypervisorError, install_quiet_error_handler
from ..services.snapshots.info import SnapshotInfo, descendants
from ..services.snapshots.service import Snapshots
from ..services.tasks.operations import snapshot_problem
from ..services.tasks.records import SUCCEEDED
from ..services.tasks.tree import host_was_away

COMMANDS = ("list", "create", "revert", "delete")
HEADER = ("SNAPSHOT", "CURRENT", "TAKEN", "STATE", "HOLDS", "DESCRIPTION")


def run(command: str, machine_name: str, name: str | None, *, host_uri: str | None = None,
        connect: list[str] | None = None, description: str = "", memory: bool = False, external: bool = False,
        children: bool = False, as_json: bool = False, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Exit 0 done, 1 libvirt refused (its error on stderr), 2 bad input (a name, a machine or a
    snapshot that is not there), 3 the host unreachable."""
    connect = connect or []
    if bad_uri(connect + ([host_uri] if host_uri else []), err):
        return EXIT_USAGE
    if command in ("revert", "delete") and not name:
        say(f"snapshot {command} needs the snapshot's NAME", err)
        return EXIT_USAGE
    if command == "create":
        name = name or dt.datetime.now().strftime("snapshot-%Y%m%d-%H%M%S")
        problem = snapshot_problem(name, description)
        if problem:
            say(problem, err)
            return EXIT_USAGE
    install_quiet_error_handler()
    services = headless_services()
    snapshots = Snapshots(services.inventory, services.tasks)

    async def snapshot_command() -> int:
        hosts = await connect_hosts(services, connect or ([host_uri] if host_uri else []), load=True)
        machine, code = find_machine(services, hosts, machine_name, host_uri, err)
        if machine is None:
            return code
        try:
            found = await snapshots.list(machine)
        except HypervisorError as error:
            say(f"cannot read the snapshots of {machine.name}: {error.code_name}: {error.one_line()}", err)
            return EXIT_CONNECTION if host_was_away(error) else EXIT_FAILED
        names = {s.name for s in found}
        if command == "list":
            if name and name not in names:
                say(f"{machine.name} has no snapshot named {name!r}", err)
                return EXIT_USAGE
            shown = [s for s in found if not name or s.name == name or s.name in descendants(found, name)]
            print_while_read(lambda: _print_list(machine.name, machine.host_uri, shown, as_json, out), out)
            return EXIT_OK
        if command == "create" and name in names:
            say(f"{machine.name} has a snapshot named {name!r} already", err)
            return EXIT_USAGE
        if command != "create" and name not in names:
            say(f"{machine.name} has no snapshot named {name!r}", err)
            return EXIT_USAGE
        if command == "create":
            record = await snapshots.create(machine, name, description=description, memory=memory,
                                            external=external)
        elif command == "revert":
            record = await snapshots.revert(machine, name)
        else:
            record = await snapshots.delete(machine, name, children=children)
        await services.tasks.flush()  # in the history (with its id) before it is printed
        print_while_read(lambda: print_tree([record], as_json, out), out)
        if record.status == SUCCEEDED:
            return EXIT_OK
        error = record.error
        say(f"{record.title} failed: " + (f"{error.code_name}: {error.one_line()}" if error is not None
                                          else record.error_message), err)
        return EXIT_CONNECTION if host_was_away(error) else EXIT_FAILED

    try:
        return asyncio.run(snapshot_command())
    finally:
        close(services)


def _print_list(machine: str, host: str, shown: list[SnapshotInfo], as_json: bool, out: TextIO) -> None:
    if as_json:
        print_json({"machine": machine, "host": host, "snapshots": [s.as_json() for s in shown]}, out)
        return
    depth: dict[str, int] = {}
    rows = []
    for snap in shown:  # parents come before their children
        depth[snap.name] = depth.get(snap.parent, -1) + 1 if snap.parent in depth else 0
        lines = snap.description.splitlines()
        rows.append(("  " * depth[snap.name] + snap.name, "*" if snap.current else "", snap.created_text,
                     snap.state or "-", snap.kind, (lines[0] + (" …" if len(lines) > 1 else "")) if lines else ""))
    for line in table(HEADER, rows):
        print(line, file=out)
