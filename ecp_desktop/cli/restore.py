"""``ecp-desktop restore``: start the machines that should run, e.g. at boot after libvirtd."""
from __future__ import annotations

import asyncio
import json
import sys
from typing import TextIO

from ..services.core.errors import install_quiet_error_handler
from ..services.inventory.live import Inventory
from ..services.core.executors import Executors
from ..services.actions.restore import RestoreReport, RestoreService, restore_candidates
from ..services.tasks.service import TaskService

EXIT_OK, EXIT_FAILED, EXIT_CONNECTION = 0, 1, 3


async def _restore(executors: Executors, dry_run: bool) -> tuple[str, RestoreReport]:
    loop = asyncio.get_running_loop()
    reason, grouped = await loop.run_in_executor(executors.database, restore_candidates)
    if reason:
        return reason, RestoreReport(skipped_reason=reason)
    inventory = Inventory(executors, keepalive=False, events=False, reconnect=False, auto_load=False)
    try:
        hosts = [inventory.add_host(uri) for uri in grouped]
        await asyncio.gather(*(inventory.connect_host(h) for h in hosts))
        report = await RestoreService(inventory, TaskService(executors)).run(grouped, dry_run=dry_run)
    finally:
        inventory.close_all()
    return "", report


def run(dry_run: bool, as_json: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    install_quiet_error_handler()
    executors = Executors()
    try:
        reason, report = asyncio.run(_restore(executors, dry_run))
        executors.database.submit(lambda: None).result()  # the task history is written
    finally:
        executors.shutdown()
    failed = report.with_outcome("failed")
    code = EXIT_FAILED if failed else EXIT_CONNECTION if report.unreachable else EXIT_OK
    if as_json:
        json.dump({"exit": code, "skipped": reason, "unreachable": report.unreachable,
                   "machines": [r.as_json() for r in report.results]}, out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        if reason:
            print(f"restore skipped: {reason}", file=out)
        for r in sorted(report.results, key=lambda r: (r.candidate.host_uri, r.candidate.name)):
            line = f"{r.candidate.name}\t{r.outcome}\t{r.candidate.host_uri}"
            print(line + (f"\t{r.error.code_name}: {r.error.one_line()}" if r.error else ""), file=out)
        if not report.results and not reason:
            print("nothing to restore: every machine that should run is running", file=out)
    for uri, why in report.unreachable.items():
        print(f"ecp-desktop: cannot connect to {uri}: {why}", file=err)
    for r in failed:
        print(f"ecp-desktop: {r.candidate.name} did not start: {r.error.one_line()}", file=err)
    return code
