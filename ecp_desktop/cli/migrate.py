"""``ecp-desktop migrate``: negotiate, print the table and the plan, then migrate (no Qt)."""
from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from .common import (EXIT_CONNECTION, EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, bad_uri, close, connect_hosts,
                     find_machine, finish_interrupted_tasks, headless_services, print_json, print_tree, say, task_json)
from ..services.sharing import heartbeat
from ..services.core.aio import spawn
from ..services.core.errors import HypervisorError, install_quiet_error_handler
from ..services.migration.service import Negotiation, refusal_check
from ..services.migration.checks import METHODS, CheckResult, MigrationOptions
from ..services.migration.ladder import MethodRow, every_method_refused, tried_rows
from ..services.tasks.records import SUCCEEDED
from .text import terminal_text, wrapped_table

METHOD_NAMES = {"p2p": METHODS[0], "managed": METHODS[1], "offline": METHODS[2], "copy-storage": METHODS[3]}


HEADER = ("CHECK", "SOURCE", "DESTINATION", "VERDICT")
# The first column fits a way of migrating in full ("Method 3: live with copy-storage via
# migrateToURI3"); a longer value wraps in its column, never cut.
CAPS = (52, 44, 44)


def table_lines(results: list[CheckResult], methods: list[MethodRow] = ()) -> list[str]:
    """The checks and the ways of migrating as a table, then each reason once: a check's note
    (with its remedy), and libvirt's words for a way it refused. A way ruled out by a check
    names that check; its text is the check's note, below."""
    by_text = {f"{r.name}: {r.note}": r.name for r in results if r.note}
    noted = {r.name for r in results if r.note and r.verdict != "ok"}
    rows = [(r.name, r.source, r.destination, r.verdict.upper()) for r in results]
    libvirt_words = []
    for number, method in enumerate(methods, 1):
        name = f"Method {number}: {method.label}"
        reasons = [by_text.get(reason, reason) for reason in method.reasons]
        noted.update(by_text[reason] for reason in method.reasons if reason in by_text)
        if method.code:
            libvirt_words.append(f"{name}: libvirt: {method.code}: {method.message}")
        rows.append((name, method.code, "; ".join(reasons), method.verdict.upper()))
    lines = wrapped_table(HEADER, rows, CAPS)
    for r in results:
        if r.name in noted:
            lines.append(terminal_text(f"  {r.name}: {r.note}" + (f" Remedy: {r.remedy}" if r.remedy else "")))
    return lines + [terminal_text(f"  {words}") for words in libvirt_words]


def _print_negotiation(negotiation: Negotiation, out: TextIO) -> None:
    for line in table_lines(negotiation.decision.results, negotiation.methods()):
        print(line, file=out)
    decision = negotiation.decision
    if decision.allowed:
        print(f"plan: {terminal_text(decision.method)} (negotiated in {negotiation.elapsed_ms:.0f} ms)", file=out)
    else:  # each reason is said above, once
        names = ", ".join(r.name for r in decision.refused_because)
        print(terminal_text(f"refused: {names or decision.reason()} (every way of migrating is ruled out)"), file=out)


async def _migrate(services, negotiation: Negotiation, report: dict, as_json: bool, out: TextIO) -> int:
    """Run the negotiated ladder; print the task and a row per way of migrating tried. Every
    way refused by libvirt is a refusal (exit 4, with every reason), like a refused check."""
    root = await services.migrations.run(negotiation)
    report["task"] = task_json(root)
    code = EXIT_OK if root.status == SUCCEEDED else EXIT_FAILED
    step = next((c for c in root.children if c.op == "migrate_domain"), None)
    tried = tried_rows(step.params) if step is not None else []
    report["methods"] = [row.to_dict() for row in tried]
    failure = step.error if step is not None else None
    if failure is not None and every_method_refused(step.params):
        code = EXIT_REFUSED
    refusal = refusal_check(failure) if failure is not None and code != EXIT_REFUSED else None
    if refusal is not None:
        report["libvirt_refusal"] = {"check": refusal.name, "note": refusal.note, "remedy": refusal.remedy}
    if as_json:
        return code
    print_tree([root], False, out)
    for line in table_lines([], tried) if tried else []:
        print(line, file=out)
    if code == EXIT_REFUSED:
        print("refused: libvirt refused every way of migrating (see the methods above)", file=out)
    if refusal is not None:
        print(terminal_text(f"libvirt refused: {refusal.name}: {refusal.note} ({refusal.remedy})"), file=out)
    return code


def run(machine: str, dest_uri: str, options: MigrationOptions, *, host_uri: str | None, connect: list[str],
        check_only: bool, as_json: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    if bad_uri([dest_uri] + connect + ([host_uri] if host_uri else []), err):
        return EXIT_USAGE
    install_quiet_error_handler()
    services = headless_services()  # keepalive notices a dead peer; migration events arrive

    async def negotiate_and_migrate() -> int:
        beating = spawn(heartbeat.keep_beating())  # noqa: F841 (held while it runs)
        sources = connect or ([host_uri] if host_uri else [])
        hosts = await connect_hosts(services, [u for u in sources if u != dest_uri] + [dest_uri], load=True)
        if not check_only:
            await finish_interrupted_tasks(services, err)
        dest = services.inventory.hosts[dest_uri]
        if not dest.connected:
            say(f"cannot reach the destination {dest_uri}: {dest.reason}", err)
            return EXIT_CONNECTION
        source, code = find_machine(services, hosts, machine, host_uri, err, exclude_host=dest_uri)
        if source is None:
            return code
        try:
            negotiation = await services.migrations.negotiate(source.host_uri, source.uuid, dest_uri, options)
        except HypervisorError as error:
            say(f"could not read the hosts: {error.one_line()}", err)
            return EXIT_CONNECTION
        report = {"negotiation": negotiation.to_dict()}
        if not as_json:
            _print_negotiation(negotiation, out)
        if check_only or not negotiation.decision.allowed:
            code = EXIT_OK if negotiation.decision.allowed else EXIT_REFUSED
        else:
            code = await _migrate(services, negotiation, report, as_json, out)
        if as_json:
            print_json(report, out)
        return code

    try:
        return asyncio.run(negotiate_and_migrate())
    finally:
        close(services)
