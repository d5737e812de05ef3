"""The hosts a plan may move machines to, as a checkable list: every other host, ticked; a host
not connected or in maintenance greyed, with why (plain text: libvirt's reason is data)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from ...services.hosts.placement import placement_refusal
from ..common.plain import plain_label, tooltip

URI_ROLE = Qt.ItemDataRole.UserRole


class DestinationList(QListWidget):
    def __init__(self, inventory, source_uri: str, in_maintenance=frozenset(), parent=None) -> None:
        super().__init__(parent)
        for uri, other in inventory.hosts.items():
            if uri == source_uri:
                continue
            item = QListWidgetItem(other.label)
            item.setData(URI_ROLE, uri)
            why = placement_refusal(uri, other, in_maintenance)
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


def beside_the_plan(destinations: DestinationList, plan: QWidget, status: QWidget, plan_share: int) -> QHBoxLayout:
    """The destinations on the left, the plan's table and its status on the right (the plan gets
    ``plan_share`` times the list's width)."""
    left = QVBoxLayout()
    left.addWidget(plain_label("Destinations:"))
    left.addWidget(destinations, 1)
    right = QVBoxLayout()
    right.addWidget(plan, 1)
    right.addWidget(status)
    row = QHBoxLayout()
    row.addLayout(left, 1)
    row.addLayout(right, plan_share)
    return row
