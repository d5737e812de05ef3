"""Which columns a table shows: until the user picks, the columns that fit its width (the
least needed dropped first, shown again when the table widens); a right-click on the header
offers every column, and a pick is remembered. No horizontal scrolling to reach a column."""
from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, QSettings, Qt
from PySide6.QtWidgets import QMenu, QTableView

AUTOMATIC = None  # no pick of the user's: the columns that fit


class ColumnChooser(QObject):
    """``widths``: each column's usual width (what a usual value needs); ``drop_order``: the
    columns that may be hidden to fit, least needed first (the others always fit first).
    The pick is kept under ``key`` in ``settings`` (titles of the hidden columns)."""

    def __init__(self, view: QTableView, widths: Sequence[int], drop_order: Sequence[int],
                 settings: QSettings | None, key: str) -> None:
        super().__init__(view)
        self.view, self.widths, self.drop_order = view, list(widths), list(drop_order)
        self.settings, self.key = settings, key
        self.menu: QMenu | None = None  # the header's menu while on screen
        header = view.horizontalHeader()
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self.open_menu)
        saved = settings.value(key) if settings is not None else None
        self.hidden_titles: set[str] | None = AUTOMATIC if saved is None else {t for t in str(saved).split("|") if t}
        if self.hidden_titles is AUTOMATIC:
            self.fit()
        else:
            self._apply_pick()
        view.installEventFilter(self)  # the view's own events (resize), not its viewport's paints

    def titles(self) -> list[str]:
        model = self.view.model()
        return [str(model.headerData(c, Qt.Orientation.Horizontal)) for c in range(model.columnCount())]

    def available_width(self) -> int:
        """The width the columns may take: the vertical scroll bar's room is kept whether it is
        shown yet or not (rows arriving later bring it, and no resize follows)."""
        return self.view.width() - 2 * self.view.frameWidth() - self.view.verticalScrollBar().sizeHint().width()

    def fit(self) -> None:
        """Show every column, then hide the least needed until the rest fit."""
        shown = set(range(len(self.widths)))
        room = self.available_width()
        for column in self.drop_order:
            if sum(self.widths[c] for c in shown) <= room:
                break
            shown.discard(column)
        for column in range(len(self.widths)):
            self.view.setColumnHidden(column, column not in shown)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802  (Qt's name)
        if event.type() == QEvent.Type.Resize and self.hidden_titles is AUTOMATIC:
            self.fit()
        return False

    def open_menu(self, pos) -> None:
        self.menu = self.header_menu()
        self.menu.popup(self.view.horizontalHeader().mapToGlobal(pos))

    def header_menu(self) -> QMenu:
        """Every column, ticked when shown; and back to the columns that fit."""
        menu = QMenu(self.view)
        for column, title in enumerate(self.titles()):
            action = menu.addAction(title)
            action.setCheckable(True)
            action.setChecked(not self.view.isColumnHidden(column))
            action.setEnabled(column != 0)  # the name column names the row
            action.toggled.connect(lambda shown, c=column: self.choose(c, shown))
        menu.addSeparator()
        fit = menu.addAction("Show the Columns That Fit")
        fit.setCheckable(True)
        fit.setChecked(self.hidden_titles is AUTOMATIC)
        fit.triggered.connect(self.choose_automatic)
        return menu

    def choose(self, column: int, shown: bool) -> None:
        self.view.setColumnHidden(column, not shown)
        titles = self.titles()
        self.hidden_titles = {titles[c] for c in range(len(titles)) if self.view.isColumnHidden(c)}
        self._save("|".join(sorted(self.hidden_titles)))

    def choose_automatic(self) -> None:
        self.hidden_titles = AUTOMATIC
        if self.settings is not None:
            self.settings.remove(self.key)
        self.fit()

    def _apply_pick(self) -> None:
        for column, title in enumerate(self.titles()):
            self.view.setColumnHidden(column, column != 0 and title in self.hidden_titles)

    def _save(self, value: str) -> None:
        if self.settings is not None:
            self.settings.setValue(self.key, value)
