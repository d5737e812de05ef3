"""An open libvirt connection and the calls still using it; how it is let go."""
from __future__ import annotations

from collections.abc import Callable

import libvirt


class Lease:
    """One open libvirt connection and the calls still using it.

    libvirt-python's close() frees the connection even while another thread is inside
    a call on it (a use-after-free: the process crashes). So a dropped connection is
    released only when the last call using it has returned.
    """

    def __init__(self, conn: libvirt.virConnect) -> None:
        self.conn = conn
        self.users = 0
        self.release: Callable[[], None] | None = None


# An event callback's registration: (what it follows, its id), deregistered by that kind's call.
Registration = tuple[str, int]
_DEREGISTER = {"domain": "domainEventDeregisterAny", "pool": "storagePoolEventDeregisterAny",
               "network": "networkEventDeregisterAny"}


def releasing(conn: libvirt.virConnect, callback_ids: list[Registration]) -> Callable[[], None]:
    """The blocking release of ``conn`` (a worker runs it: a remote close waits for the host):
    its event callbacks, its close callback, then the connection. Never raises."""
    def release() -> None:
        for kind, cid in callback_ids:
            try:
                getattr(conn, _DEREGISTER[kind])(cid)
            except libvirt.libvirtError:
                pass
        for fn in (conn.unregisterCloseCallback, conn.close):
            try:
                fn()
            except libvirt.libvirtError:
                pass
    return release
