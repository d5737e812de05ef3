"""An action whose host goes away under it: wait (bounded) for the host to come back, and
find out from libvirt what a call whose reply was lost really did.

A daemon restart in the middle of a bulk start breaks the connection under the calls in
flight (their requests may have been carried out: ``tasks.tree.effect_uncertain``) and
under every call after them. Neither is a refusal: the steps still to go wait for the
reconnect, and a lost reply is checked against the machine's state on the new connection.
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Iterable

from ..core.errors import HypervisorError
from ..hosts.connection import HostConnection
from ..hosts.states import state_name

RECONNECT_WAIT = 30.0  # seconds a step waits for its host to come back (ECP_DESKTOP_RECONNECT_WAIT)
RETRY_PAUSE = 0.5  # seconds between two connection attempts while waiting
# HostConnection.close()'s reason: a host the user disconnected is not connected again for them.
CHECKS = 5  # tries of a step whose connection keeps breaking (each try waits at most until the deadline)


def reconnect_wait_from_env(default: float = RECONNECT_WAIT) -> float:
    """ECP_DESKTOP_RECONNECT_WAIT in seconds (0: do not wait); a value that is not a number
    gives the default."""
    try:
        return max(0.0, float(os.environ.get("ECP_DESKTOP_RECONNECT_WAIT", default)))
    except ValueError:
        return default


class ReconnectWait:
    """How long the steps of one action wait for a host that went away during it.

    Invariants: a host is waited for at most ``seconds`` from the moment a step of this
    action first found it away; the other steps share that deadline (a host that does not
    come back fails the remaining steps together, not one window each). A host that was
    already away when the action began is not waited for: its steps fail at once, as the
    user sees it down. One attempt to connect at a time per host: the steps share it.
    """

    def __init__(self, seconds: float, hosts: Iterable[HostConnection | None]) -> None:
        self.seconds = seconds
        self._was_connected = {host.uri for host in hosts if host is not None and host.connected}
        self._deadlines: dict[str, float] = {}
        self._attempts: dict[str, asyncio.Future[bool]] = {}

    def adopt(self, host: HostConnection) -> None:
        """``host`` connected after the action began (its first attempt, joined): waited for
        like the others if it goes away now."""
        if host.connected:
            self._was_connected.add(host.uri)

    def waits_for(self, host: HostConnection | None) -> bool:
        return host is not None and host.uri in self._was_connected and self.seconds > 0

    async def until_back(self, host: HostConnection | None) -> bool:
        """True once ``host`` is connected; False when this action does not wait for it or it
        did not come back in time. Connects by itself: a command's hosts have no reconnect
        timer, and the window's backoff may come after the deadline."""
        if host is not None and host.connected:
            self._deadlines.pop(host.uri, None)  # back: a later loss gets a window of its own
            return True
        if not self.waits_for(host) or host.closed_on_purpose:
            return False
        assert host is not None
        loop = asyncio.get_running_loop()
        deadline = self._deadlines.setdefault(host.uri, loop.time() + self.seconds)
        attempt = self._attempts.get(host.uri)
        if attempt is None or attempt.done():
            attempt = self._attempts[host.uri] = asyncio.ensure_future(self._reconnect(host, deadline))
        return await asyncio.shield(attempt)  # a cancelled step leaves the others' attempt alone

    @staticmethod
    async def _reconnect(host: HostConnection, deadline: float) -> bool:
        loop = asyncio.get_running_loop()
        while not host.connected:
            left = deadline - loop.time()
            if left <= 0 or host.closed_on_purpose:  # the user disconnected (or removed) it meanwhile
                return False
            try:  # idempotent: shares an attempt already in flight (the window's retry timer)
                if await asyncio.wait_for(asyncio.shield(host.connect()), left):
                    return True
            except asyncio.TimeoutError:
                return host.connected
            await asyncio.sleep(min(RETRY_PAUSE, max(0.0, deadline - loop.time())))
        return True


def not_back(error: HypervisorError, host: HostConnection | None, seconds: float, uncertain: bool) -> HypervisorError:
    """``error`` (its code kept: the host was away) saying that the host did not come back
    in time and, for a lost reply, that the effect is unknown."""
    label = host.label if host is not None else error.host_uri
    why = (f"the connection broke under it and {label} did not come back within {seconds:g} s: whether it "
           "took effect is unknown" if uncertain else f"{label} did not come back within {seconds:g} s")
    return dataclasses.replace(error, message=f"{error.message} ({why})")


def read_state(conn, uuid: str) -> str:
    """The machine's state in the one vocabulary (``hosts.states``)."""
    return state_name(conn.lookupByUUIDString(uuid).state()[0])
