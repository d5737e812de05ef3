"""``ecp-desktop migrate``: negotiate, print the table and the plan, then migrate (no Qt)."""
from __future__ import annotations

import asyncio
import json
import sys
from typing import TextIO

from .listing import bad_uri
from .tasks import EXIT_CONNECTION, EXIT_FAILED, EXIT_OK, EXIT_USAGE, _close, _connect, _print_tree, task_json
from ..services.sharing import heartbeat
from ..services.core.aio import spawn
from ..services.composition import build_services
from ..services.core.errors import HypervisorError, install_quiet_error_handler
from ..services.core.executors import Executors
from ..services.hosts.libvirt_loop import start_event_thread
from ..services.migration.service import Negotiation, refusal_check
from ..services.migration.checks import METHODS, CheckResult, MigrationOptions
from ..services.tasks.recovery import recover
from ..services.tasks.service import SUCCEEDED

EXIT_REFUSED = 4
METHOD_NAMES = {"p2p": METHODS[0], "managed": METHODS[1], "offline": METHODS[2], "copy-storage": METHODS[3]}


def table_lines(results: list[CheckResult]) -> list[str]:
    rows = [("CHECK", "SOURCE", "DESTINATION", "VERDICT")] + [
        (r.name, r.source, r.destination, r.verdict.upper()) for r in results]
    widths = [min(max(len(row[i]) for row in rows), 44) for i in range(3)]
    lines = []
    for row in rows:
        cells = [row[i][:widths[i]].ljust(widths[i]) for i in range(3)]
        lines.append("  ".join(cells + [row[3]]).rstrip())
    for r in results:
        if r.note and r.verdict != "ok":
            lines.append(f"  {r.name}: {r.note}" + (f" Remedy: {r.remedy}" if r.remedy else ""))
    return lines


def _print_negotiation(negotiation: Negotiation, out: TextIO) -> None:
    for line in table_lines(negotiation.decision.results):
        print(line, file=out)
    decision = negotiation.decision
    if decision.allowed:
        print(f"plan: {decision.method} (negotiated in {negotiation.elapsed_ms:.0f} ms)", file=out)
    else:
        print("refused:", file=out)
        for r in decision.refused_because:
            print(f"  - {r.name}: {r.note}" + (f" ({r.remedy})" if r.remedy else ""), file=out)


def run(machine: str, dest_uri: str, options: MigrationOptions, *, host_uri: str | None, connect: list[str],
        check_only: bool, as_json: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    if bad_uri([dest_uri] + connect + ([host_uri] if host_uri else []), err):
        return EXIT_USAGE
    install_quiet_error_handler()
    start_event_thread()  # keepalive notices a dead peer; migration events arrive
    services = build_services(Executors(), keepalive=True, events=False, reconnect=False, auto_load=False)

    async def go() -> int:
        beating = spawn(heartbeat.keep_beating(services.executors.database))  # noqa: F841 (held while it runs)
        sources = connect or ([host_uri] if host_uri else [])
        hosts = await _connect(services, [u for u in sources if u != dest_uri] + [dest_uri], load=True)
        if not check_only:
            for line in (await recover(services.engine)).lines():
                print(f"ecp-desktop: recovered an interrupted task: {line}", file=err)
        dest = services.inventory.hosts[dest_uri]
        if not dest.connected:
            print(f"ecp-desktop: cannot reach the destination {dest_uri}: {dest.reason}", file=err)
            return EXIT_CONNECTION
        found = [m for m in services.inventory.machines.values()
                 if machine in (m.name, m.uuid) and m.host_uri != dest_uri
                 and (host_uri is None or m.host_uri == host_uri)]
        if len(found) != 1:
            down = [h.uri for h in hosts if not h.connected]
            where = f"on several hosts ({', '.join(m.host_uri for m in found)}); name one with --host" if found \
                else "on the connected source hosts" + (f" ({', '.join(down)} not connected)" if down else "")
            print(f"ecp-desktop: {machine!r} is not found {where}" if not found
                  else f"ecp-desktop: {machine!r} is {where}", file=err)
            return EXIT_CONNECTION if down and not found else EXIT_USAGE
        source = found[0]
        try:
            negotiation = await services.migrations.negotiate(source.host_uri, source.uuid, dest_uri, options)
        except HypervisorError as error:
            print(f"ecp-desktop: could not read the hosts: {error.one_line()}", file=err)
            return EXIT_CONNECTION
        report = {"negotiation": negotiation.to_dict()}
        if not as_json:
            _print_negotiation(negotiation, out)
        if check_only or not negotiation.decision.allowed:
            code = EXIT_OK if negotiation.decision.allowed else EXIT_REFUSED
        else:
            root = await services.migrations.run(negotiation)
            report["task"] = task_json(root)
            code = EXIT_OK if root.status == SUCCEEDED else EXIT_FAILED
            failed = next((c for c in root.children if c.op == "migrate_domain" and c.error is not None), None)
            refusal = refusal_check(failed.error) if failed is not None else None
            if refusal is not None:
                report["libvirt_refusal"] = {"check": refusal.name, "note": refusal.note, "remedy": refusal.remedy}
            if not as_json:
                _print_tree([root], False, out)
                if refusal is not None:
                    print(f"libvirt refused: {refusal.name}: {refusal.note} ({refusal.remedy})", file=out)
        if as_json:
            json.dump(report, out, indent=2, ensure_ascii=False)
            out.write("\n")
        return code

    try:
        return asyncio.run(go())
    finally:
        _close(services)
