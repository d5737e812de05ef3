"""``ecp-desktop start|shutdown|force-off|reboot|pause|resume MACHINE...`` and ``rename``: the
window's actions without a window, through the same path (machine lock, task history,
desired state)."""
from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from .common import (EXIT_CONNECTION, EXIT_FAILED, EXIT_OK, EXIT_USAGE, bad_uri, close, connect_hosts, find_machine,
                     headless_services, print_tree, print_while_read, say)
from ..services.actions.lifecycle import ACTIONS
from ..services.actions.host_away import reconnect_wait_from_env
from ..services.core.errors import Refusal, install_quiet_error_handler
from ..services.tasks.records import SUCCEEDED
from ..services.tasks.tree import host_was_away

# command name -> action name
COMMANDS = {"start": "start", "shutdown": "shutdown", "force-off": "force_off", "reboot": "reboot",
            "pause": "pause", "resume": "resume"}


def run(command: str, machines: list[str], host_uri: str | None, connect: list[str], as_json: bool,
        out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Exit 0 all done, 1 some failed (each with libvirt's error), 2 bad input, 3 a host
    unreachable (3 wins over 1: a host that went away and did not come back within
    ECP_DESKTOP_RECONNECT_WAIT, 30 s, leaves its machines' outcome to a later run)."""
    if bad_uri(connect + ([host_uri] if host_uri else []), err):
        return EXIT_USAGE
    action = ACTIONS[COMMANDS[command]]
    install_quiet_error_handler()
    services = headless_services()
    services.lifecycle.reconnect_wait = reconnect_wait_from_env()

    async def act_on_machines() -> int:
        hosts = await connect_hosts(services, connect or ([host_uri] if host_uri else []), load=True)
        chosen, codes = [], []
        for wanted in dict.fromkeys(machines):  # each machine once, in the order given
            machine, code = find_machine(services, hosts, wanted, host_uri, err)
            if machine is None:
                codes.append(code)
            else:
                chosen.append(machine)
        if codes:
            return max(codes)  # nothing is done when a name is wrong: 3 over 2 (a host is down)
        records = await services.lifecycle.apply_many(action.name, chosen)
        await services.tasks.flush()  # in the history (and with their ids) before we print them
        roots = list(dict.fromkeys(record.root() for record in records))
        print_while_read(lambda: print_tree(roots, as_json, out), out)
        failed = [r for r in records if r.status != SUCCEEDED]
        for record in failed:
            error = record.error
            detail = f"{error.code_name}: {error.one_line()}" if error is not None else record.error_message
            say(f"{record.title} failed: {detail}", err)
        if any(host_was_away(r.error) for r in failed):
            return EXIT_CONNECTION
        return EXIT_FAILED if failed else EXIT_OK

    try:
        return asyncio.run(act_on_machines())
    finally:
        close(services)


def rename(machine: str, new_name: str, host_uri: str | None, connect: list[str], as_json: bool,
           out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Exit 0 renamed, 1 libvirt refused, 2 bad input (the name, the machine's state), 3 the host
    unreachable."""
    if bad_uri(connect + ([host_uri] if host_uri else []), err):
        return EXIT_USAGE
    install_quiet_error_handler()
    services = headless_services()

    async def rename_it() -> int:
        hosts = await connect_hosts(services, connect or ([host_uri] if host_uri else []), load=True)
        found, code = find_machine(services, hosts, machine, host_uri, err)
        if found is None:
            return code
        try:
            record = await services.renamer.rename(found, new_name)
        except Refusal as refusal:
            say(f"not renamed: {refusal}", err)
            return EXIT_USAGE
        await services.tasks.flush()
        print_while_read(lambda: print_tree([record], as_json, out), out)
        if record.status == SUCCEEDED:
            return EXIT_OK
        say(f"{record.title} failed: {record.error_message}", err)
        return EXIT_CONNECTION if host_was_away(record.error) else EXIT_FAILED

    try:
        return asyncio.run(rename_it())
    finally:
        close(services)
