"""Colours that carry meaning (a failure, a success, a state's dot, the usage lines), chosen for
the palette they are drawn on: a light or a dark one, whichever the desktop gives.

Every such colour is read here, at paint time, from the palette in force, so a change of the
desktop's theme (Qt sends a PaletteChange and repaints) changes them too. Each comes out with
at least ``TEXT_CONTRAST`` (WCAG's 4.5:1 for text) against both the palette's base and its
alternate base (striped rows), or ``GRAPHIC_CONTRAST`` (3:1, WCAG's for shapes) for a state's dot:
a colour that falls short on an unusual theme is darkened or lightened until it reaches it.
"""
from __future__ import annotations

import functools

from PySide6.QtGui import QColor, QGuiApplication, QPalette

TEXT_CONTRAST = 4.5
GRAPHIC_CONTRAST = 3.0

FAILURE, SUCCESS = "failure", "success"
# Each a colour of the usage graphs, the machines table's CPU sparkline is CPU's.
CPU_LINE, MEMORY_LINE, DISK_READ_LINE, DISK_WRITE_LINE = "cpu", "memory", "disk read", "disk write"
NET_RX_LINE, NET_TX_LINE = "network received", "network sent"

# Meaning → (on a light base, on a dark base).
TONES = {
    FAILURE: ("#b3261e", "#f2b8b5"),
    SUCCESS: ("#1b7f3b", "#81c995"),
    CPU_LINE: ("#1a73e8", "#8ab4f8"),
    MEMORY_LINE: ("#188038", "#81c995"),
    DISK_READ_LINE: ("#b06000", "#fcad70"),
    DISK_WRITE_LINE: ("#8430ce", "#d7aefb"),
    NET_RX_LINE: ("#007b83", "#78d9ec"),
    NET_TX_LINE: ("#c5221f", "#f28b82"),
}

# A machine's, host's or task's state → its dot's colour on a light base (lightened on a dark one).
STATE_COLOURS = {
    "running": "#2e9d44", "blocked": "#2e9d44", "paused": "#d9a300", "pmsuspended": "#d9a300",
    "shutdown": "#d97a00", "shutoff": "#8a8f98", "crashed": "#d0312d", "nostate": "#b0b4ba",
    "unknown": "#b0b4ba",
    # host states
    "connected": "#2e9d44", "connecting": "#3b82c4", "reconnecting": "#d9a300", "disconnected": "#d0312d",
    # task states
    "pending": "#b0b4ba", "succeeded": "#2e9d44", "failed": "#d0312d", "cancelled": "#8a8f98",
    "rolled back": "#7b5ea7", "rolling back": "#7b5ea7", "rollback failed": "#8b0000",
}
_NO_STATE = "#b0b4ba"


def current_palette(palette: QPalette | None = None) -> QPalette:
    return palette if palette is not None else QGuiApplication.palette()


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether the views' base (the background of tables and text) is dark."""
    return current_palette(palette).color(QPalette.ColorRole.Base).lightnessF() < 0.5


def tone(meaning: str, palette: QPalette | None = None) -> QColor:
    """The colour of ``meaning`` (FAILURE, SUCCESS, CPU_LINE…) readable as text on ``palette``
    (the application's when None)."""
    light, dark = TONES[meaning]
    return _readable(light, dark, *_bases(current_palette(palette)), TEXT_CONTRAST)


def state_colour(state: str, palette: QPalette | None = None) -> QColor:
    """The dot colour of a state, visible as a shape on ``palette``."""
    colour = STATE_COLOURS.get(state, _NO_STATE)
    return _readable(colour, _lightened(colour), *_bases(current_palette(palette)), GRAPHIC_CONTRAST)


def readable_text(colour: str, palette: QPalette | None = None) -> QColor:
    """``colour`` (chosen for a light base), as text readable on ``palette``: lightened on a
    dark base, and darkened or lightened further until it has TEXT_CONTRAST."""
    return _readable(colour, _lightened(colour), *_bases(current_palette(palette)), TEXT_CONTRAST)


def contrast(a: QColor, b: QColor) -> float:
    """WCAG 2's contrast ratio of two colours: 1 (the same) to 21 (black on white)."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _bases(palette: QPalette) -> tuple[int, int]:
    return (palette.color(QPalette.ColorRole.Base).rgba(), palette.color(QPalette.ColorRole.AlternateBase).rgba())


@functools.lru_cache(maxsize=512)
def _readable(light: str, dark: str, base_rgba: int, alternate_rgba: int, minimum: float) -> QColor:
    bases = (QColor.fromRgba(base_rgba), QColor.fromRgba(alternate_rgba))
    on_dark = bases[0].lightnessF() < 0.5
    colour = QColor(dark if on_dark else light)
    # Towards white on a dark base, towards black on a light one, until every base is far enough.
    for _step in range(20):
        if min(contrast(colour, base) for base in bases) >= minimum:
            break
        colour = colour.lighter(112) if on_dark else colour.darker(112)
        if on_dark and colour.lightnessF() >= 0.99:
            colour = QColor("#ffffff")
    return colour


def _lightened(colour: str) -> str:
    """A state's colour for a dark base: the same hue, lighter."""
    c = QColor(colour)
    return QColor.fromHslF(max(c.hslHueF(), 0.0), c.hslSaturationF(), max(c.lightnessF(), 0.62)).name()


def _luminance(colour: QColor) -> float:
    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4
    return 0.2126 * channel(colour.redF()) + 0.7152 * channel(colour.greenF()) + 0.0722 * channel(colour.blueF())
