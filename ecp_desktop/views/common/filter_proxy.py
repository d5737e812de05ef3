"""A filter proxy that makes no call into Python per row while no filter is set.

Each call from Qt into Python waits for the interpreter lock, which worker threads hold
between their libvirt calls (bench/fleet.py). A ``filterAcceptsRow`` written in Python is
called for every row inserted or changed, filter or not: a host's 1,000 rows, or a bulk
action's 1,000 steps, were a thousand such calls. Here Qt's own filter runs instead: with no
filter set its empty pattern keeps every row without asking the model; with one, it asks the
source model's ``ACCEPT_ROLE``, which answers with the proxy's ``accepts(index)``."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QRegularExpression, QSortFilterProxyModel, Qt

from .one_call_per_cell import OneCallProxy

ACCEPT_ROLE = Qt.ItemDataRole.UserRole + 50  # "y" for a row the filter keeps, "n" otherwise
_KEPT = QRegularExpression("^y$")
_NO_FILTER = QRegularExpression()


def accept_answer(accepted: bool) -> str:
    """What a source model answers under ACCEPT_ROLE."""
    return "y" if accepted else "n"


class PredicateFilterProxy(OneCallProxy):
    """Subclasses say when a filter is set (``active``), change it only through ``change``,
    and keep rows by ``accepts``; their source model answers ACCEPT_ROLE with
    ``accept_answer(proxy.accepts(index))``."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setFilterRole(ACCEPT_ROLE)
        self.setDynamicSortFilter(False)  # on while a filter is set: see change()

    @property
    def active(self) -> bool:
        raise NotImplementedError

    def change(self, apply: Callable[[], object], active: bool) -> None:
        """Change the filter with ``apply()``, after which ``active`` says whether it is set."""
        # Changed rows are filtered again only while a filter is set: with none, every row stays
        # and a change of 100,000 rows (a fleet's hosts lost at once) costs no filter calls.
        self.setDynamicSortFilter(active)
        if active and self.active:
            self.beginFilterChange()
            apply()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
            return
        apply()
        if active or self.filterRegularExpression().pattern():
            # Turned on or off: Qt filters again (once) when the pattern changes.
            self.setFilterRegularExpression(_KEPT if active else _NO_FILTER)
