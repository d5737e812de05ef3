"""New Virtual Network: a form per mode, checked as you type. NAT, routed, isolated and open
networks get their own subnet (a free one proposed), bridge (proposed), DHCP and an optional
DNS domain; "bridge" puts guests on the host's LAN through an existing host bridge, "macvtap"
directly on a host device. The host checks the subnet against its other networks when asked."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLineEdit, QWidget

from ...services.networks.service import ADDRESSED_MODES, NetworkSpec
from ..common.plain import problem_style, plain_label
from ..common.discard_guard import AsksBeforeDiscarding

MODES = (("NAT", "nat"), ("Routed", "route"), ("Isolated", ""), ("Open", "open"),
         ("Bridge to a host bridge", "bridge"), ("Macvtap on a host device", "macvtap"))


class NewNetworkForm(AsksBeforeDiscarding, QDialog):
    chosen = Signal(object)

    def __init__(self, parent: QWidget | None, proposal: tuple[str, str]) -> None:
        super().__init__(parent)
        self.setWindowTitle("New Virtual Network")
        self.proposed_bridge = proposal[1]
        self.name = QLineEdit()
        self.mode = QComboBox()
        for text, mode in MODES:
            self.mode.addItem(text, mode)
        self.subnet = QLineEdit(proposal[0])
        self.bridge = QLineEdit(proposal[1])
        self.forward_dev = QLineEdit()
        self.forward_dev.setPlaceholderText("eth0")
        self.dns_domain = QLineEdit()
        self.dns_domain.setPlaceholderText("optional, e.g. lab.example")
        self.dhcp = QCheckBox("Hand out addresses (DHCP)")
        self.dhcp.setChecked(True)
        self.status = plain_label(wrap=True)
        self.status.setStyleSheet(problem_style())
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._ok)
        self.buttons.rejected.connect(self.reject)
        self.form = form = QFormLayout(self)
        form.addRow("Name:", self.name)
        form.addRow("Mode:", self.mode)
        form.addRow("Subnet:", self.subnet)
        form.addRow("Bridge:", self.bridge)
        form.addRow("Device:", self.forward_dev)
        form.addRow("DNS domain:", self.dns_domain)
        form.addRow("", self.dhcp)
        form.addRow(self.status)
        form.addRow(self.buttons)
        for field in (self.name, self.subnet, self.bridge, self.forward_dev, self.dns_domain):
            field.textChanged.connect(self.check)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self._mode_changed()

    def _mode_changed(self) -> None:
        mode = self.mode.currentData()
        addressed = mode in ADDRESSED_MODES
        for field in (self.subnet, self.dns_domain, self.dhcp):
            self.form.setRowVisible(field, addressed)
        self.form.setRowVisible(self.bridge, mode != "macvtap")
        self.form.setRowVisible(self.forward_dev, mode in ("nat", "route", "macvtap"))
        self.form.labelForField(self.bridge).setText("Bridge:" if addressed else "Host bridge:")
        self.form.labelForField(self.forward_dev).setText("Device:" if mode == "macvtap" else "Through device:")
        self.forward_dev.setPlaceholderText("eth0" if mode == "macvtap" else "optional: any of the host's")
        if mode == "bridge" and self.bridge.text() == self.proposed_bridge:
            self.bridge.setText("")  # a host bridge is the user's own (br0, ...), not a new virbrN
            self.bridge.setPlaceholderText("br0")
        elif addressed and not self.bridge.text():
            self.bridge.setText(self.proposed_bridge)
        self.check()

    def value(self) -> NetworkSpec:
        def shown(field: QLineEdit) -> str:  # a hidden field (another mode's) says nothing
            return field.text().strip() if self.form.isRowVisible(field) else ""
        return NetworkSpec(self.name.text().strip(), self.mode.currentData(), shown(self.subnet), shown(self.bridge),
                           shown(self.forward_dev), dhcp=self.dhcp.isChecked(), dns_domain=shown(self.dns_domain))

    def check(self) -> None:
        problem = self.value().problem(set(), [])
        self.status.setText(problem or "")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)

    def _ok(self) -> None:
        self.chosen.emit(self.value())
        self.accept()
