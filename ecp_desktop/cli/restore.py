"""``ecp-desktop restore``: start the machines that should run, e.g. at boot after libvirtd."""
from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from .common import (EXIT_CONNECTION, EXIT_FAILED, EXIT_OK, close, headless_services, print_json, print_while_read,
                     say, terminal_text)
from ..services.composition import Services
from ..services.inventory import approvals
from ..services.core.errors import install_quiet_error_handler
from ..services.actions.host_away import reconnect_wait_from_env
from ..services.actions.restore import RestoreReport, RestoreResult, restore_candidates

async def _restore(services: Services, dry_run: bool) -> tuple[str, RestoreReport]:
    loop = asyncio.get_running_loop()
    reason, grouped = await loop.run_in_executor(services.executors.database, restore_candidates)
    if reason:
        return reason, RestoreReport(skipped_reason=reason)
    allowed = await loop.run_in_executor(services.executors.database, approvals.approved_uris)
    hosts = [services.inventory.add_host(uri) for uri in grouped if uri in allowed]  # the others: reported
    await asyncio.gather(*(services.inventory.connect_host(h) for h in hosts))
    return "", await services.restore.run(grouped, dry_run=dry_run)


def _result_json(result: RestoreResult) -> dict:
    """A machine's outcome; its error with every field (level, str1-3, int1-2, versions,
    time, log id: ``HypervisorError.as_dict``), its plain words kept."""
    data = result.as_json()
    if result.error is not None:
        data["error"] = {**data.get("error", {}), **result.error.as_dict(), "remedy": result.error.remedy}
    return data


def run(dry_run: bool, as_json: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Exit 0 all restored, 1 some failed (listed), 3 a host unreachable, at the start or gone
    during the restore and not back within ECP_DESKTOP_RECONNECT_WAIT (30 s). 3 wins over 1:
    the machines of that host are left to a later run, which also tries the failed ones again."""
    install_quiet_error_handler()
    services = headless_services()
    services.lifecycle.reconnect_wait = reconnect_wait_from_env()
    try:
        reason, report = asyncio.run(_restore(services, dry_run))
    finally:
        close(services)
    failed = report.with_outcome("failed")
    code = EXIT_CONNECTION if report.unreachable else EXIT_FAILED if failed else EXIT_OK
    print_while_read(lambda: _print(reason, report, code, as_json, out), out)
    for uri, why in report.unreachable.items():
        say(f"cannot connect to {uri}: {why}", err)
    for r in failed:
        say(f"{r.candidate.name} did not start: {r.error.one_line()}", err)
    return code


def _print(reason: str, report: RestoreReport, code: int, as_json: bool, out: TextIO) -> None:
    if as_json:
        print_json({"exit": code, "skipped": reason, "unreachable": report.unreachable,
                    "machines": [_result_json(r) for r in report.results]}, out)
        return
    if reason:
        print(f"restore skipped: {terminal_text(reason)}", file=out)
    for r in sorted(report.results, key=lambda r: (r.candidate.host_uri, r.candidate.name)):
        cells = [r.candidate.name, r.outcome, r.candidate.host_uri]
        if r.detail:  # why a paused machine was left paused; what a lost reply's check found
            cells.append(r.detail)
        if r.error:
            cells.append(f"{r.error.code_name}: {r.error.one_line()}")
        print("\t".join(terminal_text(cell) for cell in cells), file=out)
    if not report.results and not reason:
        print("nothing to restore: every machine that should run is running", file=out)
