"""Host → Networks…: the host's virtual networks (mode, state, autostart, bridge, ranges, DHCP,
the machines attached) and the selected network's DHCP leases (with the machine each
belongs to), with New Network… (a free subnet and bridge proposed), Start, Stop, Autostart
and Delete. Read and changed through services/networks on the host's worker."""
from __future__ import annotations

from datetime import datetime

import libvirt
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QHBoxLayout, QLabel,
                               QPushButton, QTabWidget, QVBoxLayout, QWidget)

from ...services.core.aio import spawn
from ...services.core.errors import HypervisorError, Refusal
from ...services.networks.networks import Lease, NetworkRow, StaticHost
from ...services.networks.service import NetworkService
from ..common.host_objects_dialog import HostObjectsDialog
from ..common.plain import ask, plain_label
from ..common.table_model import RowsTableModel, replace_rows, rows_view, selected_row
from .fixed_address_form import FixedAddressForm
from .network_form import NewNetworkForm

NETWORK_COLUMNS = ("Network", "Mode", "State", "Autostart", "Bridge", "Range", "DHCP", "Machines")
LEASE_COLUMNS = ("Address", "MAC", "Hostname", "Machine", "Expires")
FIXED_COLUMNS = ("MAC", "Address", "Hostname", "Machine")


def network_cells(n: NetworkRow) -> tuple:
    machines = ", ".join(f"{m} (running)" if m in n.running else m for m in n.machines) or "—"
    return (n.name, n.mode_text, "active" if n.active else "inactive", "yes" if n.autostart else "no",
            n.bridge or "—", ", ".join(n.ranges) or "—", ", ".join(n.dhcp) or "—", machines)


def fixed_cells(fixed: StaticHost) -> tuple:
    return (fixed.mac, fixed.ip, fixed.hostname or "—", fixed.machine or "—")


def lease_cells(lease: Lease) -> tuple:
    expires = datetime.fromtimestamp(lease.expires).strftime("%Y-%m-%d %H:%M") if lease.expires else "never"
    return (lease.address, lease.mac, lease.hostname or "—", lease.machine or "—", expires)


