"""Headless task commands: ``clone-template``, ``tasks`` and ``finish-interrupted`` (no Qt)."""
from __future__ import annotations

import asyncio
import itertools
import sys
from typing import TextIO

from .common import (EXIT_CONNECTION, EXIT_FAILED, EXIT_OK, EXIT_USAGE, bad_uri, close, connect_hosts, find_machine,
                     finish_interrupted_tasks, headless_services, print_json, print_tree, say, terminal_text)
from ..services.sharing import heartbeat
from ..services.core.aio import spawn
from ..services.core.errors import install_quiet_error_handler
from ..services.core.errors import Refusal
from ..services.tasks.interrupted import InterruptedReport, finish_interrupted, retry_rollback
from ..services.tasks.records import SUCCEEDED, build_trees
from ..services.tasks import store as task_store
from ..services.actions.templates import PlanError, clone_pattern

def clone_template(template: str, count: int, pattern: str | None, start: bool, host_uri: str | None,
                   connect: list[str], as_json: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr, *,
                   leave_out_disks: bool = False, linked: bool = False) -> int:
    if bad_uri(connect + ([host_uri] if host_uri else []), err):
        return EXIT_USAGE
    install_quiet_error_handler()
    services = headless_services()

    async def plan_and_clone() -> int:
        beating = spawn(heartbeat.keep_beating())  # noqa: F841 (held while it runs)
        hosts = await connect_hosts(services, connect or ([host_uri] if host_uri else []), load=True)
        await finish_interrupted_tasks(services, err)
        machine, code = find_machine(services, hosts, template, host_uri, err)
        if machine is None:
            return code
        names = {m.name for m in services.inventory.machines_of(machine.host_uri)}
        try:
            flow = await services.templates.plan(machine.host_uri, machine.uuid, count,
                                                 clone_pattern(machine.name, count, names) if pattern is None
                                                 else pattern, start=start,
                                                 leave_out_disks=leave_out_disks, linked=linked)
        except PlanError as exc:
            say(str(exc), err)
            return EXIT_USAGE
        root = await services.templates.run(flow)
        print_tree([root], as_json, out)
        return EXIT_OK if root.status == SUCCEEDED else EXIT_FAILED

    try:
        return asyncio.run(plan_and_clone())
    finally:
        close(services)


def finish_interrupted_now(connect: list[str], as_json: bool, out: TextIO = sys.stdout,
                           err: TextIO = sys.stderr) -> int:
    """Finish (roll back) what a crashed instance left in flight; exit 3 if a host was unreachable."""
    install_quiet_error_handler()
    services = headless_services()

    async def finish_now() -> InterruptedReport:
        await connect_hosts(services, connect, load=False)
        return await finish_interrupted(services.engine)
    try:
        report = asyncio.run(finish_now())
    finally:
        close(services)
    if as_json:
        print_json(report.as_json(), out)
    else:
        for line in report.lines() or ["nothing to finish"]:
            print(terminal_text(line), file=out)
    return EXIT_CONNECTION if report.waiting else EXIT_OK


def retry(words: list[str], connect: list[str], as_json: bool, out: TextIO = sys.stdout,
          err: TextIO = sys.stderr) -> int:
    """``tasks retry ID``: run the rollback of a flow whose rollback failed again."""
    if len(words) != 2 or words[0] != "retry" or not words[1].isdigit():
        say("usage: tasks retry ID (the task's number, from `tasks`)", err)
        return EXIT_USAGE
    if bad_uri(connect, err):
        return EXIT_USAGE
    install_quiet_error_handler()
    services = headless_services()

    async def retry_now():
        beating = spawn(heartbeat.keep_beating())  # noqa: F841 (held while it runs)
        await connect_hosts(services, connect, load=False)
        return await retry_rollback(services.engine, int(words[1]))
    try:
        outcome = asyncio.run(retry_now())
    except Refusal as exc:
        say(str(exc), err)
        return EXIT_FAILED
    finally:
        close(services)
    if outcome.unreachable:
        for uri in outcome.unreachable:
            say(f"not retried: {uri} is not connected; still left behind: {'; '.join(outcome.left)}", err)
        return EXIT_CONNECTION
    print_tree([outcome.root], as_json, out)
    for line in outcome.left:
        say(f"still left behind: {line}", err)
    return EXIT_FAILED if outcome.left else EXIT_OK


def list_tasks(limit: int, as_json: bool, out: TextIO = sys.stdout) -> int:
    """The ``limit`` latest top-level tasks with their trees: newest first, as the window's
    Tasks pane lists them (JSON: oldest first, as it always was)."""
    roots, _records = build_trees(task_store.recent_trees(limit), itertools.count(1))
    print_tree(roots if as_json else roots[::-1], as_json, out)
    return EXIT_OK
