"""One window per user and database: a second launch raises the first one's window.

"The database" is the one opened, not the URL's text: an SQLite file reached through a
symbolic link, a ``./`` or another hard link is the same file (its device and inode; its
resolved path while it does not exist yet), and a PostgreSQL database is its server, port
and name (host names and defaults normalised; never the user or a password). An instance
listens under every name its database has (the file's identity and its resolved path), and
under the file's identity as soon as setup creates the file, so whichever way a second
launch names it, it finds the first.

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
import ipaddress
import logging
import os
import socket as pysocket
import stat
import struct
import tempfile
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlparse

from PySide6.QtCore import QFileSystemWatcher, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from ...models.db import without_password

log = logging.getLogger(__name__)

MAX_PATH = 107  # the bytes of a Unix socket's path (sun_path holds 108 with the final NUL)


def sqlite_file(database_url: str) -> str | None:
    """The absolute path of the SQLite file ``database_url`` opens (as peewee reads the URL:
    the path after ``sqlite:///``, relative to the working directory unless it starts with
    a fourth /); None for another backend or an in-memory database."""
    try:
        parsed = urlparse(database_url)
    except ValueError:
        return None
    if not parsed.scheme.startswith("sqlite"):
        return None
    path = parsed.path[1:]
    return os.path.abspath(path) if path and path != ":memory:" else None


def _local(host: str) -> bool:
    """A name for this computer's own server: a Unix socket directory, loopback, our name."""
    if not host or host.startswith("/") or host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == pysocket.gethostname().lower()


def _postgres_identity(database_url: str) -> str | None:
    """server:port/database, as libpq would resolve them (URL, then its query, then PGHOST,
    PGPORT and the user's name as the database's default); no user, no password."""
    try:
        parsed = urlparse(database_url)
        port = parsed.port
    except ValueError:
        return None
    if parsed.scheme.split("+")[0] not in ("postgresql", "postgres"):
        return None
    query = dict(parse_qsl(parsed.query))
    hosts = parsed.hostname or query.get("host") or os.environ.get("PGHOST", "")
    port = port or query.get("port") or os.environ.get("PGPORT") or 5432
    user = unquote(parsed.username or "") or query.get("user") or os.environ.get("PGUSER", "")
    name = unquote(parsed.path.strip("/")) or query.get("dbname") or os.environ.get("PGDATABASE") or user
    normal = []
    for host in hosts.split(","):
        host = host.strip().lower().rstrip(".").strip("[]")
        if _local(host):
            host = "local"
        else:
            try:
                host = ipaddress.ip_address(host).compressed
            except ValueError:
                pass
        normal.append(host)
    return f"postgresql:{','.join(normal)}:{port}/{name}"


def database_identities(database_url: str) -> list[str]:
    """What names the database ``database_url`` opens, the strongest first: for an SQLite
    file, its device and inode (when it exists) and its resolved path; for PostgreSQL, the
    server, port and database; else the URL without its password."""
    path = sqlite_file(database_url)
    if path is not None:
        found = []
        try:
            st = os.stat(path)  # follows links: the file they lead to
            found.append(f"sqlite-file:{st.st_dev}:{st.st_ino}")
        except OSError:
            pass  # not made yet (setup makes it): its resolved path names it meanwhile
        return found + [f"sqlite-path:{os.path.realpath(path)}"]
    return [_postgres_identity(database_url) or without_password(database_url)]


def _key(identity: str) -> str:
    """A socket's file name: the user, the computer and one identity of the database."""
    who = f"{os.geteuid()}\0{pysocket.gethostname()}\0{identity}"
    return f"ecp-desktop-{hashlib.sha256(who.encode()).hexdigest()[:16]}"


def socket_keys(database_url: str) -> list[str]:
    return [_key(identity) for identity in database_identities(database_url)]


def socket_key(database_url: str) -> str:
    """The socket's file name for the database's strongest identity."""
    return socket_keys(database_url)[0]


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
    names = server_names(database_url)
    return names[0] if names else None


