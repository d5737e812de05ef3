"""Host → Networks…: the host's virtual networks (mode, state, autostart, bridge, ranges, DHCP,
the machines attached) and the selected network's DHCP leases (with the machine each
belongs to), with New Network… (a free subnet and bridge proposed), Start, Stop, Autostart
and Delete. Read and changed through services/networks on the host's worker."""
from __future__ import annotations

from datetime import datetime

import libvirt
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel,
                               QPushButton, QSplitter, QTabWidget, QVBoxLayout, QWidget)

from ...services.core.aio import spawn
from ...services.core.errors import HypervisorError, Refusal
from ...services.networks.networks import Lease, NetworkRow, StaticHost
from ...services.networks.service import NetworkService
from ...services.tasks.records import SUCCEEDED
from ..common.follow import read_again_on
from ..common.plain import RED, ask, last_known_words, plain_label
from ..common.table_model import RowsTableModel, rows_view
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


class NetworksDialog(QDialog):
    def __init__(self, parent: QWidget | None, networks: NetworkService, host_uri: str, label: str) -> None:
        super().__init__(parent)
        self.networks, self.uri = networks, host_uri
        self.setWindowTitle(f"Networks of {label}")
        self.resize(980, 560)
        self.stale = False  # the host does not answer: its last known networks are shown, greyed
        self.rows = RowsTableModel(NETWORK_COLUMNS, network_cells, self, grey=lambda n: self.stale or not n.active)
        self.leases = RowsTableModel(LEASE_COLUMNS, lease_cells, self)
        self.view, self.lease_view = rows_view(self.rows), rows_view(self.leases)
        self.status = plain_label(wrap=True)
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
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(bottom)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        box = QVBoxLayout(self)
        box.addWidget(splitter)
        box.addWidget(self.status)
        box.addWidget(close)
        self.view.selectionModel().selectionChanged.connect(self._chosen)
        self.lease_view.selectionModel().selectionChanged.connect(self._enable)
        self.fixed_view.selectionModel().selectionChanged.connect(self._enable)
        self.running = None
        self.loading = None
        self.form = None
        self._closed = False
        self.finished.connect(self._on_finished)
        changes = networks.changes(host_uri)
        if changes is not None:  # a network started, stopped, defined or removed by anyone: read again
            read_again_on(changes, self, self._read_if_idle)
        state = networks.host_state(host_uri)
        if state is not None:  # the host went away (last known shown) or came back
            read_again_on(state, self, self._read_if_idle)
        self._enable()

    def _read_if_idle(self) -> None:
        """(A change of this dialog's own reads again when it ends.)"""
        if not self._closed and (self.running is None or self.running.done()):
            self.reload()

    def reload(self) -> None:
        self.loading = spawn(self._load())

    async def _load(self) -> None:
        chosen = self.network()
        try:
            rows = await self.networks.read(self.uri)
            if self.stale and not self._closed:
                self._say("")
            self.stale = False
        except HypervisorError as err:
            last = self.networks.last_known.of(self.uri)
            if self._closed:
                return
            if last is None:
                self._say(f"The networks cannot be read: {err.one_line()}", error=True)
                return
            rows, when = last
            self.stale = True
            self._say(last_known_words(when, err.one_line()), error=True)
        if self._closed:
            return
        self.rows.set_rows(rows)
        row = next((i for i, n in enumerate(rows) if chosen is not None and n.name == chosen.name), 0 if rows else -1)
        if row >= 0:
            self.view.selectRow(row)
        self._chosen()

    def network(self) -> NetworkRow | None:
        rows = self.view.selectionModel().selectedRows()
        return self.rows.rows[rows[0].row()] if rows else None

    def _chosen(self, *_args) -> None:
        self._enable()
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
            if not self._closed:
                self.leases_title.setText(f"DHCP leases of {name}: not available ({words})")
            return
        current = self.network()
        if self._closed or current is None or current.name != name:
            return
        self.leases.set_rows(leases)
        self.leases_title.setText(f"DHCP leases of {name}: {len(leases)}")

    def _enable(self, *_args) -> None:
        network = self.network()
        busy = self.stale or (self.running is not None and not self.running.done())
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

    def _run(self, change) -> None:
        self.running = spawn(self._running(change))
        self._enable()

    async def _running(self, change) -> None:
        self._say("Working…")
        try:
            record = await change
        except Refusal as refusal:
            self._say(str(refusal), error=True)
        except HypervisorError as err:
            self._say(err.one_line(), error=True)
        else:
            ok = record.status == SUCCEEDED
            self._say(f"{record.title}: {record.outcome if ok else record.error_message or record.outcome}",
                      error=not ok)
        if not self._closed:
            await self._load()
            self._enable()

    def _say(self, text: str, *, error: bool = False) -> None:
        if not self._closed:
            self.status.setText(text)
            self.status.setStyleSheet(RED if error else "")

    def _change(self, what: str) -> None:
        network = self.network()
        if network is None:
            return
        self._run({"start": lambda: self.networks.start(self.uri, network.name),
                   "stop": lambda: self.networks.stop(self.uri, network.name),
                   "autostart": lambda: self.networks.set_autostart(self.uri, network.name,
                                                                    not network.autostart)}[what]())

    def new_network(self) -> None:
        self.running = spawn(self._open_form())

    async def _open_form(self) -> None:
        try:
            proposal = await self.networks.proposal(self.uri)
        except (HypervisorError, ValueError) as err:
            self._say(f"No free subnet could be proposed: {err}", error=True)
            proposal = ("", "")
        if self._closed:
            return
        self.form = NewNetworkForm(self, proposal)
        self.form.chosen.connect(lambda spec: self._run(self.networks.create(self.uri, spec)))
        self.form.open()
        self._enable()

    def delete_network(self) -> None:
        network = self.network()
        if network is None:
            return
        if network.running:
            self._say(f"Network {network.name} is used by running machines ({', '.join(network.running)}); it "
                      "cannot be deleted.", error=True)
            return
        users = f"\n\n{', '.join(network.machines)} still name it." if network.machines else ""
        self.form = ask(self, "Delete network", f"Delete network {network.name}?{users}",
                        lambda: self._run(self.networks.delete(self.uri, network.name)))

    # ----- fixed addresses -------------------------------------------------------------------
    def add_fixed(self, mac: str = "", ip: str = "", hostname: str = "") -> FixedAddressForm | None:
        network = self.network()
        if network is None:
            return None
        self.form = FixedAddressForm(self, network.name, mac, ip, hostname)
        self.form.chosen.connect(lambda m, a, h: self._run(self.networks.add_static_host(self.uri, network.name,
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
                        lambda: self._run(self.networks.remove_static_host(self.uri, network.name, fixed.mac)))

    def _on_finished(self, _result: int) -> None:
        self._closed = True


def open_networks_dialog(parent: QWidget, networks: NetworkService, host_uri: str, label: str) -> NetworksDialog:
    dialog = NetworksDialog(parent, networks, host_uri, label)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    dialog.reload()
    return dialog
