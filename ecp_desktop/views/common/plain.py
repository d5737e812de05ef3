"""Data shown as data, never as markup (design 1b).

Names, titles, notes, URIs, host labels and libvirt's words come from other operators and
hosts. Qt guesses: a QLabel, a QMessageBox or a tooltip whose text looks like HTML
(``Qt.mightBeRichText``) is rendered as HTML, links and images included, so a machine named
``<i>web-1<!--`` would hide the rest of a question. Every widget here that shows such data
goes through one of these:

- ``plain_label`` / ``plain``: a QLabel that shows its text as it is;
- ``rich_label`` / ``rich`` with ``esc``: markup we write on purpose, every data piece escaped,
  links never followed;
- ``message_box``: a QMessageBox whose text is plain;
- ``tooltip``: a tooltip (widget, action or item model) that shows its text as it is;
- ``menu_text``: an action's text, its ``&`` shown rather than taken for a shortcut;
- ``notification_text``: a desktop notification, which some servers read as markup.
"""
from __future__ import annotations

from datetime import datetime

import html
import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

from .palette_colours import FAILURE, tone

_SPACE_RUNS = re.compile(r" {2,}")


def problem_style() -> str:
    """The style of a line that says what is wrong: the failure colour readable on the
    palette in force (light or dark)."""
    return f"color: {tone(FAILURE).name()};"


def esc(text: object) -> str:
    """``text`` as a piece of markup we write on purpose."""
    return html.escape(str(text))


def tooltip(text: str) -> str:
    """A tooltip that shows ``text`` exactly, whatever it looks like: rich text whose every
    character is escaped (lines kept, runs of spaces kept)."""
    if not text:
        return ""
    body = _SPACE_RUNS.sub(lambda run: "&nbsp;" * (len(run.group()) - 1) + " ", esc(text))
    return "<qt>" + body.replace("\n", "<br>") + "</qt>"


def plain(label: QLabel) -> QLabel:
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def plain_label(text: str = "", *, wrap: bool = False, selectable: bool = False, bold: bool = False) -> QLabel:
    """A label for data: its text is shown as it is."""
    label = plain(QLabel())
    label.setText(text)
    label.setWordWrap(wrap)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if bold:
        font = label.font()
        font.setBold(True)
        label.setFont(font)
    return label


def rich(label: QLabel) -> QLabel:
    """A label for markup we write (data in it through ``esc``): rich text, links not followed."""
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setOpenExternalLinks(False)
    flags = label.textInteractionFlags() & ~Qt.TextInteractionFlag.LinksAccessibleByMouse \
        & ~Qt.TextInteractionFlag.LinksAccessibleByKeyboard
    label.setTextInteractionFlags(flags)
    return label


def rich_label(markup: str = "", *, wrap: bool = False) -> QLabel:
    label = rich(QLabel())
    label.setText(markup)
    label.setWordWrap(wrap)
    return label


def message_box(icon: QMessageBox.Icon, title: str, text: str,
                buttons: QMessageBox.StandardButton = QMessageBox.StandardButton.NoButton,
                parent: QWidget | None = None) -> QMessageBox:
    """A QMessageBox whose text (a question naming machines, a task's outcome) is plain."""
    box = QMessageBox(icon, title, "", buttons, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(text)
    return box


def ask(parent: QWidget, title: str, question: str, then) -> QMessageBox:
    """Ask ``question`` (plain text: it names machines, pools, hosts as they are), No by default
    (Enter must not delete or force off); ``then()`` on Yes. Opened, never exec(): a nested
    loop breaks qasync."""
    box = message_box(QMessageBox.Icon.Question, title, question,
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    box.finished.connect(lambda result: then() if result == QMessageBox.StandardButton.Yes else None)
    box.open()
    return box


def menu_text(text: str) -> str:
    """An action's text showing ``text``: a lone ``&`` would mark a shortcut key instead."""
    return text.replace("&", "&&")


_NOTIFICATION = str.maketrans({"<": "\u2039", ">": "\u203a", "&": "\uff06"})


def notification_text(text: str) -> str:
    """``text`` for a desktop notification. Notification servers that take markup read
    ``<``, ``>`` and ``&`` as markup; those that do not show entities as they are, and the
    app cannot tell which one it has: those three become look-alikes (‹ › ＆)."""
    return text.translate(_NOTIFICATION)


def last_known_words(when: datetime, why: str) -> str:
    """The line over a view showing a host's last known state: since when, and why."""
    return f"Last known at {when.astimezone().strftime('%Y-%m-%d %H:%M')}, shown greyed: {why}"
