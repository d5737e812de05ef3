"""Which rows a table shows now: told to a callback after a scroll, a sort, a filter, new
rows, a resize, its column shown again or the view shown (at most every ``DELAY_MS``), and as nothing once the
view or its column is hidden. What a column reads from hosts (usage, addresses) is read only
for these rows, so a fleet's rows nobody looks at cost nothing."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer


class RowsInView(QObject):
    DELAY_MS = 250

    def __init__(self, view, column: int, role: int, told: Callable[[list], object]) -> None:
        """``role``: the model's role giving a row's object; ``told(objects)`` gets those in
        view (an empty list when the view or ``column`` is hidden)."""
        super().__init__(view)
        self._view, self._column, self._role, self._told = view, column, role, told
        view.viewport().installEventFilter(self)  # shown or resized: other rows in view
        self._timer = QTimer(view)
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.DELAY_MS)
        self._timer.timeout.connect(self.tell)
        view.verticalScrollBar().valueChanged.connect(self._timer.start)
        # a column hidden or shown again (the header's menu) resizes its section
        view.horizontalHeader().sectionResized.connect(lambda *_: self._timer.start())
        model = view.model()
        for signal in (model.layoutChanged, model.modelReset, model.rowsInserted, model.rowsRemoved):
            signal.connect(self._timer.start)
        view.destroyed.connect(lambda *_: told([]))
        self._timer.start()

    def rows(self) -> list:
        view = self._view
        count = view.model().rowCount()
        if not view.isVisible() or view.isColumnHidden(self._column) or count == 0:
            return []
        top = max(0, view.rowAt(0))
        bottom = view.rowAt(view.viewport().height() - 1)
        bottom = count - 1 if bottom < 0 else bottom
        model = view.model()
        found = (model.index(row, 0).data(self._role) for row in range(top, bottom + 1))
        return [item for item in found if item is not None]

    def tell(self) -> None:
        self._told(self.rows())

    def soon(self) -> None:
        """Look again shortly (e.g. the window was shown again: other rows may be in view)."""
        if not self._timer.isActive():
            self._timer.start()

    def eventFilter(self, watched, event) -> bool:  # noqa: N802  (Qt's name)
        if event.type() in (QEvent.Type.Show, QEvent.Type.Resize, QEvent.Type.Hide):
            self._timer.start()
        return False
