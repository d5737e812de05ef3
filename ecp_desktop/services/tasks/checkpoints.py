"""Test-only points in a flow where the lab's tests make things happen at a known moment.

$ECP_DESKTOP_CRASH_AT = "OP:WHEN[:N]": the process kills itself (SIGKILL, no cleanup) the
Nth time it reaches that point, which is what a power cut or ``kill -9`` does.
$ECP_DESKTOP_HOLD_AT = "OP:WHEN:N:FILE[,OP:WHEN:N:FILE...]": the Nth time, it writes FILE and
waits until the test removes it (meanwhile the test stops a daemon, freezes this process, ...).
WHEN is one of before (the step is on disk as running, libvirt not called yet), after
(libvirt answered) and undo (before the undo calls libvirt). Unset, they cost one lookup.
"""
from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

CRASH_ENV = "ECP_DESKTOP_CRASH_AT"
HOLD_ENV = "ECP_DESKTOP_HOLD_AT"


class Checkpoints:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, str], int] = {}

    def _nth(self, env: str, op: str, when: str) -> list[str] | None:
        points = [p.split(":", 3) for p in (os.environ.get(env) or "").split(",") if p]
        points = [p for p in points if p[:2] == [op, when]]
        if not points:
            return None
        count = self._counts.get((env, op, when), 0) + 1
        self._counts[(env, op, when)] = count
        return next((p for p in points if count == int(p[2] if len(p) > 2 else 1)), None)

    async def reach(self, op: str, when: str) -> None:
        if self._nth(CRASH_ENV, op, when) is not None:
            os.kill(os.getpid(), signal.SIGKILL)
        hold = self._nth(HOLD_ENV, op, when)
        if hold is not None and len(hold) == 4:
            flag = Path(hold[3])
            flag.write_text(f"{os.getpid()}\n")
            while flag.exists():
                await asyncio.sleep(0.05)
