"""Fixtures the views' tests share."""
import pytest
from PySide6.QtWidgets import QWidget


@pytest.fixture
def parent(qtbot):
    """A window for a dialog under test to belong to, closed with the test."""
    widget = QWidget()
    qtbot.addWidget(widget)
    return widget
