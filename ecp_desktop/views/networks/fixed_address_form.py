"""The form of a fixed DHCP address: the interface's MAC, the address DHCP always gives it and
an optional host name, checked as typed (the host checks the address against the network's
subnets when asked)."""
from __future__ import annotations

import ipaddress

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLineEdit, QWidget

from ...services.libvirt_xml.devices import MAC
from ...services.networks.service import HOSTNAME
from ..common.plain import problem_style, plain_label
from ..common.discard_guard import AsksBeforeDiscarding


class FixedAddressForm(AsksBeforeDiscarding, QDialog):
    chosen = Signal(str, str, str)  # MAC, address, host name

    def __init__(self, parent: QWidget | None, network: str, mac: str = "", ip: str = "", hostname: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Fixed Address on {network}")
        self.mac, self.ip, self.hostname = QLineEdit(mac), QLineEdit(ip), QLineEdit(hostname)
        self.mac.setPlaceholderText("52:54:00:12:34:56")
        self.ip.setPlaceholderText("192.168.122.50")
        self.hostname.setPlaceholderText("optional")
        self.status = plain_label(wrap=True)
        self.status.setStyleSheet(problem_style())
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._ok)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("MAC address:", self.mac)
        form.addRow("Address:", self.ip)
        form.addRow("Host name:", self.hostname)
        form.addRow(self.status)
        form.addRow(self.buttons)
        for field in (self.mac, self.ip, self.hostname):
            field.textChanged.connect(self.check)
        self.check()

    def problem(self) -> str:
        mac, ip, hostname = self.mac.text().strip(), self.ip.text().strip(), self.hostname.text().strip()
        if not MAC.match(mac):
            return "a MAC address such as 52:54:00:12:34:56"
        try:
            ipaddress.IPv4Address(ip)
        except ValueError:
            return "an IPv4 address such as 192.168.122.50"
        if hostname and not HOSTNAME.fullmatch(hostname):
            return "a host name is a letter, then letters, digits and '-' (at most 63)"
        return ""

    def check(self) -> None:
        problem = self.problem()
        self.status.setText(problem)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)

    def _ok(self) -> None:
        self.chosen.emit(self.mac.text().strip(), self.ip.text().strip(), self.hostname.text().strip())
        self.accept()
