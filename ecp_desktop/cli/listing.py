"""``ecp-desktop machines`` and ``hosts``: what the window's panes list, on a terminal."""
from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from .common import (EXIT_CONNECTION, EXIT_OK, EXIT_USAGE, bad_uri, close, connect_hosts, headless_services, print_json,
                     say)
from .text import local_time, memory_text, table
from ..services.core.errors import install_quiet_error_handler
from ..services.guests.address_watch import AddressWatch
from ..services.hosts.connection import HostConnection
from ..services.hosts.facts import version_text
from ..services.hosts.states import STATE_LABELS
from ..services.inventory.machines import MachineInfo
from ..services.maintenance.mark import Mark
from ..services.setup.startup import not_set_up_line


MACHINE_HEADER = ("NAME", "STATE", "HOST", "VCPUS", "MEMORY", "SEEN")
HOST_HEADER = ("HOST", "STATE", "URI", "HYPERVISOR", "CPUS", "MEMORY", "MACHINES", "MAINTENANCE")


def seen_column(m: MachineInfo) -> str:
    """The listing's last column (local time, as the window's tooltip); in JSON, ``live`` and
    ``last_seen`` (ISO, UTC) say the same."""
    if m.live:
        return "live"
    return f"last known, seen {local_time(m.last_seen)}" if m.last_seen else "last known"


def machine_row(m: MachineInfo, hosts: dict[str, HostConnection]) -> tuple:
    """A machine as the window's row shows it: its host's label, the state's words, memory in
    MiB or GiB."""
    host = hosts.get(m.host_uri)
    return (m.name, STATE_LABELS.get(m.state, m.state), host.label if host is not None else m.host_uri,
            m.vcpus, memory_text(m.memory_kib), seen_column(m))


def host_row(host: HostConnection, machine_count: int, maintenance: Mark | None) -> tuple:
    """A host as the hosts pane shows it; its maintenance mark in words ("no" without one)."""
    f = host.facts
    hypervisor = f"{f.driver_type} {version_text(f.hypervisor_version)}".strip()
    return (host.label, host.state.value, host.uri, hypervisor or "-", f.cpus or "-",
            memory_text(f.memory_mib * 1024) if f.memory_mib else "-", machine_count,
            maintenance.since_words() if maintenance is not None else "no")


def host_json(host: HostConnection, machine_count: int, maintenance: Mark | None) -> dict:
    """A host as ``hosts --json`` gives it; ``maintenance_since`` (ISO, UTC) and
    ``maintenance_by`` are null when it is not in maintenance."""
    f = host.facts
    return {
        "uri": host.uri, "label": host.label, "demo": host.is_demo, "state": host.state.value,
        "reason": host.reason, "driver": f.driver_type, "hostname": f.hostname,
        "libvirt_version": version_text(f.libvirt_version), "hypervisor_version": version_text(f.hypervisor_version),
        "cpu_model": f.cpu_model, "cpus": f.cpus, "memory_mib": f.memory_mib, "machines": machine_count,
        "maintenance": maintenance is not None,
        "maintenance_since": maintenance.as_json()["since"] if maintenance is not None else None,
        "maintenance_by": maintenance.by if maintenance is not None else None,
    }


async def _connect(services, connect: list[str], *, addresses: bool = False) -> tuple[list[HostConnection], str | None]:
    """The hosts, listed, and why setup is needed (None: it has run). The inventory checks
    before writing anything: before setup this lists live state and records nothing.
    ``addresses``: the running machines' addresses read too (one call per host). The
    maintenance marks are read as the hosts pane reads them (``services.maintenance_marks``)."""
    hosts = await connect_hosts(services, connect, load=True, known=True)
    await services.maintenance_marks.refresh()
    if addresses:
        services.addresses.watch(services, set(services.inventory.machines))
        await services.addresses.read_now()
        services.addresses.watch(services, set())
    return hosts, await services.inventory.check_setup()


def machine_json(m: MachineInfo, addresses: AddressWatch) -> dict:
    """A machine as ``machines --json`` gives it: its facts, and each interface's addresses
    with where they came from (empty when it does not run or none is known)."""
    return {**m.as_json(), "addresses": [{"mac": a.mac, "addresses": a.addresses, "source": a.source}
                                         for a in addresses.addresses(m.key).values()]}


def _print(rows: list, as_json: bool, out: TextIO, header: tuple[str, ...]) -> None:
    if as_json:
        print_json(rows, out)
    else:
        print("\n".join(table(header, rows)), file=out)


def run(command: str, connect: list[str], as_json: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run ``machines`` or ``hosts``; the database must already be open."""
    if bad_uri(connect, err):
        return EXIT_USAGE
    install_quiet_error_handler()
    services = headless_services()
    try:
        hosts, not_set_up = asyncio.run(_connect(services, connect, addresses=command == "machines" and as_json))
        inventory = services.inventory
        if command == "machines":
            machines = sorted(inventory.machines.values(), key=lambda m: (m.host_uri, m.name.casefold()))
            if as_json:
                _print([machine_json(m, services.addresses) for m in machines], as_json, out, MACHINE_HEADER)
            else:  # grouped as the Host column reads: by label
                rows = [machine_row(m, inventory.hosts) for m in machines]
                _print(sorted(rows, key=lambda r: (r[2].casefold(), r[0].casefold())), as_json, out, MACHINE_HEADER)
        else:
            marks = services.maintenance_marks.marks
            _print([(host_json if as_json else host_row)(h, len(inventory.machines_of(h.uri)), marks.get(h.uri))
                    for h in hosts], as_json, out, HOST_HEADER)
        failed = [h for h in hosts if not h.connected]
    finally:
        close(services)
    if not_set_up:  # on stderr: stdout stays the listing (or JSON) scripts read
        say(not_set_up_line(not_set_up), err)
    for host in failed:
        say(f"cannot connect to {host.uri}: {host.reason}", err)
    return EXIT_CONNECTION if failed else EXIT_OK
