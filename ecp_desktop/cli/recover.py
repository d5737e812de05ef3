"""``ecp-desktop recover-host HOST_URI --confirm-down``: a dead host's machines defined and
started on other hosts from the inventory's last known definitions, without Qt (a plan first,
then one flow that is undone completely if a step fails)."""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, TextIO

from .text import table, terminal_text

if TYPE_CHECKING:  # the services are imported when the command runs: building the parser stays light
    from ..services.maintenance.recover import Outcome, RecoveryPlan

HELP = ("bring up a dead host's machines on other hosts: those that should run (as restore decides) and whose "
        "every disk is on storage a destination sees (the same pool path there, active, the volume there) are "
        "defined there from the inventory's last known definition and started, as one task undone completely "
        "if a step fails; machines on the dead host's own storage are listed with the reason. Only for a host "
        "that is really down: if it still runs, two copies of a machine write the same disks. Exit 0 done (or "
        "possible, with --check-only), 1 failed and undone (who is where is listed), 2 bad input (no "
        "--confirm-down), 3 a destination unreachable, 4 refused (the host answers, nothing can move: every "
        "reason listed)")


def add_parser(sub) -> argparse.ArgumentParser:
    """The sub-command, its --help starting with what it does (as cli/main.py's commands)."""
    parser = sub.add_parser("recover-host", help=HELP, description=HELP[:1].upper() + HELP[1:] + ".")
    parser.add_argument("host", metavar="HOST_URI", help="the dead host, e.g. qemu+ssh://host1/system")
    parser.add_argument("--confirm-down", action="store_true",
                        help="the host is down (powered off, fenced): required to recover anything")
    parser.add_argument("--to", metavar="URI", action="append", default=[],
                        help="a destination host (repeatable; default: every other connected host not in "
                             "maintenance)")
    parser.add_argument("--check-only", action="store_true",
                        help="print what would start where and what cannot (with why); change nothing "
                             "(no --confirm-down needed)")
    parser.add_argument("--json", action="store_true", help="print the plan, the task and where each machine is "
                                                            "now as JSON")
    return parser


def run_from_args(args: argparse.Namespace) -> int:
    return recover_host(args.host, args.to, getattr(args, "connect", []) or [], confirmed=args.confirm_down,
                        check_only=args.check_only, as_json=args.json)


PLAN_HEADER = ("MACHINE", "LAST STATE", "MEMORY", "VCPUS", "DESTINATION", "WHY NOT")


def plan_lines(plan: RecoveryPlan) -> list[str]:
    rows = [(r.machine.name, r.machine.state, f"{r.machine.memory_kib // 1024} MiB", r.machine.vcpus,
             r.destination or ("left" if r.left else "-"), r.reason) for r in plan.machines]
    lines = table(PLAN_HEADER, rows)
    lines += [terminal_text(f"  note: {note}") for note in plan.notes]
    return lines


def outcome_lines(outcome: Outcome) -> list[str]:
    rows = [(r.machine.name, r.destination, ", ".join(outcome.now_on.get(r.machine.uuid, [])) or "nowhere")
            for r in outcome.plan.moving]
    return table(("MACHINE", "PLANNED", "NOW ON"), rows)


def recover_host(host_uri: str, to: list[str], connect: list[str], *, confirmed: bool, check_only: bool,
                 as_json: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    import asyncio

    from .common import (EXIT_CONNECTION, EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, bad_uri, close,
                         connect_hosts, finish_interrupted_tasks, headless_services, print_tree, report_exit, say,
                         task_json)
    from ..services.core.aio import spawn
    from ..services.core.errors import install_quiet_error_handler
    from ..services.maintenance.recover import DestinationUnreachable, RecoveryRefused, RecoveryService
    from ..services.sharing import heartbeat

    if bad_uri([host_uri] + to + connect, err):
        return EXIT_USAGE
    if not confirmed and not check_only:
        say(f"recover-host defines and starts {host_uri}'s machines elsewhere: only for a host that is down "
            "(if it still runs, two copies of a machine write the same disks); say so with --confirm-down", err)
        return EXIT_USAGE
    install_quiet_error_handler()
    services = headless_services()

    async def plan_and_recover() -> int:
        beating = spawn(heartbeat.keep_beating())  # noqa: F841 (held while it runs)
        typed = list(dict.fromkeys([host_uri] + to + connect)) if (to or connect) else []
        await connect_hosts(services, typed, load=True, known=True)
        if host_uri not in services.inventory.hosts:
            await connect_hosts(services, [host_uri], load=True)
        recovery = RecoveryService(services.inventory, services.engine)
        report: dict = {"source": host_uri}
        try:
            if not check_only:
                await finish_interrupted_tasks(services, err)
            plan = await recovery.plan(host_uri, to or None)
        except DestinationUnreachable as exc:
            say(f"cannot reach {exc}", err)
            return report_exit(report, EXIT_CONNECTION, as_json, out)
        except RecoveryRefused as exc:
            say(f"refused: {exc}", err)
            return report_exit({**report, "refused": str(exc)}, EXIT_REFUSED, as_json, out)
        report["plan"] = plan.as_json()
        if not as_json:
            for line in plan_lines(plan):
                print(line, file=out)
        for r in plan.refused:
            say(f"{r.machine.name} cannot be recovered: {r.reason}", err)
        if not plan.possible:
            say(f"nothing of {host_uri} can be recovered", err)
            return report_exit(report, EXIT_REFUSED, as_json, out)
        if check_only:
            return report_exit(report, EXIT_OK, as_json, out)
        try:
            outcome = await recovery.run(plan)
        except RecoveryRefused as exc:
            say(f"refused: {exc}", err)
            return report_exit({**report, "refused": str(exc)}, EXIT_REFUSED, as_json, out)
        report["task"] = task_json(outcome.task) if outcome.task is not None else None
        report["machines"] = outcome.as_json()
        report["warnings"] = outcome.warnings
        for warning in outcome.warnings:
            say(warning, err)
        if not as_json:
            if outcome.task is not None:
                print_tree([outcome.task], False, out)
            for line in outcome_lines(outcome):
                print(line, file=out)
        if not outcome.done:
            if outcome.task is not None and outcome.task.status != "succeeded":
                say(f"failed: {outcome.task.outcome or outcome.task.error_message}", err)
            for r in outcome.plan.moving:
                where = outcome.now_on.get(r.machine.uuid, [])
                say(f"{r.machine.name} is on {', '.join(where) or 'no destination'}", err)
        return report_exit(report, EXIT_OK if outcome.done else EXIT_FAILED, as_json, out)

    try:
        return asyncio.run(plan_and_recover())
    finally:
        close(services)

