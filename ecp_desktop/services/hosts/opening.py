"""The one way to open a libvirt connection. The URI is checked against the allowlist
(``uri.parse_uri``) first, whoever asks: a host row, a task row's destination, a typed URI.
A URI that is refused never reaches libvirt, so no transport or parameter can make it run
a program.

Each open also learns the host's libvirt and hypervisor versions, so that every error from
that host names them, whoever builds it (``errors.remember_host_versions``)."""
from __future__ import annotations

import libvirt

from ..config import credentials
from ..core.errors import HypervisorError, logged, remember_host_versions
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
