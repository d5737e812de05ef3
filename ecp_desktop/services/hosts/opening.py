"""The one way to open a libvirt connection. The URI is checked against the allowlist
(``uri.parse_uri``) first, whoever asks: a host row, a task row's destination, a typed URI.
A URI that is refused never reaches libvirt, so no transport or parameter can make it run
a program.

Each open also learns the host's libvirt and hypervisor versions, so that every error from
that host names them, whoever builds it (``errors.remember_host_versions``)."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import libvirt

from ..config import approved_hosts, credentials
from ..core.errors import HypervisorError, Refusal, logged, remember_host_versions
from .facts import HostFacts, read_facts, version_text
from .uri import InvalidUri, parse_uri


def open_connection(uri: str, *, read_only: bool = False, operation: str = "connect") -> libvirt.virConnect:
    """Blocking: a worker thread. Raises HypervisorError (a refused URI: INVALID_ARG, its reason)."""
    try:
        parse_uri(uri)
    except InvalidUri as exc:
        raise logged(HypervisorError(f"not opened: {exc}", code=libvirt.VIR_ERR_INVALID_ARG,
                                     operation=operation, host_uri=uri)) from None
    try:
        if read_only:
            conn = libvirt.openReadOnly(uri)
        else:
            # SASL/TLS passwords and SSH passphrases come from the keyring, never a prompt on a tty.
            conn = libvirt.openAuth(uri, credentials.libvirt_auth(uri), 0)
    except libvirt.libvirtError as exc:
        raise HypervisorError.from_libvirt(exc, operation=operation, host_uri=uri) from None
    remember_host_versions(uri, version_text(_version(conn.getLibVersion)), version_text(_version(conn.getVersion)))
    return conn


def open_approved(uri: str, *, operation: str) -> libvirt.virConnect:
    """Open a host a task row names (a migration's other end): only one this user approved on
    this workstation; a row alone never chooses where this workstation's credentials go.
    Blocking: a worker thread. ``Refusal`` when not approved."""
    if not approved_hosts.is_approved(uri):
        raise Refusal(f"not opened: {uri} is not a host approved on this workstation (a task record names it); "
                      "add it with Add Connection if it is yours, then retry")
    return open_connection(uri, operation=operation)


def _version(read) -> int:
    try:
        return read()
    except libvirt.libvirtError:  # some drivers report no hypervisor version: none to name
        return 0


def open_for_use(uri: str, *, keepalive: bool) -> tuple[libvirt.virConnect, HostFacts]:
    """Blocking: a worker thread. A connection for a host row: keepalive on (a peer that stops
    answering is noticed in 20 s), and the host's facts read. Raises HypervisorError."""
    conn = open_connection(uri)
    try:
        try:
            if keepalive:
                try:
                    conn.setKeepAlive(5, 3)
                except libvirt.libvirtError as exc:
                    if exc.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:  # local drivers need none
                        raise
            return conn, read_facts(conn)
        except libvirt.libvirtError:
            conn.close()
            raise
    except libvirt.libvirtError as exc:
        raise HypervisorError.from_libvirt(exc, operation="connect", host_uri=uri) from None


class SharedConnections:
    """Read-only connections opened at most once per URI and shared by one setup run (and the
    wizard's pages before it): the probe's connection is the one the preview and the import read.
    On an SSH host an open is a handshake; on a 10,000-machine test host it is most of the cost.

    Thread-safe. ``close()`` closes each kept connection once; while a reader holds the pool
    (``in_use``), the close waits for the last one to let go, so no read loses its connection
    under it. After ``close()`` nothing more is kept: a late probe closes its own connection.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[str, libvirt.virConnect] = {}
        self._users = 0
        self._closing = False

    def kept(self, uri: str) -> libvirt.virConnect | None:
        with self._lock:
            return self._kept.get(uri)

    def keep(self, uri: str, conn: libvirt.virConnect) -> bool:
        """Take ``conn`` over; False (the caller closes it): one is kept already, or the pool is closed."""
        with self._lock:
            if self._closing or uri in self._kept:
                return False
            self._kept[uri] = conn
            return True

    def get(self, uri: str, *, operation: str = "connect") -> libvirt.virConnect:
        """Blocking: a worker thread. The kept connection, else a new one, kept. Raises HypervisorError."""
        with self._lock:
            conn, closing = self._kept.get(uri), self._closing
        if conn is None and not closing:
            conn = open_connection(uri, read_only=True, operation=operation)
            if self.keep(uri, conn):
                return conn
            _close_quietly(conn)  # another thread kept one meanwhile, or setup ended meanwhile
            conn = self.kept(uri)
        if conn is None:
            raise HypervisorError("setup is over: its connections are closed", code=libvirt.VIR_ERR_INVALID_CONN,
                                  operation=operation, host_uri=uri)
        return conn

    @contextmanager
    def in_use(self) -> Iterator[SharedConnections]:
        with self._lock:
            self._users += 1
        try:
            yield self
        finally:
            with self._lock:
                self._users -= 1
                last = self._users == 0 and self._closing
            if last:
                self._close_kept()

    def close(self) -> None:
        """Blocking (a remote close is a message): a worker thread. Idempotent."""
        with self._lock:
            self._closing = True
            if self._users:
                return  # the last user closes them
        self._close_kept()

    def _close_kept(self) -> None:
        with self._lock:
            conns = list(self._kept.values())
            self._kept.clear()
        for conn in conns:
            _close_quietly(conn)


def _close_quietly(conn: libvirt.virConnect) -> None:
    try:
        conn.close()
    except libvirt.libvirtError:
        pass  # a connection that broke is closed anyway
