"""One window per user and database: a second launch raises the first one's window.

The first instance listens on a local socket named after the user and the database;
a second launch that reaches it sends "raise" and exits. A socket left by a crashed
instance answers nobody, so it is removed and taken over.
"""
from __future__ import annotations

import getpass
import hashlib
import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from ..models.db import without_password

log = logging.getLogger(__name__)


def server_name(database_url: str) -> str:
    key = hashlib.sha256(f"{getpass.getuser()}\0{without_password(database_url)}".encode()).hexdigest()[:16]
    return f"ecp-desktop-{key}"


class SingleInstance(QObject):
    raise_requested = Signal()

    def __init__(self, database_url: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = server_name(database_url)
        self.server: QLocalServer | None = None

    def ask_running_instance(self, timeout_ms: int = 1000) -> bool:
        """True when another instance answered (and was asked to raise its window)."""
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(timeout_ms):
            return False
        socket.write(b"raise\n")
        socket.flush()
        socket.waitForBytesWritten(timeout_ms)
        socket.disconnectFromServer()
        return True

    def listen(self) -> bool:
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not self.server.listen(self.name):
            QLocalServer.removeServer(self.name)  # left by an instance that crashed
            if not self.server.listen(self.name):
                log.warning("single-instance socket %s: %s", self.name, self.server.errorString())
                return False
        self.server.newConnection.connect(self._on_connection)
        return True

    def _on_connection(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)

    def _read(self, socket: QLocalSocket) -> None:
        if bytes(socket.readAll()).strip() == b"raise":
            log.info("raised by a second launch")
            self.raise_requested.emit()
