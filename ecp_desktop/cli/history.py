"""``ecp-desktop history``: a machine's definition versions from the inventory, newest first,
or the diff of two of them (no libvirt needed: a host that is away still has its history);
``--revert N`` gives the machine version N's settings back through Edit Hardware's plan and
flow (``hardware.revert``), as ``ecp-desktop edit`` does."""
from __future__ import annotations

import argparse
import sys
from typing import TextIO

from ..services.core import database_faults
from ..services.history import versions as history
from ..services.inventory.notes import known_machines
from .common import EXIT_CONNECTION, EXIT_OK, EXIT_USAGE, print_json, say, terminal_text
from .text import table

HELP = ("list a machine's configuration history from the inventory, newest first: each definition "
        "recorded, when, by whom (this app with its task, changed outside ECP Desktop, or imported) and "
        "what changed; --diff shows two versions' difference; --revert N gives the machine version N's settings "
        "back as an Edit Hardware task (refused, with every reason, when the version differs in what Edit "
        "Hardware does not write); exit 0 done, 1 the revert failed and was undone, 2 bad input or refused, "
        "3 the inventory or the host cannot be reached")


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser("history", help=HELP, description=HELP[:1].upper() + HELP[1:] + ".")
    parser.add_argument("machine", metavar="MACHINE", help="the machine's name or UUID")
    parser.add_argument("--host", metavar="URI", help="the machine's host, when its name is on several hosts")
    parser.add_argument("--diff", type=int, nargs="+", metavar="N",
                        help="the unified diff from version N to version M (--diff N M), or what version N "
                             "changed (--diff N: against the version before it)")
    parser.add_argument("--revert", type=int, metavar="N",
                        help="give the machine version N's settings back (vCPUs, memory, disks, interfaces, boot "
                             "order, title, description) as an Edit Hardware task: the previous definition back "
                             "if a step fails; the output says which changes wait for the next boot")
    parser.add_argument("--check-only", action="store_true",
                        help="with --revert: print the diff and when each change would take effect, or why the "
                             "version cannot be reverted; change nothing")
    parser.add_argument("--json", action="store_true",
                        help="print JSON: machine, host, versions (number, recorded_at, origin, task_id, by, "
                             "summary, digest); with --diff: machine, host, from, to, diff; with --revert: as "
                             "`ecp-desktop edit --json`")
    return parser


def run_from_args(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    if args.diff is not None and len(args.diff) > 2:
        say("--diff takes one version (what it changed) or two (from N to M)", err)
        return EXIT_USAGE
    if args.revert is not None and args.diff is not None:
        say("--revert and --diff go one at a time", err)
        return EXIT_USAGE
    if args.check_only and args.revert is None:
        say("--check-only goes with --revert N", err)
        return EXIT_USAGE
    if args.revert is not None:
        from .edit import run_hardware_plan
        return run_hardware_plan(args, lambda hardware, machine: _plan_revert(hardware, machine, args.revert),
                                 args.check_only, out, err)
    try:
        found = known_machines(args.machine, args.host)
        if len(found) != 1:
            where = "in the inventory" if not found else \
                f"on several hosts ({', '.join(f[0] for f in found)}); name one with --host"
            say(f"{args.machine!r} is not found {where}" if not found else f"{args.machine!r} is {where}", err)
            return EXIT_USAGE
        uri, uuid, name = found[0]
        versions = history.versions(uri, uuid)
        if args.diff is None:
            return _listing(name, uri, versions, args.json, out)
        by_number = {v.number: v for v in versions}
        missing = [n for n in args.diff if n not in by_number]
        if missing:
            say(f"{name} has no version {missing[0]} (it has {_numbers(versions)})", err)
            return EXIT_USAGE
        if len(args.diff) == 1:
            text = history.diff_with_previous(by_number[args.diff[0]].id)
            old_number = next((v.number for v in versions if v.number < args.diff[0]), None)  # newest first
        else:
            old_number = args.diff[0]
            text = history.diff(by_number[args.diff[0]].id, by_number[args.diff[1]].id)
    except Exception as exc:
        if not database_faults.retryable(exc):
            raise
        say(f"the inventory database cannot be read: {database_faults.describe(exc)}", err)
        return EXIT_CONNECTION
    if args.json:
        print_json({"machine": name, "host": uri, "from": old_number, "to": args.diff[-1], "diff": text}, out)
    else:
        for line in text.splitlines() or ["the two versions are the same"]:
            print(terminal_text(line), file=out)
    return EXIT_OK


async def _plan_revert(hardware, machine, number: int):
    """The plan reverting ``machine`` to its version ``number`` (``PlanError`` when it has none such)."""
    from ..services.hardware.revert import plan_machine_revert
    from ..services.hardware.service import PlanError
    versions = await hardware.inventory.executors.on_database(history.versions, machine.host_uri, machine.uuid)
    version = next((v for v in versions if v.number == number), None)
    if version is None:
        raise PlanError([f"{machine.name} has no version {number} (it has {_numbers(versions)})"])
    try:
        return await plan_machine_revert(hardware, machine, version)
    except history.UnknownVersion:
        raise PlanError([f"version {number} of {machine.name} was trimmed meanwhile"]) from None


def _numbers(versions: list[history.Version]) -> str:
    if not versions:
        return "none recorded"
    return f"versions {versions[-1].number} to {versions[0].number}"


def _listing(name: str, uri: str, versions: list[history.Version], as_json: bool, out: TextIO) -> int:
    if as_json:
        print_json({"machine": name, "host": uri, "versions": [v.as_json() for v in versions]}, out)
        return EXIT_OK
    if not versions:
        print(f"{terminal_text(name)}: no definition recorded yet (the next import or change records one)", file=out)
        return EXIT_OK
    rows = [(str(v.number), v.recorded_at.strftime("%Y-%m-%d %H:%M:%S") + " UTC", v.origin_text(), v.summary)
            for v in versions]
    for line in table(("VERSION", "RECORDED", "BY", "WHAT CHANGED"), rows):
        print(line, file=out)
    return EXIT_OK
