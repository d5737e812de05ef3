"""A cell's roles in one call from Qt into Python, through a filter proxy too.

Each call from Qt into Python waits for the interpreter lock, which worker threads hold
between their libvirt calls (bench/fleet.py: the GUI stall while a fleet loads). A view asks
a cell's roles with one ``multiData`` call; a Python model answers it in one call
(``cell_roles``), but Qt's proxies answer it with a ``data`` call per role, each mapping the
index to the source again: about twenty calls into Python for each cell painted. The proxy
here forwards the whole call to its source instead."""
from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel


def cell_roles(model, index, roles) -> None:
    """``model.data`` for each role Qt asks, inside one call (a model's ``multiData``)."""
    for role_data in roles:
        role_data.setData(model.data(index, role_data.role()))


class OneCallProxy(QSortFilterProxyModel):
    def multiData(self, index, roles) -> None:  # noqa: N802  (Qt's name)
        if index.isValid():
            self.sourceModel().multiData(self.mapToSource(index), roles)
