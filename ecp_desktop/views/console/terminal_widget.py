"""A terminal emulator widget: pyte interprets the bytes, this paints its cells.

What arrives is a guest's terminal output (untrusted): pyte turns it into cells of one
character each, painted one cell at a time at its own position, so no markup is ever
read and no bidirectional text reorders the screen; control and format characters that
reach a cell are painted as U+FFFD. Keys become the bytes an xterm sends.

A guest cannot freeze or flood the window through it: output is fed to pyte in slices of at
most SLICE_SECONDS of the GUI thread per turn of the event loop, the rest waiting in a
bounded backlog whose overflow is dropped and said in the terminal; a sequence pyte cannot
take is dropped; a character keeps at most MAX_COMBINING combining marks (pyte normalises a
cell again for each one); switching to 132 columns is ignored.
"""
from __future__ import annotations

import logging
import time
import unicodedata
from collections.abc import Callable

import pyte
from PySide6.QtCore import QEvent, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QClipboard, QColor, QFont, QFontDatabase, QFontMetrics, QGuiApplication, QPainter
from PySide6.QtWidgets import QAbstractScrollArea, QMenu

log = logging.getLogger(__name__)
HISTORY_LINES = 5000
SLICE_BYTES = 256           # fed to pyte at a time (pyte takes about 10 µs a byte of coloured text)
SLICE_SECONDS = 0.008       # of the GUI thread per turn of the event loop, at most (about)
MAX_BACKLOG = 1024 * 1024   # bytes waiting to be shown; what comes beyond is dropped, and said
MAX_COMBINING = 4           # combining marks kept on one character
DECCOLM = 3 << 5            # private mode 3: 132 columns (resizes and clears: ignored)
DROPPED = "\r\n[{count} bytes of output dropped: the guest writes faster than it can be shown]\r\n"
BACKGROUND, FOREGROUND = QColor("#1e1e1e"), QColor("#d4d4d4")
COLOURS = {
    "black": "#000000", "red": "#cd3131", "green": "#0dbc79", "brown": "#e5e510", "blue": "#2472c8",
    "magenta": "#bc3fbc", "cyan": "#11a8cd", "white": "#e5e5e5",
    "brightblack": "#666666", "brightred": "#f14c4c", "brightgreen": "#23d18b", "brightbrown": "#f5f543",
    "brightblue": "#3b8eea", "brightmagenta": "#d670d6", "brightcyan": "#29b8db", "brightwhite": "#ffffff",
}
_CURSOR_KEYS = {Qt.Key.Key_Up: "A", Qt.Key.Key_Down: "B", Qt.Key.Key_Right: "C", Qt.Key.Key_Left: "D",
                Qt.Key.Key_Home: "H", Qt.Key.Key_End: "F"}
_TILDE_KEYS = {Qt.Key.Key_Insert: 2, Qt.Key.Key_Delete: 3, Qt.Key.Key_PageUp: 5, Qt.Key.Key_PageDown: 6,
               Qt.Key.Key_F5: 15, Qt.Key.Key_F6: 17, Qt.Key.Key_F7: 18, Qt.Key.Key_F8: 19, Qt.Key.Key_F9: 20,
               Qt.Key.Key_F10: 21, Qt.Key.Key_F11: 23, Qt.Key.Key_F12: 24}
_SS3_KEYS = {Qt.Key.Key_F1: "P", Qt.Key.Key_F2: "Q", Qt.Key.Key_F3: "R", Qt.Key.Key_F4: "S"}
_PLAIN_KEYS = {Qt.Key.Key_Return: b"\r", Qt.Key.Key_Enter: b"\r", Qt.Key.Key_Backspace: b"\x7f",
               Qt.Key.Key_Tab: b"\t", Qt.Key.Key_Backtab: b"\x1b[Z", Qt.Key.Key_Escape: b"\x1b"}
_CTRL_PUNCTUATION = {Qt.Key.Key_Space: 0, Qt.Key.Key_At: 0, Qt.Key.Key_BracketLeft: 27, Qt.Key.Key_Backslash: 28,
                     Qt.Key.Key_BracketRight: 29, Qt.Key.Key_AsciiCircum: 30, Qt.Key.Key_Underscore: 31,
                     Qt.Key.Key_Question: 127}
