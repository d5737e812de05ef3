"""Icons: the desktop theme first, then bundled or drawn fallbacks (so Xvfb looks right)."""
from __future__ import annotations

import functools

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QApplication, QStyle

from ... import APP_ID, RESOURCES
from .palette_colours import is_dark, state_colour

HICOLOR = RESOURCES / "icons" / "hicolor"

THEME_ACTIONS = {
    "start": ("media-playback-start", QStyle.StandardPixmap.SP_MediaPlay),
    "shutdown": ("system-shutdown", QStyle.StandardPixmap.SP_MediaStop),
    "force_off": ("process-stop", QStyle.StandardPixmap.SP_BrowserStop),
    "reboot": ("view-refresh", QStyle.StandardPixmap.SP_BrowserReload),
    "pause": ("media-playback-pause", QStyle.StandardPixmap.SP_MediaPause),
    "resume": ("media-playback-start", QStyle.StandardPixmap.SP_MediaSeekForward),
    "add_connection": ("list-add", QStyle.StandardPixmap.SP_FileDialogNewFolder),
    "connect": ("network-connect", QStyle.StandardPixmap.SP_DialogApplyButton),
    "disconnect": ("network-disconnect", QStyle.StandardPixmap.SP_DialogCancelButton),
    "remove": ("list-remove", QStyle.StandardPixmap.SP_TrashIcon),
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


@functools.cache
def migrate_icon() -> QIcon:
    """Two hosts and an arrow between them: not Start's triangle, whatever the theme."""
    pixmap = QPixmap(22, 22)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(QColor("#4a5563"), 1.5))
    painter.setBrush(QColor("#dfe3e8"))
    painter.drawRoundedRect(1, 6, 6, 10, 1.5, 1.5)
    painter.drawRoundedRect(15, 6, 6, 10, 1.5, 1.5)
    painter.setPen(QPen(QColor("#2f6fdb"), 2))
    painter.drawLine(QPointF(8, 11), QPointF(13.5, 11))
    painter.drawLine(QPointF(11, 8), QPointF(13.5, 11))
    painter.drawLine(QPointF(11, 14), QPointF(13.5, 11))
    painter.end()
    return QIcon(pixmap)


def action_icon(name: str) -> QIcon:
    if name == "migrate":
        return migrate_icon()
    theme_name, fallback = THEME_ACTIONS[name]
    icon = QIcon.fromTheme(theme_name)
    if icon.isNull():
        icon = QApplication.style().standardIcon(fallback)
    return icon


def app_icon() -> QIcon:
    icon = QIcon.fromTheme(APP_ID)
    if icon.isNull():  # not installed in the theme (install-desktop): the shipped files
        icon = QIcon(str(HICOLOR / "scalable" / "apps" / f"{APP_ID}.svg"))
        for png in sorted(HICOLOR.glob(f"*x*/apps/{APP_ID}.png")):
            icon.addFile(str(png))
    return icon