class NetworksDialog(HostObjectsDialog):
    def __init__(self, parent: QWidget | None, networks: NetworkService, host_uri: str, label: str) -> None:
        super().__init__(parent, networks, host_uri, "networks")
        self.networks = networks
        self.setWindowTitle(f"Networks of {label}")
        self.resize(980, 560)
        self.rows = RowsTableModel(NETWORK_COLUMNS, network_cells, self, grey=lambda n: self.stale or not n.active)
        self.leases = RowsTableModel(LEASE_COLUMNS, lease_cells, self)
        self.view, self.lease_view = rows_view(self.rows), rows_view(self.leases)
        self.leases_title = plain_label("DHCP leases")
        self.fixed = RowsTableModel(FIXED_COLUMNS, fixed_cells, self)
        self.fixed_view = rows_view(self.fixed)
        self.buttons = {}
        row = QHBoxLayout()
        for name, handler in (("New Network…", self.new_network), ("Start", lambda: self._change("start")),
                              ("Stop", lambda: self._change("stop")), ("Autostart", lambda: self._change("autostart")),
                              ("Delete…", self.delete_network)):
            button = QPushButton(name)
            button.clicked.connect(handler)
            self.buttons[name] = button
            row.addWidget(button)
        row.addStretch()
        top, bottom = QWidget(), QWidget()
        top_box, bottom_box = QVBoxLayout(top), QVBoxLayout(bottom)
        top_box.addWidget(QLabel("Virtual networks"))
        top_box.addWidget(self.view)
        top_box.addLayout(row)
        bottom_box.addWidget(self.leases_title)
        self.lower_tabs = QTabWidget()
        leases_tab, fixed_tab = QWidget(), QWidget()
        leases_box, fixed_box = QVBoxLayout(leases_tab), QVBoxLayout(fixed_tab)
        leases_box.addWidget(self.lease_view)
        fixed_box.addWidget(self.fixed_view)
        for box_, names in ((leases_box, (("Fix This Address…", self.fix_lease),)),
                            (fixed_box, (("Add Fixed Address…", self.add_fixed), ("Remove…", self.remove_fixed)))):
            buttons_row = QHBoxLayout()
            for name, handler in names:
                button = QPushButton(name)
                button.clicked.connect(handler)
                self.buttons[name] = button
                buttons_row.addWidget(button)
            buttons_row.addStretch()
            box_.addLayout(buttons_row)
        self.lower_tabs.addTab(leases_tab, "DHCP leases")
        self.lower_tabs.addTab(fixed_tab, "Fixed addresses")
        bottom_box.addWidget(self.lower_tabs)
        self.arrange(top, bottom)
        self.view.selectionModel().selectionChanged.connect(self._chosen)
        self.lease_view.selectionModel().selectionChanged.connect(self.enable)
        self.fixed_view.selectionModel().selectionChanged.connect(self.enable)
        self.follow_host()
        self.enable()

    def show_rows(self, rows: list[NetworkRow]) -> None:
        replace_rows(self.view, rows)
        self._chosen()

    def network(self) -> NetworkRow | None:
        return selected_row(self.view)

    def _chosen(self, *_args) -> None:
        self.enable()
        network = self.network()
        self.leases.set_rows([])
        self.fixed.set_rows(list(network.static_hosts) if network is not None else [])
        if network is not None and network.active and not self.stale:
            spawn(self._load_leases(network.name))
        else:
            self.leases_title.setText("DHCP leases" + (f" of {network.name}: none (it is not active)"
                                                       if network is not None else ""))

    async def _load_leases(self, name: str) -> None:
        try:
            leases = await self.networks.leases(self.uri, name)
        except (HypervisorError, Refusal) as err:
            if isinstance(err, HypervisorError) and err.code == libvirt.VIR_ERR_NO_SUPPORT:
                words = "this host's driver keeps no leases"
            else:
                words = err.one_line() if isinstance(err, HypervisorError) else str(err)
            current = None if self.closed() else self.network()
            if current is not None and current.name == name:
                self.leases_title.setText(f"DHCP leases of {name}: not available ({words})")
            return
        if self.closed():
            return  # (its widgets may be gone)
        current = self.network()
        if current is None or current.name != name:
            return
        self.leases.set_rows(leases)
        self.leases_title.setText(f"DHCP leases of {name}: {len(leases)}")

    def enable(self, *_args) -> None:
        network = self.network()
        busy = self.busy()
        self.buttons["New Network…"].setEnabled(not busy)
        for name, on in (("Start", network is not None and not network.active),
                         ("Stop", network is not None and network.active),
                         ("Autostart", network is not None), ("Delete…", network is not None),
                         ("Fix This Address…", bool(self.lease_view.selectionModel().selectedRows())),
                         ("Add Fixed Address…", network is not None and bool(network.dhcp)),
                         ("Remove…", bool(self.fixed_view.selectionModel().selectedRows()))):
            self.buttons[name].setEnabled(on and not busy)
        if network is not None:
            self.buttons["Autostart"].setText("No Autostart" if network.autostart else "Autostart")

    def _change(self, what: str) -> None:
        network = self.network()
        if network is None:
            return
        self.run({"start": lambda: self.networks.start(self.uri, network.name),
                   "stop": lambda: self.networks.stop(self.uri, network.name),
                   "autostart": lambda: self.networks.set_autostart(self.uri, network.name,
                                                                    not network.autostart)}[what]())

    def new_network(self) -> None:
        self.running = spawn(self._open_form())

    async def _open_form(self) -> None:
        try:
            proposal = await self.networks.proposal(self.uri)
        except (HypervisorError, ValueError) as err:
            self.say(f"No free subnet could be proposed: {err}", error=True)
            proposal = ("", "")
        if self.closed():
            return
        self.form = NewNetworkForm(self, proposal)
        self.form.chosen.connect(lambda spec: self.run(self.networks.create(self.uri, spec)))
        self.form.open()
        self.enable()

    def delete_network(self) -> None:
        network = self.network()
        if network is None:
            return
        if network.running:
            self.say(f"Network {network.name} is used by running machines ({', '.join(network.running)}); it "
                      "cannot be deleted.", error=True)
            return
        users = f"\n\n{', '.join(network.machines)} still name it." if network.machines else ""
        self.form = ask(self, "Delete network", f"Delete network {network.name}?{users}",
                        lambda: self.run(self.networks.delete(self.uri, network.name)))

    # ----- fixed addresses -------------------------------------------------------------------
    def add_fixed(self, mac: str = "", ip: str = "", hostname: str = "") -> FixedAddressForm | None:
        network = self.network()
        if network is None:
            return None
        self.form = FixedAddressForm(self, network.name, mac, ip, hostname)
        self.form.chosen.connect(lambda m, a, h: self.run(self.networks.add_static_host(self.uri, network.name,
                                                                                          m, a, h)))
        self.form.open()
        return self.form

    def fix_lease(self) -> FixedAddressForm | None:
        """The selected lease's address kept for its MAC from now on."""
        rows = self.lease_view.selectionModel().selectedRows()
        if not rows:
            return None
        lease = self.leases.rows[rows[0].row()]
        return self.add_fixed(lease.mac, lease.address.split("/")[0], lease.hostname)

    def remove_fixed(self) -> None:
        network, rows = self.network(), self.fixed_view.selectionModel().selectedRows()
        if network is None or not rows:
            return
        fixed = self.fixed.rows[rows[0].row()]
        self.form = ask(self, "Remove fixed address", f"Stop giving {fixed.mac} the fixed address {fixed.ip} on "
                                                      f"{network.name}? Its next lease comes from the range.",
                        lambda: self.run(self.networks.remove_static_host(self.uri, network.name, fixed.mac)))



def open_networks_dialog(parent: QWidget, networks: NetworkService, host_uri: str, label: str) -> NetworksDialog:
    dialog = NetworksDialog(parent, networks, host_uri, label)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    dialog.reload()
    return dialog