DECCKM = 1 << 5            # pyte keeps private modes shifted by 5: application cursor keys
BRACKETED_PASTE = 2004 << 5


def key_bytes(key: int, modifiers: Qt.KeyboardModifier, text: str, app_cursor: bool = False) -> bytes:
    """The bytes an xterm sends for a key ("" when the key sends nothing)."""
    shift = bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
    alt = bool(modifiers & Qt.KeyboardModifier.AltModifier)
    ctrl = bool(modifiers & Qt.KeyboardModifier.ControlModifier)
    param = 1 + shift + 2 * alt + 4 * ctrl
    if key in _CURSOR_KEYS:
        final = _CURSOR_KEYS[key]
        if param > 1:
            return f"\x1b[1;{param}{final}".encode()
        return f"\x1bO{final}".encode() if app_cursor else f"\x1b[{final}".encode()
    if key in _TILDE_KEYS:
        return (f"\x1b[{_TILDE_KEYS[key]};{param}~" if param > 1 else f"\x1b[{_TILDE_KEYS[key]}~").encode()
    if key in _SS3_KEYS:
        return (f"\x1b[1;{param}{_SS3_KEYS[key]}" if param > 1 else f"\x1bO{_SS3_KEYS[key]}").encode()
    if key in _PLAIN_KEYS:
        return (b"\x1b" if alt else b"") + _PLAIN_KEYS[key]
    prefix = b"\x1b" if alt else b""
    if ctrl:
        if Qt.Key.Key_A <= key <= Qt.Key.Key_Z:
            return prefix + bytes([key - Qt.Key.Key_A + 1])
        if key in _CTRL_PUNCTUATION:
            return prefix + bytes([_CTRL_PUNCTUATION[key]])
    return prefix + text.encode("utf-8") if text else b""


