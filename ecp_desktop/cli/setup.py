"""``ecp-desktop setup`` and ``ecp-desktop import``: the setup pipeline without a window."""
from __future__ import annotations

import json
import sys
from typing import TextIO

from ..services.config import app_config
from ..services.inventory import store
from ..services.core.errors import install_quiet_error_handler
from ..services.setup.pipeline import DONE, FAILED
from ..services.setup.steps import SetupOptions, SetupReport, core_steps, run_setup

from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, bad_uri, terminal_text
MARKS = {DONE: "ok", FAILED: "FAILED"}


def print_report(report: SetupReport, out: TextIO, what: str = "setup") -> None:
    for outcome in report.outcomes:
        mark = MARKS.get(outcome.status, outcome.status)
        label = f"hook {outcome.title}" if outcome.kind == "hook" else outcome.title
        print(f"[{mark}] {terminal_text(label)}: {terminal_text(outcome.message)}", file=out)
    for host in report.imports:
        print(f"  {terminal_text(host.text())}", file=out)
        for old, new in host.renamed:
            print(f"    renamed: {terminal_text(old)} -> {terminal_text(new)}", file=out)
        for name, reason in host.skipped:
            print(f"    skipped {terminal_text(name)}: {terminal_text(reason)}", file=out)
    print(report.headline(what), file=out)
    for problem in report.problems:
        print(f"  - {terminal_text(problem)}", file=out)


def run(command: str, database_url: str, connect: list[str], *, no_import: bool = False, as_json: bool = False,
        local: str | None = None, restore_at_start: str | None = None, remember_database: bool = True,
        out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """The database proxy is bound already (not necessarily with tables: setup makes them)."""
    if bad_uri([*connect, *([local] if local else [])], err):
        return EXIT_USAGE
    install_quiet_error_handler()
    if command == "setup":
        options = SetupOptions(connections=connect, local_uri=local, do_import=not no_import,
                               restore_at_start=restore_at_start)
        report = run_setup(options)
        if report.ok and remember_database:
            app_config.save(database_url=database_url)
    else:
        # Import alone: the connections step then the import step, with the same preconditions.
        chosen = connect or _configured()
        options = SetupOptions(connections=connect, chosen=chosen or None)
        steps = [s for s in core_steps() if s.name in ("connections", "import")]
        report = run_setup(options, steps=steps)
    if as_json:
        json.dump(report.as_json(), out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        print_report(report, out, command)
    return EXIT_OK if report.ok else EXIT_FAILED


def _configured() -> list[str]:
    try:
        return [h.uri for h in store.configured_hosts() if h.autoconnect]
    except Exception:  # no host table yet: the import step will say what is missing
        return []
