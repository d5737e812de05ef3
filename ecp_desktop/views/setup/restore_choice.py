"""The wizard's question: which machines should the window start again when it opens?

The same choice as Preferences and the first window's question (services/config/preferences.py
AT_START). Nothing is preselected on a first setup: no machine starts on a choice the user
did not make, so *Run Setup* waits for one. A later run shows the saved answer. The answer is
saved when setup ends (SetupOptions.restore_at_start).
"""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QButtonGroup, QGroupBox, QRadioButton, QVBoxLayout

from ecp_desktop.services.config import preferences

from ..common.plain import plain_label

TITLE = "When ECP Desktop opens, start again"
HINT = "Choose one to run setup. You can change it later in File → Preferences."
CHOSEN = "You can change it later in File → Preferences."


class RestoreChoice(QGroupBox):
    """Three exclusive choices; ``changed`` when the user picks one."""

    changed = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(TITLE, parent)
        layout = QVBoxLayout(self)
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        for choice in preferences.AT_START:
            button = QRadioButton(preferences.AT_START_LABELS[choice])
            self.group.addButton(button)
            self.buttons[choice] = button
            layout.addWidget(button)
        self.hint = plain_label(wrap=True)
        layout.addWidget(self.hint)
        saved = preferences.current().restore_at_start
        if saved in self.buttons:
            self.buttons[saved].setChecked(True)
        self.group.buttonToggled.connect(self._toggled)
        self._show_hint()

    def choice(self) -> str | None:
        """One of preferences.AT_START, or None while the user has not chosen."""
        return next((c for c, b in self.buttons.items() if b.isChecked()), None)

    def _toggled(self, _button, checked: bool) -> None:
        if checked:
            self._show_hint()
            self.changed.emit()

    def _show_hint(self) -> None:
        self.hint.setText(HINT if self.choice() is None else CHOSEN)
