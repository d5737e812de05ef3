"""The question a desktop window asks once: which machines should it start when it opens?

A window that starts machines without asking surprises people (issue 23); a fleet that
comes back by itself is what others chose this app for. So the first window asks, the
answer is kept in Preferences, and until then nothing is started."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox, QWidget

from ...services.config import preferences
from ..common.plain import message_box

QUESTION = ("When this window opens, which machines should it start again?\n\n"
            "It can start the machines that were running when you last closed it (or that you "
            "last started), only those you marked Always On, or none. You can change this in "
            "File → Preferences.")


def ask_restore_at_start(parent: QWidget, then: Callable[[str], None]) -> QMessageBox:
    """Ask without blocking (open(), never exec(): a nested loop stalls asyncio); ``then``
    gets the choice, saved first. Closing the box answers nothing: it is asked next time."""
    box = message_box(QMessageBox.Icon.Question, "Start machines when the window opens?", QUESTION,
                      QMessageBox.StandardButton.NoButton, parent)
    buttons = {}
    for choice in preferences.AT_START:
        buttons[box.addButton(preferences.AT_START_LABELS[choice], QMessageBox.ButtonRole.AcceptRole)] = choice
    box.setDefaultButton(next(b for b, c in buttons.items() if c == "never"))  # the safe one
    # Esc or closing the box: no answer (this start starts nothing; the next one asks again).
    box.setEscapeButton(box.addButton("Ask Me Next Time", QMessageBox.ButtonRole.RejectRole))

    def answered(_result: int) -> None:
        choice = buttons.get(box.clickedButton())
        if choice:
            preferences.set_restore_at_start(choice)
            then(choice)
    box.finished.connect(answered)
    box.open()
    return box
