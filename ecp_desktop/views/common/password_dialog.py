"""Asks for a password the keyring does not have; offers to keep it there (never in a file)."""
from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QDialog, QDialogButtonBox, QLineEdit, QVBoxLayout, QWidget

from ...services.config import credentials
from .plain import plain_label


class PasswordDialog(QDialog):
    def __init__(self, account: str, prompt: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.account = account
        self.setWindowTitle("Password needed")
        layout = QVBoxLayout(self)
        layout.addWidget(plain_label(prompt, wrap=True))  # names the account: data
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        layout.addWidget(self.password)
        usable, words = credentials.keyring_status()
        self.remember = QCheckBox("Remember it in the system keyring")
        self.remember.setEnabled(usable)
        self.remember.setChecked(usable)
        layout.addWidget(self.remember)
        self.note = plain_label("" if usable else words[:1].upper() + words[1:] + ".", wrap=True)
        layout.addWidget(self.note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def keep(self) -> str | None:
        """Keep the typed password for this session, and in the keyring if asked; why not, if not."""
        secret = self.password.text()
        credentials.remember_for_session(self.account, secret)
        if self.remember.isChecked():
            return credentials.save_secret(self.account, secret)
        return None
