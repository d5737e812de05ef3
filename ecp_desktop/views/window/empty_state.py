"""What the machine list says when it shows nothing, with the next step as a button.

No hosts: Add Connection or the demo host. A filter that matches nothing: the filter's
mistake named ("stat" is not a filter word; did you mean state:?) and Clear Filter. Hosts
selected with no machines: Show All Hosts."""
from __future__ import annotations

import difflib

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from ...services.actions.host_actions import HostActions
from ...services.core.aio import spawn
from ...services.hosts.probe import DEMO_LABEL, DEMO_URI
from ...services.inventory.live import Inventory
from ..common.plain import plain_label
from ..common.follow import follow

FIELDS = ("name", "state", "host")
STATE_WORDS = ("running", "paused", "shutoff", "shut off", "crashed", "blocked", "suspended", "known",
               "last known", "no state", "shutting down")


def filter_mistakes(text: str) -> list[str]:
    """What in a filter's text is probably a typo, in words; [] when every term reads well."""
    said = []
    for word in text.split():
        field, sep, value = word.partition(":")
        if not sep:
            continue
        if field.casefold() not in FIELDS:
            near = difflib.get_close_matches(field.casefold(), FIELDS, n=1)
            hint = f"; did you mean {near[0]}:?" if near else ""
            said.append(f"“{field}:” is not a filter word (name:, state:, host:){hint}")
        elif field.casefold() == "state" and value and not any(value.casefold() in s for s in STATE_WORDS):
            near = difflib.get_close_matches(value.casefold(), STATE_WORDS, n=1)
            said.append(f"no state is called “{value}”" + (f"; did you mean {near[0]}?" if near else ""))
    return said


class EmptyState(QWidget):
    """Laid over the machines view's viewport; shown only while the view has no row."""

    def __init__(self, window, inventory: Inventory, host_actions: HostActions) -> None:
        view = window.machines_view
        super().__init__(view.viewport())
        self.window, self.inventory, self.host_actions = window, inventory, host_actions
        self.message = plain_label(wrap=True)  # quotes the user's filter text: plain
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        row.addStretch(1)
        for key, label, slot in (("add", "Add Connection…", window.open_add_connection),
                                 ("demo", "Use the Demo Host", self._use_demo),
                                 ("clear", "Clear Filter", window.filter_edit.clear),
                                 ("all", "Show All Hosts", window.hosts_view.clearSelection)):
            button = QPushButton(label)
            button.clicked.connect(slot)
            self.buttons[key] = button
            row.addWidget(button)
        row.addStretch(1)
        box = QVBoxLayout(self)
        box.addStretch(1)
        box.addWidget(self.message)
        box.addLayout(row)
        box.addStretch(2)
        # Installed only while shown: a filter on the viewport is a call into Python for each of
        # its events (every paint), and each such call waits for the interpreter lock.
        self._follower = _ResizeFollower(self)
        proxy = window.machine_proxy
        for signal in (proxy.rowsInserted, proxy.rowsRemoved, proxy.modelReset, proxy.layoutChanged):
            signal.connect(self.refresh)
        window.filter_edit.textChanged.connect(self.refresh)
        follow(inventory.host_added, self, lambda *_: self.refresh())
        follow(inventory.host_removed, self, lambda *_: self.refresh())
        follow(inventory.host_changed, self, lambda *_: self.refresh())
        window.hosts_view.selectionModel().selectionChanged.connect(self.refresh)
        self.refresh()

    def _use_demo(self) -> None:
        spawn(self.host_actions.add(DEMO_URI, DEMO_LABEL))

    def refresh(self, *_args) -> None:
        window = self.window
        if window.machine_proxy.rowCount() > 0:
            if not self.isHidden():
                self.hide()
                self.parentWidget().removeEventFilter(self._follower)
            return
        hosts = self.inventory.hosts
        text = window.filter_edit.text().strip()
        shown = set()
        if not hosts:
            message = "No hosts yet. Add a connection to a libvirt host, or look around on the demo host."
            shown = {"add", "demo"}
        elif text and window.machine_model.rowCount():
            mistakes = filter_mistakes(text)
            message = f"No machine matches “{text}”." + ("\n" + "\n".join(mistakes) if mistakes else "")
            shown = {"clear"}
        elif window.hosts_view.selectionModel().hasSelection() and window.machine_model.rowCount():
            message = "No machines on the selected hosts."
            shown = {"all"}
        elif any(h.state.value in ("connecting", "reconnecting") for h in hosts.values()):
            message = "Connecting…"
        else:
            message = ("No machines on the connected hosts yet. Define one with virsh or virt-install, "
                       "or add another connection.")
            shown = {"add"}
        self.message.setText(message)
        for key, button in self.buttons.items():
            button.setVisible(key in shown)
        self.parentWidget().installEventFilter(self._follower)
        self.resize(self.parentWidget().size())
        self.show()
        self.raise_()


class _ResizeFollower(QObject):
    def __init__(self, overlay: EmptyState) -> None:
        super().__init__(overlay)
        self.overlay = overlay

    def eventFilter(self, watched, event) -> bool:  # noqa: N802  (Qt's name)
        if event.type() == QEvent.Type.Resize:
            self.overlay.resize(watched.size())
        return False