def shown(char: str) -> str:
    """A cell's text as painted: control, format (bidi) and separator characters are U+FFFD."""
    return "".join("\ufffd" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs") else c for c in char)


class _Screen(pyte.HistoryScreen):
    """pyte's screen whose answers to the guest's queries (device status, attributes) go back."""

    def __init__(self, columns: int, lines: int, reply: Callable[[str], None]) -> None:
        self._reply = reply
        super().__init__(columns, lines, history=HISTORY_LINES)

    def write_process_input(self, data: str) -> None:
        self._reply(data)

    def draw(self, data: str) -> None:
        # pyte stops drawing a run at a character it cannot place (a bidi control, a stray C1
        # control): the rest of the run would be lost. Such a character becomes U+FFFD instead.
        super().draw(self._few_marks(shown(data)))

    def _few_marks(self, data: str) -> str:
        """``data`` with at most MAX_COMBINING combining marks on any character (counting those
        the character before the cursor has already)."""
        if not any(unicodedata.combining(ch) for ch in data):
            return data
        x = self.cursor.x
        marks = max(len(self.buffer[self.cursor.y][x - 1].data) - 1, 0) if x else 0
        kept = []
        for ch in data:
            if unicodedata.combining(ch):
                marks += 1
                if marks > MAX_COMBINING:
                    continue
            else:
                marks = 0
            kept.append(ch)
        return "".join(kept)

    def erase_in_display(self, how: int = 0, *args, **kwargs) -> None:
        if how in (0, 1, 2, 3):  # anything else raised inside pyte
            super().erase_in_display(how, *args, **kwargs)

    def erase_in_line(self, how: int = 0, private: bool = False) -> None:
        if how in (0, 1, 2):
            super().erase_in_line(how, private)

    def set_mode(self, *modes: int, **kwargs) -> None:
        super().set_mode(*(m for m in modes if not (kwargs.get("private") and m << 5 == DECCOLM)), **kwargs)

    def reset_mode(self, *modes: int, **kwargs) -> None:
        super().reset_mode(*(m for m in modes if not (kwargs.get("private") and m << 5 == DECCOLM)), **kwargs)


class TerminalWidget(QAbstractScrollArea):
    """Feed it bytes (``feed``); keys, pastes and the terminal's replies leave as ``send_requested``."""

    send_requested = Signal(bytes)
    size_changed = Signal(int, int)  # columns, lines

    def __init__(self, parent=None, columns: int = 80, lines: int = 24) -> None:
        super().__init__(parent)
        self.screen = _Screen(columns, lines, lambda text: self.send_requested.emit(text.encode("utf-8")))
        self._stream = pyte.ByteStream(self.screen)
        self._backlog = bytearray()  # output not fed to pyte yet
        self._dropped = 0            # bytes dropped since the last notice
        self._draining = False
        self._scroll = 0  # lines of history shown above the screen (0: at the bottom)
        self._anchor: tuple[int, int] | None = None  # selection, as (absolute line, column)
        self._end: tuple[int, int] | None = None
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.setFont(font)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_InputMethodEnabled, True)
        self.viewport().setCursor(Qt.CursorShape.IBeamCursor)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.setAccessibleName("Serial console terminal")

    # ----- data -------------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Terminal output from the guest: shown now as far as a slice of time allows, the rest
        in the next turns of the event loop; repainted on the next paint (coalesced by Qt)."""
        room = MAX_BACKLOG - len(self._backlog)
        if len(data) > room:
            self._dropped += len(data) - max(room, 0)
            data = data[:max(room, 0)]
        self._backlog += data
        if not self._draining:
            self._drain()

    @property
    def waiting(self) -> int:
        """Bytes of output not shown yet."""
        return len(self._backlog)

    def _drain(self) -> None:
        deadline = time.perf_counter() + SLICE_SECONDS
        before = len(self.screen.history.top)
        while self._backlog and time.perf_counter() < deadline:
            chunk = bytes(self._backlog[:SLICE_BYTES])
            del self._backlog[:SLICE_BYTES]
            self._feed_pyte(chunk)
        if self._dropped and not self._backlog:
            self._feed_pyte(DROPPED.format(count=self._dropped).encode())
            self._dropped = 0
        if self._scroll:
            self._scroll = min(self._scroll + len(self.screen.history.top) - before, len(self.screen.history.top))
        self._update_scrollbar()
        self.viewport().update()
        self._draining = bool(self._backlog)
        if self._draining:
            QTimer.singleShot(0, self, self._drain)  # (dropped with the widget)

    def _feed_pyte(self, chunk: bytes) -> None:
        try:
            self._stream.feed(chunk)
        except Exception:  # noqa: BLE001  (a sequence pyte cannot take: the guest's bytes, dropped)
            log.debug("console output pyte could not take was dropped", exc_info=True)

    def reset(self) -> None:
        self._backlog.clear()
        self._dropped = 0
        self.screen.reset()
        self._scroll, self._anchor, self._end = 0, None, None
        self._update_scrollbar()
        self.viewport().update()

    def display(self) -> list[str]:
        """The visible lines as text (what is painted, trailing spaces kept)."""
        return ["".join(shown(line[x].data) for x in range(self.screen.columns)) for line in self._visible()]

    def _line(self, index: int):
        history = self.screen.history.top
        return history[index] if index < len(history) else self.screen.buffer[index - len(history)]

    def _visible(self) -> list:
        top = len(self.screen.history.top) - self._scroll
        return [self._line(top + row) for row in range(self.screen.lines)]

    # ----- geometry ---------------------------------------------------------------------------
    def cell_size(self) -> tuple[int, int]:
        metrics = QFontMetrics(self.font())
        return max(1, metrics.horizontalAdvance("M")), max(1, metrics.height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        width, height = self.cell_size()
        columns = max(2, self.viewport().width() // width)
        lines = max(1, self.viewport().height() // height)
        if (columns, lines) != (self.screen.columns, self.screen.lines):
            self.screen.resize(lines, columns)  # the guest is told nothing: a serial line has no size
            self._update_scrollbar()
            self.size_changed.emit(columns, lines)

    def _update_scrollbar(self) -> None:
        bar, history = self.verticalScrollBar(), len(self.screen.history.top)
        bar.blockSignals(True)
        bar.setRange(0, history)
        bar.setPageStep(self.screen.lines)
        bar.setValue(history - self._scroll)
        bar.blockSignals(False)

    def _on_scrolled(self, value: int) -> None:
        self._scroll = len(self.screen.history.top) - value
        self.viewport().update()

    def scroll_lines(self, delta: int) -> None:
        """Up (positive) or down through the scrollback."""
        self._scroll = max(0, min(len(self.screen.history.top), self._scroll + delta))
        self._update_scrollbar()
        self.viewport().update()

    # ----- painting ---------------------------------------------------------------------------
    def _colour(self, name: str, default: QColor) -> QColor:
        if name == "default":
            return default
        if name in COLOURS:
            return QColor(COLOURS[name])
        colour = QColor(f"#{name}") if len(name) == 6 else QColor()
        return colour if colour.isValid() else default

    def paintEvent(self, _event) -> None:
        painter = QPainter(self.viewport())
        painter.fillRect(self.viewport().rect(), BACKGROUND)
        width, height = self.cell_size()
        ascent = QFontMetrics(self.font()).ascent()
        fonts: dict[tuple[bool, bool, bool, bool], QFont] = {}
        top = len(self.screen.history.top) - self._scroll
        cursor = self.screen.cursor
        show_cursor = not cursor.hidden and self._scroll == 0
        for row, line in enumerate(self._visible()):
            for x in range(self.screen.columns):
                char = line[x]
                fg, bg = self._colour(char.fg, FOREGROUND), self._colour(char.bg, BACKGROUND)
                if char.bold and char.fg in COLOURS and not char.fg.startswith("bright"):
                    fg = QColor(COLOURS["bright" + char.fg])
                if char.reverse != self._selected(top + row, x):
                    fg, bg = bg, fg
                is_cursor = show_cursor and row == cursor.y and x == cursor.x
                if is_cursor and self.hasFocus():
                    fg, bg = BACKGROUND, FOREGROUND
                if bg != BACKGROUND:
                    painter.fillRect(x * width, row * height, width, height, bg)
                if is_cursor and not self.hasFocus():
                    painter.setPen(FOREGROUND)
                    painter.drawRect(x * width, row * height, width - 1, height - 1)
                text = shown(char.data)
                if text.strip():
                    style = (char.bold, char.italics, char.underscore, char.strikethrough)
                    if style not in fonts:
                        fonts[style] = font = QFont(self.font())
                        font.setBold(style[0])
                        font.setItalic(style[1])
                        font.setUnderline(style[2])
                        font.setStrikeOut(style[3])
                    painter.setFont(fonts[style])
                    painter.setPen(fg)
                    painter.drawText(QPoint(x * width, row * height + ascent), text)
        painter.end()

    # ----- selection, copy and paste ----------------------------------------------------------
    def _cell_at(self, pos: QPoint) -> tuple[int, int]:
        width, height = self.cell_size()
        row = max(0, min(self.screen.lines - 1, pos.y() // height))
        column = max(0, min(self.screen.columns, round(pos.x() / width)))
        return len(self.screen.history.top) - self._scroll + row, column

    def _ordered(self) -> tuple[tuple[int, int], tuple[int, int]] | None:
        if self._anchor is None or self._end is None or self._anchor == self._end:
            return None
        return (self._anchor, self._end) if self._anchor <= self._end else (self._end, self._anchor)

    def _selected(self, line: int, column: int) -> bool:
        span = self._ordered()
        return span is not None and span[0] <= (line, column) < span[1]

    def select(self, start: tuple[int, int], end: tuple[int, int]) -> None:
        """Select from (absolute line, column) to (absolute line, column), end excluded."""
        self._anchor, self._end = start, end
        self.viewport().update()

    def selected_text(self) -> str:
        span = self._ordered()
        if span is None:
            return ""
        (first, start), (last, end) = span
        total = len(self.screen.history.top) + self.screen.lines
        lines = []
        for index in range(first, min(last, total - 1) + 1):
            line = self._line(index)
            begin = start if index == first else 0
            stop = end if index == last else self.screen.columns
            lines.append("".join(shown(line[x].data) for x in range(begin, stop)).rstrip())
        return "\n".join(lines)

    def copy(self) -> None:
        text = self.selected_text()
        if text:
            QGuiApplication.clipboard().setText(text)

    def paste(self, mode: QClipboard.Mode = QClipboard.Mode.Clipboard) -> None:
        self.paste_text(QGuiApplication.clipboard().text(mode))

    def paste_text(self, text: str) -> None:
        """Typed into the guest as if keyed: line ends become Enter; with bracketed paste on,
        wrapped so the shell does not run it line by line (its end marker cannot be pasted)."""
        if not text:
            return
        data = text.replace("\r\n", "\r").replace("\n", "\r").replace("\x1b[201~", "")
        if BRACKETED_PASTE in self.screen.mode:
            data = f"\x1b[200~{data}\x1b[201~"
        self._send(data.encode("utf-8"))

    def _menu(self, pos: QPoint) -> None:
        menu = QMenu(self)
        copy = menu.addAction("&Copy", self.copy)
        copy.setShortcut("Ctrl+Shift+C")
        copy.setEnabled(bool(self.selected_text()))
        menu.addAction("&Paste", self.paste).setShortcut("Ctrl+Shift+V")
        menu.addSeparator()
        menu.addAction("C&lear Scrollback", self._clear_scrollback)
        menu.popup(self.mapToGlobal(pos))

    def _clear_scrollback(self) -> None:
        self.screen.history.top.clear()
        self._scroll, self._anchor, self._end = 0, None, None
        self._update_scrollbar()
        self.viewport().update()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._anchor = self._end = self._cell_at(event.position().toPoint())
            self.viewport().update()
        elif event.button() == Qt.MouseButton.MiddleButton and QGuiApplication.clipboard().supportsSelection():
            self.paste(QClipboard.Mode.Selection)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton and self._anchor is not None:
            self._end = self._cell_at(event.position().toPoint())
            self.viewport().update()

    def mouseReleaseEvent(self, event) -> None:
        text = self.selected_text()
        if text and QGuiApplication.clipboard().supportsSelection():
            QGuiApplication.clipboard().setText(text, QClipboard.Mode.Selection)
        super().mouseReleaseEvent(event)

    # ----- keys -------------------------------------------------------------------------------
    def focusNextPrevChild(self, _next: bool) -> bool:
        return False  # Tab completes in the guest's shell; F6 still leaves the pane

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride:
            mods = event.modifiers()
            ctrl_only = mods & Qt.KeyboardModifier.ControlModifier and not mods & Qt.KeyboardModifier.ShiftModifier
            if ctrl_only or event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape):
                event.accept()  # Ctrl+C, Ctrl+D, Ctrl+F... belong to the guest while typing here
                return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        key, mods = event.key(), event.modifiers()
        shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
        ctrl_shift = shift and bool(mods & Qt.KeyboardModifier.ControlModifier)
        if ctrl_shift and key == Qt.Key.Key_C:
            self.copy()
        elif (ctrl_shift and key == Qt.Key.Key_V) or (shift and key == Qt.Key.Key_Insert):
            self.paste()
        elif shift and key in (Qt.Key.Key_PageUp, Qt.Key.Key_PageDown):
            self.scroll_lines(self.screen.lines if key == Qt.Key.Key_PageUp else -self.screen.lines)
        else:
            data = key_bytes(key, mods, event.text(), DECCKM in self.screen.mode)
            if not data:
                return super().keyPressEvent(event)
            self._send(data)

    def inputMethodEvent(self, event) -> None:
        if event.commitString():
            self._send(event.commitString().encode("utf-8"))

    def _send(self, data: bytes) -> None:
        if self._scroll:
            self.scroll_lines(-self._scroll)  # typing returns to the bottom
        self._anchor = self._end = None
        self.send_requested.emit(data)