def server_names(database_url: str) -> list[str]:
    """The full paths of the sockets for each identity of the database, strongest first."""
    where = socket_dir()
    return [str(where / key) for key in socket_keys(database_url)] if where is not None else []


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
        self.database_url = database_url
        self.names = server_names(database_url)  # full paths, strongest first; none: no single instance
        self.name = self.names[0] if self.names else None
        self.server: QLocalServer | None = None  # the first listening (``servers`` has them all)
        self.servers: dict[str, QLocalServer] = {}
        self._watcher: QFileSystemWatcher | None = None

    def ask_running_instance(self, timeout_ms: int = 1000) -> bool:
        """True when another instance of ours answered (and was asked to raise its window)."""
        return any(self._ask(name, timeout_ms) for name in self.names)

    def _ask(self, name: str, timeout_ms: int) -> bool:
        why_not = _not_ours(name)
        if why_not:
            log.warning("single instance: %s %s; ignored, this launch goes on", name, why_not)
            return False
        socket = QLocalSocket()
        socket.connectToServer(name)
        if not socket.waitForConnected(timeout_ms):
            return False
        uid = peer_uid(socket)
        if uid is not None and uid != os.geteuid():
            log.warning("single instance: %s is answered by uid %d, not by this user; ignored, this launch "
                        "goes on", name, uid)
            socket.abort()
            return False
        socket.write(b"raise\n")
        socket.flush()
        socket.waitForBytesWritten(timeout_ms)
        socket.disconnectFromServer()
        return True

    def listen(self) -> bool:
        """Listen under every name of the database; True when under at least one. An SQLite
        file not made yet is watched for, so that its own identity is listened under once it is."""
        for name in self.names:
            self._listen_on(name)
        self._watch_for_file()
        return bool(self.servers)

    def _listen_on(self, name: str) -> bool:
        if name in self.servers:
            return True
        why_not = _not_ours(name)
        if why_not:
            log.warning("single instance: %s %s; replaced", name, why_not)
            try:
                os.unlink(name)
            except OSError as exc:
                log.warning("single instance: cannot remove %s (%s); not listened under", name, exc.strerror)
                return False
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(name):
            QLocalServer.removeServer(name)  # left by an instance that crashed
            if not server.listen(name):
                log.warning("single-instance socket %s: %s", name, server.errorString())
                server.deleteLater()
                return False
        server.newConnection.connect(self._on_connection)
        self.servers[name] = server
        self.server = self.server or server
        return True

    def close(self) -> None:
        """Stop answering under every name (at quit: a launch from now on starts afresh)."""
        if self._watcher is not None:
            self._watcher.deleteLater()
            self._watcher = None
        for server in self.servers.values():
            server.close()
        self.servers.clear()
        self.server = None

    def _watch_for_file(self) -> None:
        """While the SQLite file does not exist, watch the nearest directory there is on its way."""
        path = sqlite_file(self.database_url)
        if path is None or not self.names or os.path.exists(path):
            if self._watcher is not None:
                self._watcher.deleteLater()
                self._watcher = None
            return
        directory = Path(os.path.realpath(path)).parent
        while not directory.is_dir() and directory != directory.parent:
            directory = directory.parent
        if self._watcher is None:
            self._watcher = QFileSystemWatcher(self)
            self._watcher.directoryChanged.connect(self._directory_changed)
        if self._watcher.directories() != [str(directory)]:
            if self._watcher.directories():
                self._watcher.removePaths(self._watcher.directories())
            self._watcher.addPath(str(directory))

    def _directory_changed(self, _directory: str) -> None:
        names = server_names(self.database_url)
        for name in names:
            if name not in self.servers and self._listen_on(name):
                log.info("single instance: the database file exists now; also listening as %s", name)
        self.names = list(dict.fromkeys(self.names + names))
        self._watch_for_file()

    def _on_connection(self) -> None:
        server = self.sender()
        if not isinstance(server, QLocalServer):
            return
        while server.hasPendingConnections():
            socket = server.nextPendingConnection()
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
