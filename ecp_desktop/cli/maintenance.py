"""``ecp-desktop maintenance`` and ``ecp-desktop evacuate``: a host's maintenance mark, and
moving every machine off a host (a plan first, then one flow), without Qt."""
from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from .common import (EXIT_CONNECTION, EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, bad_uri, close, connect_hosts,
                     finish_interrupted_tasks, headless_services, print_json, print_tree, report_exit, say,
                     task_json)
from .text import table, terminal_text
from ..services.core.aio import spawn
from ..services.core.errors import install_quiet_error_handler
from ..services.maintenance import mark
from ..services.maintenance.evacuate import EvacuationRefused, EvacuationService, HostsUnreachable, Outcome, stayed
from ..services.maintenance.return_home import ReturnHome
from ..services.maintenance.plan import Plan
from ..services.sharing import heartbeat


def maintenance_mark(host_uri: str, state: str | None, as_json: bool, out: TextIO = sys.stdout,
                     err: TextIO = sys.stderr) -> int:
    """Show (``state`` None), set (on) or clear (off) the host's mark; exit 2 for a host the
    inventory does not have."""
    if bad_uri([host_uri], err):
        return EXIT_USAGE
    if state is not None and not mark.set_maintenance(host_uri, state == "on"):
        say(f"no host {host_uri} in the inventory (setup or Add Connection adds hosts)", err)
        return EXIT_USAGE
    current = mark.mark_of(host_uri)
    if as_json:
        print_json({"host": host_uri, "maintenance": current is not None,
                    **({"by": current.by, "since": current.as_json()["since"]} if current else {})}, out)
    elif current is None:
        print(terminal_text(f"{host_uri}: not in maintenance"), file=out)
    else:
        print(terminal_text(f"{host_uri}: in maintenance {current.since_words()}"), file=out)
    return EXIT_OK


PLAN_HEADER = ("MACHINE", "STATE", "MEMORY", "VCPUS", "DESTINATION", "METHOD", "WHY")


def plan_lines(plan: Plan) -> list[str]:
    rows = [(m.machine.name, m.machine.state, f"{m.machine.memory_kib // 1024} MiB", m.machine.vcpus,
             m.destination or "-", m.method or ("left" if m.left else "-"), m.reason) for m in plan.moves]
    lines = table(PLAN_HEADER, rows)
    lines += [terminal_text(f"  not a destination: {note}") for note in plan.notes]
    if not plan.moves:
        lines.append("nothing to move: the host has no machines")
    return lines


def outcome_lines(outcome: Outcome) -> list[str]:
    rows = [(w.name, w.was_on, ", ".join(w.now_on) or "nowhere", w.state or "-",
             "yes" if w.as_planned else "NO") for w in outcome.machines]
    return table(("MACHINE", "WAS ON", "NOW ON", "STATE", "AS PLANNED"), rows)


