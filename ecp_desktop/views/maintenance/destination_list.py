"""The hosts a plan may move machines to, as a checkable list: every other host, ticked; a host
not connected or in maintenance greyed, with why (plain text: libvirt's reason is data)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListWidget, QListWidgetItem

from ..common.plain import tooltip

URI_ROLE = Qt.ItemDataRole.UserRole


class DestinationList(QListWidget):
    def __init__(self, inventory, source_uri: str, in_maintenance=frozenset(), parent=None) -> None:
        super().__init__(parent)
        for uri, other in inventory.hosts.items():
            if uri == source_uri:
                continue
            item = QListWidgetItem(other.label)
            item.setData(URI_ROLE, uri)
            why = ("in maintenance" if uri in in_maintenance else "" if other.connected
                   else f"not connected ({other.reason or 'not configured'})")
            if why:
                item.setText(f"{other.label} — {why}")
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip(tooltip(why))
            else:
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked)
            self.addItem(item)

    def chosen(self) -> list[str]:
        """The URIs ticked among the hosts that can be chosen."""
        items = [self.item(i) for i in range(self.count())]
        return [i.data(URI_ROLE) for i in items if i.flags() & Qt.ItemFlag.ItemIsEnabled
                and i.checkState() == Qt.CheckState.Checked]
