"""Worker threads give way while the busiest views paint (services/core/gui_first): a paint
of the machines table is about a thousand calls from Qt into Python, each of which would
otherwise wait for a worker to let go of the interpreter lock."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer

from ...services.core import gui_first


class PaintsFirst(QObject):
    def __init__(self, parent: QObject, widgets) -> None:
        super().__init__(parent)
        for widget in widgets:
            widget.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802  (Qt's name)
        if event.type() == QEvent.Type.Paint:
            gui_first.hold()
            QTimer.singleShot(0, gui_first.release)  # runs once this paint is done
        return False
