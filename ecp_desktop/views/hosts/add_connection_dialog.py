"""Add a libvirt connection: build or type a URI, validate it, try it, then keep it.

The hypervisor box and the URI agree: a template writes its URI, and a URI typed or pasted
selects the template of its scheme (test:// the test driver, qemu+ssh:// QEMU/KVM over SSH),
or "Custom URI". A failure shows libvirt's own words and what to do about them.
"""
from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLineEdit, QVBoxLayout

from ...services.config import credentials
from ...services.core.aio import spawn
from ...services.inventory.live import Inventory
from ...services.hosts.uri import InvalidUri, ParsedUri, display_name, parse_uri
from ..common.error_dialog import advice
from ..common.plain import plain_label, problem_style, tooltip
from ..common.discard_guard import AsksBeforeDiscarding

TEMPLATES = {
    "QEMU/KVM, this computer (system)": "qemu:///system",
    "QEMU/KVM, this computer (user session)": "qemu:///session",
    "QEMU/KVM over SSH": "qemu+ssh://root@HOST/system",
    "QEMU/KVM over TLS": "qemu+tls://HOST/system",
    "QEMU/KVM over TCP (unencrypted)": "qemu+tcp://HOST/system",
    "LXC, this computer": "lxc:///system",
    "Demo host (libvirt test driver)": "test:///default",
    "Custom URI": "",
}
CUSTOM = "Custom URI"
_BY_TRANSPORT = {"ssh": "QEMU/KVM over SSH", "libssh": "QEMU/KVM over SSH", "libssh2": "QEMU/KVM over SSH",
                 "tls": "QEMU/KVM over TLS", "tcp": "QEMU/KVM over TCP (unencrypted)"}


def kind_of(parsed: ParsedUri) -> str:
    """The entry of the hypervisor box that a URI belongs to; ``CUSTOM`` when none does."""
    if parsed.driver == "test":
        return "Demo host (libvirt test driver)"
    local = not parsed.host and parsed.transport in ("", "unix")
    if parsed.driver == "lxc" and local:
        return "LXC, this computer"
    if parsed.driver != "qemu":
        return CUSTOM
    if local:
        return {"/system": "QEMU/KVM, this computer (system)",
                "/session": "QEMU/KVM, this computer (user session)"}.get(parsed.path, CUSTOM)
    if parsed.path != "/system":
        return CUSTOM
    return _BY_TRANSPORT.get(parsed.transport or "tls", CUSTOM)  # a remote qemu:// is TLS


class AddConnectionDialog(AsksBeforeDiscarding, QDialog):
    """Opens the connection for real before accepting; a failure is reported in plain words."""

    connection_added = Signal(str)

    def __init__(self, inventory: Inventory, connect_with_task, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add Connection")
        self.setMinimumWidth(520)
        self._inventory = inventory
        self._connect_with_task = connect_with_task
        self.kind = QComboBox()
        self.kind.addItems(list(TEMPLATES))
        self.uri = QLineEdit("qemu:///system")
        self.uri.setPlaceholderText("driver[+transport]://[user@][host]/path")
        self.label = QLineEdit()
        self.label.setPlaceholderText("optional; e.g. Lab server B")
        self.autoconnect = QCheckBox("Connect automatically when the app starts")
        self.autoconnect.setChecked(True)
        self.message = plain_label(wrap=True)  # quotes the URI typed and libvirt's words
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.connect_button = self.buttons.addButton("Connect", QDialogButtonBox.ButtonRole.AcceptRole)
        form = QFormLayout()
        form.addRow("Hypervisor:", self.kind)
        form.addRow("URI:", self.uri)
        form.addRow("Name:", self.label)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("only if the host asks (SASL/TLS password, SSH key passphrase)")
        keyring_ok, keyring_words = credentials.keyring_status()
        self.password.setToolTip(tooltip("Kept in the system keyring under this URI" if keyring_ok
                                         else keyring_words[:1].upper() + keyring_words[1:]))
        form.addRow("Password:", self.password)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.autoconnect)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.kind.currentTextChanged.connect(self._use_template)
        self.uri.textChanged.connect(self._validate)
        self.buttons.rejected.connect(self.reject)
        self.connect_button.clicked.connect(self._try_connect)
        self._validate()

    def _use_template(self, kind: str) -> None:
        if TEMPLATES[kind]:  # "Custom URI" keeps what was typed
            self.uri.setText(TEMPLATES[kind])

    def _validate(self) -> bool:
        try:
            parsed = parse_uri(self.uri.text())
        except InvalidUri as exc:
            self._say(str(exc), error=True)
            self.connect_button.setEnabled(False)
            return False
        self._follow(parsed)
        if parsed.host == "host" and "HOST" in parsed.uri:  # the template placeholder, untouched
            self._say("Replace HOST with the name or address of the host.", error=True)
            self.connect_button.setEnabled(False)
            return False
        if parsed.uri in self._inventory.hosts:
            self._say("This connection is already in the hosts list.", error=True)
            self.connect_button.setEnabled(False)
            return False
        self._say(f"Will connect to {display_name(parsed.uri)}.")
        self.connect_button.setEnabled(True)
        return True

    def _follow(self, parsed: ParsedUri) -> None:
        """Show the kind of the URI typed in the hypervisor box, without rewriting the URI."""
        kind = kind_of(parsed)
        if kind != self.kind.currentText():
            with QSignalBlocker(self.kind):
                self.kind.setCurrentText(kind)

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet(problem_style() if error else "")

    def _try_connect(self) -> None:
        if not self._validate():
            return
        uri = parse_uri(self.uri.text()).uri
        if self.password.text():
            # The keyring keeps it for later starts; without one, it holds for this session only.
            credentials.remember_for_session(uri, self.password.text())
            credentials.save_secret(uri, self.password.text())
        self.connect_button.setEnabled(False)
        self._say(f"Connecting to {uri} …")
        spawn(self._connect(uri))

    async def _connect(self, uri: str) -> None:
        host, ok = await self._connect_with_task(uri, self.label.text().strip(), self.autoconnect.isChecked())
        if ok:
            self.connection_added.emit(uri)
            self.accept()
            return
        err = host.last_error
        # libvirt's own words first (escaped on one line), then what they mean and what to do.
        text = f"{err.headline()}\n\n{advice(err)}" if err else host.reason
        self._say(f"Could not connect: {text}", error=True)
        self.connect_button.setEnabled(True)
