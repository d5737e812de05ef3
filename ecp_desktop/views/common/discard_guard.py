"""Dialogs and wizards that hold typed input ask before Esc, Cancel or the close button
throw it away.

What counts is what the *user* changed: the signals watched are the ones Qt emits for a
user's edit only (``textEdited``, ``activated``, ``clicked``, a text edit's undo becoming
available), so a field the dialog fills in itself never makes it ask."""
from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import (QAbstractSlider, QAbstractSpinBox, QCheckBox, QComboBox, QDialog, QLineEdit,
                               QMessageBox, QPlainTextEdit, QRadioButton, QTextEdit, QWidget, QWizard)

from .plain import message_box


class TypedInput(QObject):
    """Whether the user has changed any input widget under ``root`` since it was watched."""

    def __init__(self, root: QWidget) -> None:
        super().__init__(root)
        self.root = root
        self.touched = False
        self._watched: set[int] = set()
        self.watch()

    def watch(self) -> None:
        """Watch the input widgets now under the root (again after pages or rows were added;
        a widget already watched is left as it is)."""
        for widget in self.root.findChildren(QWidget):
            if id(widget) in self._watched:
                continue
            if self._connect(widget):
                self._watched.add(id(widget))

    def _connect(self, widget: QWidget) -> bool:
        if isinstance(widget, QLineEdit):
            widget.textEdited.connect(self._touch)
        elif isinstance(widget, QComboBox):
            widget.activated.connect(self._touch)
        elif isinstance(widget, QCheckBox | QRadioButton):
            widget.clicked.connect(self._touch)
        elif isinstance(widget, QPlainTextEdit | QTextEdit):
            widget.undoAvailable.connect(lambda available: available and self._touch())
        elif isinstance(widget, QAbstractSpinBox):
            # typing goes through its line edit (watched above); arrows and the wheel give it focus
            widget.editingFinished.connect(lambda w=widget: w.hasFocus() and w.isModified() and self._touch())
            if hasattr(widget, "valueChanged"):
                widget.valueChanged.connect(lambda _value, w=widget: w.hasFocus() and self._touch())
        elif isinstance(widget, QAbstractSlider):
            widget.sliderMoved.connect(self._touch)
        else:
            return False
        return True

    def _touch(self, *_args) -> None:
        self.touched = True


class AsksBeforeDiscarding:
    """For a QDialog or QWizard subclass (listed before the Qt class): once the user has typed
    something, Esc, Cancel and the close button ask "Discard …?" (Keep Editing by default)
    instead of closing. Its widgets are watched from the first show on (and those added
    later, at each show and each wizard page)."""

    typed_input: TypedInput | None = None
    discard_question: QMessageBox | None = None

    def showEvent(self, event) -> None:
        if self.typed_input is None:
            self.typed_input = TypedInput(self)
            if isinstance(self, QWizard):
                self.currentIdChanged.connect(lambda _id: self.typed_input.watch())
        else:
            self.typed_input.watch()
        super().showEvent(event)

    def typed_input_saved(self) -> None:
        """What was typed is applied (the dialog stays open): closing it now loses nothing."""
        if self.typed_input is not None:
            self.typed_input.touched = False

    def discard_typed_input(self) -> None:
        """Close without asking (after the user said Discard, or when nothing is left to keep)."""
        if self.typed_input is not None:
            self.typed_input.touched = False
        QDialog.reject(self)

    def has_unsaved_input(self) -> bool:
        """Whether closing now loses something the user entered (a dialog whose buttons and
        lists also enter things says so itself)."""
        return self.typed_input is not None and self.typed_input.touched

    def reject(self) -> None:
        if not self.has_unsaved_input():
            QDialog.reject(self)
            return
        if self.discard_question is not None and self.discard_question.isVisible():
            return
        title = self.windowTitle() or "this dialog"
        box = message_box(QMessageBox.Icon.Question, f"Discard {title}?",
                          f"You have changed fields in {title}. Close it and lose what you typed?",
                          QMessageBox.StandardButton.NoButton, self)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep Editing", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)
        box.finished.connect(lambda _result: box.clickedButton() is discard and self.discard_typed_input())
        self.discard_question = box
        box.open()
