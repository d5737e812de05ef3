"""``ecp-desktop notes``: read or change a machine's notes in the inventory (no libvirt needed)."""
from __future__ import annotations

import json
import sys
from typing import TextIO

from ..services.inventory.notes import StaleEdit, known_machines, read_notes, save_notes

from ..services.core import database_faults
from .common import EXIT_CONNECTION, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, say, terminal_text


def run(machine: str, host_uri: str | None, text: str | None, version: int | None, as_json: bool,
        out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    try:
        found = known_machines(machine, host_uri)
    except Exception as exc:
        if not database_faults.retryable(exc):
            raise
        say(f"the inventory database cannot be read: {database_faults.describe(exc)}", err)
        return EXIT_CONNECTION
    if len(found) != 1:
        where = "in the inventory" if not found else f"on several hosts ({', '.join(f[0] for f in found)}); " \
                                                      "name one with --host"
        say(f"{machine!r} is not found {where}" if not found else f"{machine!r} is {where}", err)
        return EXIT_USAGE
    uri, uuid, name = found[0]
    try:
        if text is None:
            notes = read_notes(uri, uuid)
        else:
            notes = save_notes(uri, uuid, text, read_notes(uri, uuid).version if version is None else version)
    except StaleEdit as stale:
        report = {"machine": name, "host": uri, "saved": False, "notes": stale.current.text,
                  "version": stale.current.version}
        if as_json:
            json.dump(report, out, ensure_ascii=False)
            out.write("\n")
        say(f"not saved: {stale}", err)
        return EXIT_REFUSED
    except Exception as exc:  # the database away (disk full, read-only, server gone): said in words
        if not database_faults.retryable(exc):
            raise
        say(f"not {'saved' if text is not None else 'read'}: {database_faults.describe(exc)}", err)
        return EXIT_CONNECTION
    if as_json:
        json.dump({"machine": name, "host": uri, "saved": text is not None, "notes": notes.text,
                   "version": notes.version}, out, ensure_ascii=False)
        out.write("\n")
    else:
        print(f"{terminal_text(name)} (version {notes.version}): {terminal_text(notes.text)}", file=out)
    return EXIT_OK
