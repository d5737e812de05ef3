"""One window per user and database: a second launch raises the first one's window.

The first instance listens on a local socket named after the user, the computer and the
database, in a directory only this user can enter: ``$XDG_RUNTIME_DIR`` when it is a private
directory of ours (owned by us, no access for anyone else), else ``ecp-desktop`` under the
user's cache directory (or ``ecp-desktop-UID`` under the temporary directory), made 0700.
Never a shared place such as /tmp, where another local user could create the name first
and make every launch believe it is already running.

Nothing found there is trusted without checks: a socket file must be a socket owned by us,
and the process behind it must run as us (the peer's uid, where the system tells it); else
it is ignored (and replaced), with a log line, and this launch goes on as the first
instance. A socket left by a crashed instance answers nobody, so it is removed and taken over.
"""
from __future__ import annotations

import hashlib
import logging
import os
import socket as pysocket
import stat
import struct
import tempfile
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from ..models.db import without_password

log = logging.getLogger(__name__)

MAX_PATH = 107  # the bytes of a Unix socket's path (sun_path holds 108 with the final NUL)


def socket_key(database_url: str) -> str:
    """The socket's file name: the user, the computer and the database (without its password)."""
    who = f"{os.geteuid()}\0{pysocket.gethostname()}\0{without_password(database_url)}"
    return f"ecp-desktop-{hashlib.sha256(who.encode()).hexdigest()[:16]}"


def _private(path: Path, *, tighten: bool) -> str | None:
    """Why ``path`` is not a directory only we can use (None when it is). ``tighten``: it is
    our own subdirectory, so a symbolic link there is refused and loose permissions on it are
    corrected rather than refused (the session's XDG_RUNTIME_DIR may be a link: followed)."""
    try:
        st = os.lstat(path) if tighten else os.stat(path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not stat.S_ISDIR(st.st_mode):
        return "is not a directory" if not stat.S_ISLNK(st.st_mode) else "is a symbolic link"
    if st.st_uid != os.geteuid():
        return f"belongs to uid {st.st_uid}, not to this user (uid {os.geteuid()})"
    if st.st_mode & 0o077:
        if not tighten:
            return f"is open to other users (mode {stat.S_IMODE(st.st_mode):o})"
        try:
            os.chmod(path, 0o700)
        except OSError as exc:
            return f"is open to other users and cannot be closed ({exc.strerror})"
    return None


def _own_subdirectory(path: Path) -> str | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        return f"cannot be made ({exc.strerror})"
    return _private(path, tighten=True)


def _fits(directory: Path) -> bool:
    return directory.is_absolute() and len(os.fsencode(directory)) + len(socket_key("")) + 1 <= MAX_PATH


def _fallbacks() -> list[Path]:
    cache = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(cache):
        try:
            cache = str(Path.home() / ".cache")
        except RuntimeError:  # no home directory
            cache = ""
    found = [Path(cache) / "ecp-desktop"] if cache else []
    return found + [Path(tempfile.gettempdir()) / f"ecp-desktop-{os.geteuid()}"]


def socket_dir() -> Path | None:
    """Where this user's single-instance sockets live; None when no private place is found."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime:
        why_not = _private(Path(runtime), tighten=False) if _fits(Path(runtime)) else "is not a usable path"
        if why_not is None:
            return Path(runtime)
        log.info("single instance: XDG_RUNTIME_DIR %s %s; using a private directory instead", runtime, why_not)
    for candidate in _fallbacks():
        if not _fits(candidate):
            log.info("single instance: %s is too long a path for a socket; not used", candidate)
            continue
        why_not = _own_subdirectory(candidate)
        if why_not is None:
            return candidate
        log.warning("single instance: %s %s; not used", candidate, why_not)
    log.warning("single instance: no private directory for the socket; a second launch will not find this one")
    return None


def server_name(database_url: str) -> str | None:
    """The full path of the socket for ``database_url`` (None when there is no private place)."""
    where = socket_dir()
    return str(where / socket_key(database_url)) if where is not None else None


def _not_ours(path: str) -> str | None:
    """Why the file at ``path`` is not a socket of ours (None when it is, or is absent)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not stat.S_ISSOCK(st.st_mode):
        return "is not a socket"
    if st.st_uid != os.geteuid():
        return f"belongs to uid {st.st_uid}, not to this user (uid {os.geteuid()})"
    return None


def peer_uid(socket: QLocalSocket) -> int | None:
    """The uid of the process at the other end of ``socket``, where the system tells it (Linux)."""
    option = getattr(pysocket, "SO_PEERCRED", None)
    descriptor = int(socket.socketDescriptor())
    if option is None or descriptor < 0:
        return None
    try:
        with pysocket.socket(fileno=os.dup(descriptor)) as sock:
            raw = sock.getsockopt(pysocket.SOL_SOCKET, option, struct.calcsize("iII"))
        _pid, uid, _gid = struct.unpack("iII", raw)  # struct ucred: pid_t, uid_t, gid_t
    except OSError:
        return None
    return uid


class SingleInstance(QObject):
    raise_requested = Signal()

    def __init__(self, database_url: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = server_name(database_url)  # a full path, or None: no single instance then
        self.server: QLocalServer | None = None

    def ask_running_instance(self, timeout_ms: int = 1000) -> bool:
        """True when another instance of ours answered (and was asked to raise its window)."""
        if self.name is None:
            return False
        why_not = _not_ours(self.name)
        if why_not:
            log.warning("single instance: %s %s; ignored, this launch goes on", self.name, why_not)
            return False
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(timeout_ms):
            return False
        uid = peer_uid(socket)
        if uid is not None and uid != os.geteuid():
            log.warning("single instance: %s is answered by uid %d, not by this user; ignored, this launch "
                        "goes on", self.name, uid)
            socket.abort()
            return False
        socket.write(b"raise\n")
        socket.flush()
        socket.waitForBytesWritten(timeout_ms)
        socket.disconnectFromServer()
        return True

    def listen(self) -> bool:
        if self.name is None:
            return False
        why_not = _not_ours(self.name)
        if why_not:
            log.warning("single instance: %s %s; replaced", self.name, why_not)
            try:
                os.unlink(self.name)
            except OSError as exc:
                log.warning("single instance: cannot remove %s (%s); no single instance", self.name, exc.strerror)
                return False
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
            uid = peer_uid(socket)
            if uid is not None and uid != os.geteuid():
                log.warning("single instance: a connection from uid %d ignored", uid)
                socket.abort()
                socket.deleteLater()
                continue
            # A bound slot, not a lambda holding this object: no cycle keeps it to be collected
            # at some later moment, perhaps while one of its sockets is delivering an event.
            socket.readyRead.connect(self._read)
            socket.disconnected.connect(socket.deleteLater)

    def _read(self) -> None:
        socket = self.sender()
        if isinstance(socket, QLocalSocket) and bytes(socket.readAll()).strip() == b"raise":
            log.info("raised by a second launch")
            self.raise_requested.emit()
