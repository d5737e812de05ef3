"""A guest cannot freeze or flood the window through its serial console (the real widget,
the guest's bytes as a hostile guest would write them): a sequence pyte cannot take is
dropped, no turn of the event loop spends much more than a slice on the output, and a flood
beyond the backlog is dropped and said."""
from __future__ import annotations

import gc
import time

import pytest
from ecp_desktop.views.console.terminal_widget import MAX_BACKLOG, MAX_COMBINING, TerminalWidget

# The widget's own work in one turn of the event loop: its slice is 8 ms, checked after each
# 256-byte chunk; on a loaded 2-core CI one chunk has taken 25 ms of thread time. What this
# bound catches is a whole feed done at once (80 KB of combining marks took 21 s).
SLICE_BOUND = 0.05


@pytest.fixture
def terminal(qtbot):
    widget = TerminalWidget()
    qtbot.addWidget(widget)
    widget.resize(640, 400)
    widget.show()
    return widget


class SliceClock:
    """The longest job the widget runs on the GUI thread per turn of the event loop (each
    feed, and each slice of the backlog after it), in the thread's CPU time (a busy machine
    that takes the CPU away is not the widget's doing), less the cycle collector's passes in
    it: those walk every object of the process (here, pytest's too) and are not the widget's."""

    def __init__(self, widget: TerminalWidget) -> None:
        self.longest, self.collecting, self._started = 0.0, 0.0, 0.0
        gc.callbacks.append(self._gc)
        for name in ("feed", "_drain"):
            job = getattr(widget, name)
            setattr(widget, name, self._timed(job))

    def _gc(self, phase: str, _info: dict) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.collecting += time.thread_time() - self._started

    def _timed(self, job):
        def timed(*args):
            started, collected = time.thread_time(), self.collecting
            job(*args)
            self.longest = max(self.longest, time.thread_time() - started - (self.collecting - collected))
        return timed

    def stop(self) -> None:
        gc.callbacks.remove(self._gc)


@pytest.mark.parametrize("sequence", [b"\x1b[5J", b"\x1b[9K", b"\x1b[99J\x1b[42K", b"\x1b[?3h", b"\x1b[?3l"])
def test_sequences_pyte_cannot_take_or_that_resize_are_dropped_and_the_rest_is_shown(terminal, sequence):
    columns = terminal.screen.columns
    terminal.feed(b"before " + sequence + b"after")
    assert terminal.display()[0].startswith("before after")
    assert terminal.screen.columns == columns  # no switch to 132 columns


def test_a_character_keeps_a_few_combining_marks_and_the_window_goes_on(terminal, qtbot):
    clock = SliceClock(terminal)
    terminal.feed(("e" + "\u0301" * 80_000 + " next").encode())
    qtbot.waitUntil(lambda: terminal.waiting == 0, timeout=30_000)
    clock.stop()
    cell = terminal.screen.buffer[0][0].data
    assert cell.startswith("é") and len(cell) <= 1 + MAX_COMBINING  # (é is e with one mark, composed)
    assert terminal.display()[0].startswith(cell + " next")
    assert clock.longest < SLICE_BOUND, clock.longest


def test_a_flood_is_shown_in_slices_and_what_overflows_is_dropped_and_said(terminal, qtbot):
    clock = SliceClock(terminal)
    line = b"\x1b[1;32m" + b"x" * 70 + b"\x1b[0m\r\n"
    flood = line * ((2 * MAX_BACKLOG) // len(line))
    terminal.feed(flood)
    assert 0 < terminal.waiting <= MAX_BACKLOG  # shown as time allows; the rest waits, bounded
    qtbot.waitUntil(lambda: terminal.waiting == 0, timeout=120_000)
    clock.stop()
    shown = "\n".join(terminal.display())
    assert "bytes of output dropped: the guest writes faster than it can be shown" in shown
    assert clock.longest < SLICE_BOUND, clock.longest
