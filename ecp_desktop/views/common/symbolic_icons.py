"""The bundled action icons: GNOME's Adwaita symbolic set, drawn dark on a light palette and
light on a dark one, chosen each time an icon is drawn (so a palette change recolours them)."""
from __future__ import annotations

import functools

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QGuiApplication, QIcon, QIconEngine, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

from ... import RESOURCES

SYMBOLIC = RESOURCES / "icons" / "adwaita-symbolic"
LIGHT_PALETTE_INK = "#2e3436"  # the one colour every bundled file is drawn in
DARK_PALETTE_INK = "#eeeeec"
DISABLED_OPACITY = 0.4  # faded towards the background, whichever palette


def is_dark_palette(palette: QPalette | None = None) -> bool:
    """Whether the palette (the application's by default) draws on a dark window background."""
    palette = palette if palette is not None else QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def bundled_names() -> list[str]:
    """The icon names the bundled set has (freedesktop names, without "-symbolic")."""
    return sorted(path.name.removesuffix("-symbolic.svg") for path in SYMBOLIC.glob("*-symbolic.svg"))


@functools.cache
def _svg(name: str) -> str:
    path = SYMBOLIC / f"{name}-symbolic.svg"
    if not path.is_file():
        raise ValueError(f"no bundled icon named {name!r} (bundled: {', '.join(bundled_names())})")
    return path.read_text(encoding="utf-8")


@functools.cache
def _rendered(name: str, ink: str, width: int, height: int, opacity: float) -> QPixmap:
    svg = _svg(name).replace(LIGHT_PALETTE_INK, ink)
    pixmap = QPixmap(width, height)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setOpacity(opacity)
    side = min(width, height)  # square icons, centred in a non-square request
    QSvgRenderer(QByteArray(svg.encode())).render(
        painter, QRectF((width - side) / 2, (height - side) / 2, side, side))
    painter.end()
    return pixmap


class SymbolicIconEngine(QIconEngine):
    """One bundled icon, in the ink that reads on the application's palette when drawn."""

    def __init__(self, name: str) -> None:
        super().__init__()
        _svg(name)  # an unknown name fails here, not at the first paint
        self.name = name

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        if mode == QIcon.Mode.Selected:  # on the highlight, in the highlight's own text colour
            ink = QGuiApplication.palette().color(QPalette.ColorRole.HighlightedText).name()
        else:
            ink = DARK_PALETTE_INK if is_dark_palette() else LIGHT_PALETTE_INK
        opacity = DISABLED_OPACITY if mode == QIcon.Mode.Disabled else 1.0
        return _rendered(self.name, ink, size.width(), size.height(), opacity)

    def scaledPixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State, scale: float) -> QPixmap:
        pixmap = QPixmap(self.pixmap(size * scale, mode, state))
        pixmap.setDevicePixelRatio(scale)
        return pixmap

    def paint(self, painter: QPainter, rect, mode: QIcon.Mode, state: QIcon.State) -> None:
        scale = painter.device().devicePixelRatioF() if painter.device() else 1.0
        painter.drawPixmap(rect, self.scaledPixmap(rect.size(), mode, state, scale))

    def actualSize(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QSize:
        return size

    def iconName(self) -> str:
        return self.name

    def key(self) -> str:
        return "ecp-adwaita-symbolic"

    def clone(self) -> SymbolicIconEngine:
        return SymbolicIconEngine(self.name)


def symbolic_icon(name: str) -> QIcon:
    """The bundled icon ``name`` (a freedesktop name such as "media-playback-start")."""
    return QIcon(SymbolicIconEngine(name))
