"""``ecp-desktop delete MACHINE...``: Machine → Delete… without a window, through the same plan
and flow (services/actions/deletion.py)."""
from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

from ..services.actions.deletion import DeletePlan
from ..services.core.errors import HypervisorError, Refusal, install_quiet_error_handler
from ..services.tasks.records import SUCCEEDED
from ..services.tasks.tree import host_was_away
from .common import (EXIT_CONNECTION, EXIT_FAILED, EXIT_OK, EXIT_USAGE, bad_uri, close, connect_hosts, find_machine,
                     headless_services, print_json, print_tree, print_while_read, say, terminal_text)

HELP = ("delete machines as Machine → Delete… does: undefined (with snapshot metadata, saved state, UEFI "
        "variables), then the chosen volumes deleted, last; a disk another machine uses is never deleted. Without "
        "--yes it prints what it would delete and exits 2; exit 0 deleted, 1 failed (what is left on stderr), "
        "2 bad input, 3 a host unreachable")


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser("delete", help=HELP, description=HELP[:1].upper() + HELP[1:] + ".")
    parser.add_argument("machines", nargs="+", metavar="MACHINE", help="a machine's name or UUID")
    parser.add_argument("--disks", default="default", metavar="all|none|TARGET,...",
                        help="which disks' volumes to delete: all (every one that may be), none, or targets "
                             "(vda,vdb); default: every disk in a pool that no other machine uses")
    parser.add_argument("--force-off", action="store_true", help="a running machine is forced off first")
    parser.add_argument("--yes", action="store_true", help="delete (without it: print what would be deleted)")
    parser.add_argument("--host", metavar="URI", help="the machines' host, when a name is on several hosts")
    parser.add_argument("--json", action="store_true", help="print JSON: the plans, or the task trees")
    return parser


def chosen_disks(plan: DeletePlan, disks: str) -> set[str]:
    if disks == "none":
        return set()
    if disks == "default":
        return {d.target for d in plan.disks if d.ticked}
    if disks == "all":
        return {d.target for d in plan.disks if not d.why_kept}
    return {t.strip() for t in disks.split(",") if t.strip()}


def run_from_args(args, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    if bad_uri(args.connect + ([args.host] if args.host else []), err):
        return EXIT_USAGE
    install_quiet_error_handler()
    services = headless_services()

    async def delete() -> int:
        hosts = await connect_hosts(services, args.connect or ([args.host] if args.host else []), load=True)
        plans, codes = [], []
        for wanted in dict.fromkeys(args.machines):
            machine, code = find_machine(services, hosts, wanted, args.host, err)
            if machine is None:
                codes.append(code)
                continue
            try:
                plans.append(await services.deleter.plan(machine))
            except HypervisorError as error:
                say(f"{machine.name}: {error.one_line()}", err)
                codes.append(EXIT_CONNECTION if host_was_away(error) else EXIT_FAILED)
        if codes:
            return max(codes)  # nothing is deleted when one name is wrong
        if not args.yes:
            _print_plans(plans, args, out)
            say("nothing deleted: add --yes to delete", err)
            return EXIT_USAGE
        records = []
        for plan in plans:
            try:
                records.append(await services.deleter.delete(plan, chosen_disks(plan, args.disks),
                                                             force_off=args.force_off))
            except Refusal as refusal:
                say(f"{plan.machine.name} not deleted: {refusal}", err)
                return EXIT_USAGE
        await services.tasks.flush()
        print_while_read(lambda: print_tree(records, args.json, out), out)
        failed = [r for r in records if r.status != SUCCEEDED]
        for record in failed:
            say(f"{record.title}: {record.status}: {record.error_message}; {record.outcome}", err)
        if any(host_was_away(r.error) for r in failed):
            return EXIT_CONNECTION
        return EXIT_FAILED if failed else EXIT_OK

    try:
        return asyncio.run(delete())
    finally:
        close(services)


def _print_plans(plans: list[DeletePlan], args, out: TextIO) -> None:
    if args.json:
        print_json([{**p.as_json(), "would_delete": sorted(chosen_disks(p, args.disks))} for p in plans], out)
        return
    for plan in plans:
        chosen = chosen_disks(plan, args.disks)
        state = " (running: --force-off forces it off first)" if plan.running else ""
        print(terminal_text(f"{plan.machine.name} on {plan.machine.host_uri}{state}; "
                            f"{plan.snapshots} snapshot(s) go with it"), file=out)
        for disk in plan.disks:
            verdict = "delete" if disk.target in chosen else f"keep ({disk.why_kept or 'not chosen'})"
            print(terminal_text(f"  {disk.target:<6} {disk.device:<6} {disk.source}  {verdict}"), file=out)
