"""The one way to open a libvirt connection. The URI is checked against the allowlist
(``uri.parse_uri``) first, whoever asks: a host row, a task row's destination, a typed URI.
A URI that is refused never reaches libvirt, so no transport or parameter can make it run
a program."""
from __future__ import annotations

import libvirt

from ..config import credentials
from ..core.errors import HypervisorError
from .uri import InvalidUri, parse_uri


def open_connection(uri: str, *, read_only: bool = False, operation: str = "connect") -> libvirt.virConnect:
    """Blocking: a worker thread. Raises HypervisorError (a refused URI: INVALID_ARG, its reason)."""
    try:
        parse_uri(uri)
    except InvalidUri as exc:
        raise HypervisorError(f"not opened: {exc}", code=libvirt.VIR_ERR_INVALID_ARG, operation=operation,
                              host_uri=uri) from None
    try:
        if read_only:
            return libvirt.openReadOnly(uri)
        # SASL/TLS passwords and SSH passphrases come from the keyring, never a prompt on a tty.
        return libvirt.openAuth(uri, credentials.libvirt_auth(uri), 0)
    except libvirt.libvirtError as exc:
        raise HypervisorError.from_libvirt(exc, operation=operation, host_uri=uri) from None
