"""Icons: actions from the desktop theme or the bundled set, drawn state dots, the application's own."""
from __future__ import annotations

import functools

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap

from ... import APP_ID, RESOURCES
from .palette_colours import is_dark, state_colour
from .symbolic_icons import symbolic_icon

HICOLOR = RESOURCES / "icons" / "hicolor"

# Each action's freedesktop icon name; the bundled symbolic set has every one of them.
THEME_ACTIONS = {
    "start": "media-playback-start", "shutdown": "system-shutdown", "force_off": "process-stop",
    "reboot": "system-reboot", "pause": "media-playback-pause", "resume": "media-playback-start",
    "migrate": "send-to", "add_connection": "list-add", "connect": "network-transmit-receive",
    "disconnect": "network-offline", "remove": "list-remove",
}


def state_icon(state: str) -> QIcon:
    """A coloured dot per state: readable at any size, in colours for the current palette."""
    return _dot(state_colour(state).rgba(), is_dark())


@functools.cache
def _dot(rgba: int, dark: bool) -> QIcon:
    pixmap = QPixmap(16, 16)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QColor("#ffffff60" if dark else "#00000040"))  # an edge against the base
    painter.setBrush(QColor.fromRgba(rgba))
    painter.drawEllipse(2, 2, 12, 12)
    painter.end()
    return QIcon(pixmap)


def last_known_icon(state: str) -> QIcon:
    """A ring in the state's colour: the last known state, not a live one (a filled dot)."""
    return _ring(state_colour(state).rgba())


@functools.cache
def _ring(rgba: int) -> QIcon:
    pixmap = QPixmap(16, 16)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(QColor.fromRgba(rgba))
    pen.setWidthF(2.5)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawEllipse(3, 3, 10, 10)
    painter.end()
    return QIcon(pixmap)


def theme_has_every_action_icon() -> bool:
    """Whether the desktop's icon theme names every action: otherwise the bundled set draws them
    all, so the toolbar never mixes two families."""
    return all(QIcon.hasThemeIcon(name) for name in THEME_ACTIONS.values())


def action_icon(name: str) -> QIcon:
    """The icon of the action ``name`` (a THEME_ACTIONS key): the desktop theme's, or the bundled one."""
    theme_name = THEME_ACTIONS[name]
    return QIcon.fromTheme(theme_name) if theme_has_every_action_icon() else symbolic_icon(theme_name)


def app_icon() -> QIcon:
    icon = QIcon.fromTheme(APP_ID)
    if icon.isNull():  # not installed in the theme (install-desktop): the shipped files
        icon = QIcon(str(HICOLOR / "scalable" / "apps" / f"{APP_ID}.svg"))
        for png in sorted(HICOLOR.glob(f"*x*/apps/{APP_ID}.png")):
            icon.addFile(str(png))
    return icon
