"""The Qt binding must not drop references to None (PySide6 6.12.0 did, in void methods).

On Python 3.11 None is an ordinary object: each dropped reference brings it closer to
being freed, and the app aborts ("deallocating None") after some ten thousand calls,
e.g. while the setup wizard lists a 10,000-machine host. Python 3.12 made None immortal,
so there this check holds trivially; pyproject pins a binding without the bug.
"""
import sys

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QStandardItem
from PySide6.QtWidgets import QTreeWidgetItem

CALLS = 5000
FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable


def none_references_lost(call) -> int:
    before = sys.getrefcount(None)
    for _ in range(CALLS):
        call()
    return before - sys.getrefcount(None)


def test_void_methods_the_app_calls_in_bulk_keep_none_alive(qapp):
    item, standard, obj = QTreeWidgetItem(["a", "b"]), QStandardItem("a"), QObject()
    calls = {
        "QTreeWidgetItem.setFlags": lambda: item.setFlags(FLAGS),
        "QTreeWidgetItem.setData": lambda: item.setData(0, Qt.ItemDataRole.UserRole, "uuid"),
        "QTreeWidgetItem.setCheckState": lambda: item.setCheckState(0, Qt.CheckState.Checked),
        "QTreeWidgetItem.setToolTip": lambda: item.setToolTip(0, "tip"),
        "QStandardItem.setData": lambda: standard.setData("x", Qt.ItemDataRole.UserRole),
        "QObject.setObjectName": lambda: obj.setObjectName("name"),
    }
    lost = {name: none_references_lost(call) for name, call in calls.items()}
    assert all(n < CALLS // 10 for n in lost.values()), f"references to None dropped: {lost}"