def evacuate(host_uri: str, to: list[str], connect: list[str], *, check_only: bool, on_failure: str, parallel: int,
             shut_off: str, as_json: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Exit 0 done (or possible, with --check-only), 1 failed (with who is where), 3 a host
    unreachable, 4 refused (every reason)."""
    if bad_uri([host_uri] + to + connect, err):
        return EXIT_USAGE
    if parallel < 1:
        say("--parallel needs at least 1", err)
        return EXIT_USAGE
    install_quiet_error_handler()
    services = headless_services()

    async def plan_and_evacuate() -> int:
        beating = spawn(heartbeat.keep_beating())  # noqa: F841 (held while it runs)
        typed = list(dict.fromkeys([host_uri] + to + connect)) if (to or connect) else []
        await connect_hosts(services, typed, load=True)
        if host_uri not in services.inventory.hosts:
            await connect_hosts(services, [host_uri], load=True)
        evacuation = EvacuationService(services.migrations)
        report: dict = {"source": host_uri, "policy": on_failure}
        try:
            if not check_only:
                await finish_interrupted_tasks(services, err)
            plan = await evacuation.plan(host_uri, to or None, shut_off=shut_off)
        except HostsUnreachable as exc:
            say(f"cannot reach {exc}", err)
            return EXIT_CONNECTION
        report["plan"] = plan.as_json()
        if not as_json:
            for line in plan_lines(plan):
                print(line, file=out)
        if not plan.possible:
            for move in plan.refused:
                say(f"{move.machine.name} cannot move: {move.reason}", err)
            return report_exit(report, EXIT_REFUSED, as_json, out)
        if check_only:
            return report_exit(report, EXIT_OK, as_json, out)
        try:
            outcome = await evacuation.run(plan, policy=on_failure, parallel=parallel)
        except EvacuationRefused as exc:
            say(f"refused: {exc}", err)
            return report_exit(report, EXIT_REFUSED, as_json, out)
        report["task"] = task_json(outcome.task) if outcome.task is not None else None
        report["machines"] = [w.as_json() for w in outcome.machines]
        report["maintenance"] = outcome.maintenance
        report["stayed"] = stayed(outcome.task)
        code = EXIT_OK if outcome.done else EXIT_FAILED
        if not as_json:
            if outcome.task is not None:
                print_tree([outcome.task], False, out)
            for line in outcome_lines(outcome):
                print(line, file=out)
            state = "in maintenance" if outcome.maintenance else "not in maintenance (the evacuation was undone)"
            print(terminal_text(f"{host_uri}: {state}"), file=out)
        for w in outcome.machines:
            if not w.as_planned:
                say(f"{w.name} is on {', '.join(w.now_on) or 'no host'}, not on {w.planned or w.was_on}", err)
        return report_exit(report, code, as_json, out)

    try:
        return asyncio.run(plan_and_evacuate())
    finally:
        close(services)



def leave_with_return(host_uri: str, connect: list[str], *, check_only: bool, parallel: int, as_json: bool,
                      out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """``maintenance HOST off --return``: the machines its last evacuation moved away, back home.
    Exit 0 done (or, with --check-only, the plan printed and nothing changed), 1 a migration
    failed (where each machine is), 3 a host unreachable."""
    if bad_uri([host_uri] + connect, err):
        return EXIT_USAGE
    install_quiet_error_handler()
    services = headless_services()

    async def plan_and_return() -> int:
        beating = spawn(heartbeat.keep_beating())  # noqa: F841 (held while it runs)
        await connect_hosts(services, list(dict.fromkeys(connect)), load=True)
        if host_uri not in services.inventory.hosts:
            await connect_hosts(services, [host_uri], load=True)
        for uri, host in list(services.inventory.hosts.items()):  # where the machines are now
            if uri != host_uri and not host.connected and host.autoconnect:
                await connect_hosts(services, [uri], load=True)
        return_home = ReturnHome(EvacuationService(services.migrations))
        try:
            plan = await return_home.plan(host_uri)
        except HostsUnreachable as exc:
            say(f"cannot reach {exc}", err)
            return EXIT_CONNECTION
        report: dict = {"plan": plan.as_json()}
        if not as_json:
            rows = [(r.name, r.now_on or "-", r.negotiation.decision.method if r.moves else "-",
                     r.reason or "goes home") for r in plan.returns]
            lines = (table(("MACHINE", "NOW ON", "METHOD", "WHY"), rows) if rows else
                     ["no machine to bring back: the host's last evacuation moved none, or none is recorded"])
            for line in lines:
                print(terminal_text(line), file=out)
        if check_only:
            return report_exit(report, EXIT_OK, as_json, out)
        root = await return_home.leave(host_uri, plan, parallel=parallel)
        report["task"] = task_json(root) if root is not None else None
        report["maintenance"] = False
        if not as_json:
            if root is not None:
                print_tree([root], False, out)
            print(terminal_text(f"{host_uri}: not in maintenance"), file=out)
        return report_exit(report, EXIT_OK if root is None or root.status == "succeeded" else EXIT_FAILED, as_json, out)

    try:
        return asyncio.run(plan_and_return())
    finally:
        close(services)
