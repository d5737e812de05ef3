"""The GUI thread first: worker threads give way while it paints or applies a batch.

Every call from Qt into Python (a cell's data, its index, a slot) takes the interpreter lock,
and while worker threads (listings, database writes) run Python between their libvirt calls
each such take waits for one of them to let go. A paint of the machines table makes about a
thousand such calls, so a paint, or a host's rows applied, took hundreds of milliseconds while
a fleet loaded (bench/fleet.py). The GUI thread says when it is about to need the interpreter
for a while (``hold``); workers, at the checkpoints of their loops (``give_way``), sleep until
it is done (``release``) or the hold runs out, which leaves the lock to the GUI thread.

A hold always runs out (``MAX_HOLD``), so a worker is never stopped for longer, whatever the
GUI thread does."""
from __future__ import annotations

import time

MAX_HOLD = 0.05  # seconds: a hold never lasts longer, however it ends
_STEP = 0.002

_until = 0.0  # time.monotonic() until which workers give way; written by the GUI thread only


def hold(seconds: float = MAX_HOLD) -> None:
    """On the GUI thread: workers give way for the next ``seconds`` (at most MAX_HOLD)."""
    global _until
    _until = time.monotonic() + min(seconds, MAX_HOLD)


def release() -> None:
    """On the GUI thread: done; workers go on."""
    global _until
    _until = 0.0


def holding() -> bool:
    return time.monotonic() < _until


def give_way() -> None:
    """On a worker thread, between steps that run Python: wait while the GUI thread holds.
    Costs one clock read when it does not."""
    while time.monotonic() < _until:
        time.sleep(_STEP)  # sleeping releases the interpreter lock


class Held:
    """``with Held():`` on the GUI thread around a job that runs Python for a while."""

    def __enter__(self) -> None:
        hold()

    def __exit__(self, *_exc) -> None:
        release()
