"""Details of the selected machine: general facts at once, disks/NICs/XML read lazily."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QFontDatabase
from PySide6.QtWidgets import (QFormLayout, QHBoxLayout, QLabel, QPlainTextEdit, QTableWidget, QTableWidgetItem,
                               QTabWidget, QToolButton, QVBoxLayout, QWidget)

from ...services.core.aio import spawn
from ...services.core.errors import HypervisorError
from ...services.guests.addresses import read_addresses
from ...services.guests.agent import read_guest_facts
from ...services.inventory.live import Inventory
from ...services.libvirt_xml.domain import Domain, read_domain
from ...services.hosts.guest_support import unsupported_reason
from ...services.hosts.states import ACTIVE_STATES
from ...services.inventory.machines import MachineInfo
from .machine_model import memory_text, seen_text, state_text
from ..console.console_tab import ConsoleTab
from .notes_editor import NotesEditor
from ..common.plain import plain_label, problem_style, tooltip
from ..common.follow import follow


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _fill(table: QTableWidget, rows: list[tuple[str, ...]]) -> None:
    table.setRowCount(len(rows))
    for row, values in enumerate(rows):
        for col, value in enumerate(values):
            item = QTableWidgetItem(value)
            item.setToolTip(tooltip(value))
            table.setItem(row, col, item)
    table.resizeColumnsToContents()


class ActionButton(QToolButton):
    """A button for a window action that Enter presses too, as Space does."""

    def __init__(self, action: QAction) -> None:
        super().__init__()
        self.setDefaultAction(action)
        self.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def keyPressEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.isEnabled():
            self.click()
            return
        super().keyPressEvent(event)


class DetailsPanel(QTabWidget):
    def __init__(self, inventory: Inventory, parent=None) -> None:
        super().__init__(parent)
        self._inventory = inventory
        self._machine: MachineInfo | None = None
        self._request = 0
        self.details: Domain | None = None

        general = QWidget()
        self._form = QFormLayout(general)
        self._fields: dict[str, QLabel] = {}
        for key in ("Name", "State", "Addresses", "Guest OS", "Guest hostname", "Host", "UUID", "vCPUs", "Memory",
                    "Autostart", "Persistent", "Type", "Architecture", "Machine type", "Title"):
            label = plain_label("—", wrap=True, selectable=True)  # names and titles are data
            self._fields[key] = label
            self._form.addRow(f"{key}:", label)
        self._note = plain_label("Select a machine to see its details.", wrap=True)
        # Shown when the host's recorded guest types (setup's local host record) lack this
        # machine's type: starting it there would fail, or start something else.
        self.guest_warning = plain_label(wrap=True, selectable=True)  # names libvirt's words
        self.guest_warning.setStyleSheet(problem_style())
        self.guest_warning.hide()
        wrapper = QWidget()
        box = QVBoxLayout(wrapper)
        # The selected machine's everyday actions (the window's own, so enabled as in its menu).
        self.action_row = QHBoxLayout()
        self.action_buttons: dict[QAction, QToolButton] = {}
        box.addLayout(self.action_row)
        box.addWidget(self._note)
        box.addWidget(self.guest_warning)
        box.addWidget(general)
        box.addStretch(1)
        self.addTab(wrapper, "General")

        # Disks and interfaces on one tab: fewer tabs keep every title whole in a narrow pane.
        self.disks = _table(["Target", "Source", "Format", "Bus", "Device"])
        self.nics = _table(["Source", "MAC", "Addresses", "Model", "Type"])
        hardware = QWidget()
        hardware_box = QVBoxLayout(hardware)
        hardware_box.setContentsMargins(0, 0, 0, 0)
        for title, table in (("Disks", self.disks), ("Interfaces", self.nics)):
            hardware_box.addWidget(plain_label(title))
            hardware_box.addWidget(table)
        self.addTab(hardware, "Hardware")
        self.xml = QPlainTextEdit()
        self.xml.setReadOnly(True)
        self.xml.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.addTab(self.xml, "XML")
        self.notes = NotesEditor(inventory)
        self.addTab(self.notes, "Notes")
        self._machine_tabs: list = [self.notes]
        # The serial console follows the machine and its host; it is shown in a pane of its
        # own beside the tasks (window_layout), where a terminal has room.
        self.console = ConsoleTab()
        follow(inventory.machines_changed, self, self._on_changed)

    def show_actions(self, actions: list[QAction]) -> None:
        """Buttons for ``actions`` above the general facts: each follows its action's text,
        enabled state and shortcut (the window's menu actions)."""
        for action in actions:
            button = ActionButton(action)
            self.action_row.addWidget(button)
            self.action_buttons[action] = button
        self.action_row.addStretch(1)

    def add_machine_tab(self, tab, title: str = "") -> None:
        """A view that follows the selected machine (its ``show_machine`` is called); a tab
        here when titled, else shown elsewhere (a pane beside the tasks)."""
        self._machine_tabs.append(tab)
        if title:
            self.addTab(tab, title)

    def show_machine(self, machine: MachineInfo | None) -> None:
        for tab in self._machine_tabs:
            tab.show_machine(machine)
        self.console.show_machine(machine, self._inventory.hosts.get(machine.host_uri) if machine else None)
        self._machine = machine
        self._request += 1
        self.details = None
        self.disks.setRowCount(0)
        self.nics.setRowCount(0)
        self.xml.setPlainText("")
        self.guest_warning.hide()
        self.guest_warning.setText("")
        if machine is None:
            self._note.setText("Select a machine to see its details.")
            for label in self._fields.values():
                label.setText("—")
            return
        self._note.setText("")
        self._fill_general(machine)
        for key in ("Addresses", "Guest OS", "Guest hostname"):
            self._fields[key].setText("—")  # (read with the details)
        spawn(self._load_details(machine, self._request))

    def _on_changed(self, machines: list[MachineInfo]) -> None:
        current = self._machine
        if current is None:
            return
        for m in machines:
            if m.key == current.key:
                self._machine = m
                self._fill_general(m)
                self.console.show_machine(m, self._inventory.hosts.get(m.host_uri))  # same machine: kept

    def _fill_general(self, m: MachineInfo) -> None:
        host = self._inventory.hosts.get(m.host_uri)
        state = (m.reason if m.reason and m.live else state_text(m)) + (f", {seen_text(m)}" if not m.live else "")
        values = {"Name": m.name, "State": state,
                  "Host": f"{host.label if host else ''} ({m.host_uri})", "UUID": m.uuid,
                  "vCPUs": str(m.vcpus), "Memory": memory_text(m.memory_kib),
                  "Autostart": "yes" if m.autostart else "no",
                  "Persistent": "yes" if m.persistent else "no (transient)"}
        for key, value in values.items():
            self._fields[key].setText(value)

    async def _load_details(self, machine: MachineInfo, request: int) -> None:
        host = self._inventory.hosts.get(machine.host_uri)
        if host is None or not host.connected:
            self.xml.setPlainText("The host is not connected; details are not available.")
            return
        uuid = machine.uuid

        def read(conn):
            dom = conn.lookupByUUIDString(uuid)
            return read_domain(dom), read_addresses(dom), read_guest_facts(dom)
        try:
            details, addresses, guest = await host.call(read, operation="read machine XML", machine=machine.name)
        except HypervisorError as err:
            if request == self._request:
                self.xml.setPlainText(f"Could not read the machine's XML: {err.one_line()}")
            return
        if request != self._request:
            return  # the selection moved on while we were reading
        self.details = details
        self.xml.setPlainText(details.xml)
        for key, value in (("Type", details.domain_type), ("Architecture", details.arch),
                           ("Machine type", details.machine_type or details.os_type),
                           ("Title", details.title or "—")):
            self._fields[key].setText(value or "—")
        _fill(self.disks, [(d.target, d.source, d.format, d.bus, d.device) for d in details.disks])
        _fill(self.nics, [(n.source, n.mac, addresses[n.mac.lower()].text() if n.mac.lower() in addresses else "",
                           n.model, n.kind) for n in details.interfaces])
        self._fields["Addresses"].setText("\n".join(a.text() for a in addresses.values()) or "—")
        no_agent = "— (no guest agent answers)" if machine.state in ACTIVE_STATES else "— (not running)"
        self._fields["Guest OS"].setText(guest.os_name or no_agent)
        self._fields["Guest hostname"].setText(guest.hostname or no_agent)
        offered = await self._inventory.recorded_guest_types(machine.host_uri)
        reason = offered is not None and unsupported_reason(
            offered, os_type=details.os_type, arch=details.arch, machine_type=details.machine_type,
            domain_type=details.domain_type)
        if reason and request == self._request:
            self.guest_warning.setText(f"Not offered by this host: {reason}. It would not start here "
                                       "(restore reports it instead of starting it).")
            self.guest_warning.show()
