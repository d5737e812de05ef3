"""Is a host's daemon there to answer? Cheap checks made before libvirt's open.

libvirt's open cannot be cancelled: on a host that drops packets it keeps its thread for as
long as TCP retries (about 130 s), whatever time limit the app sets. So where the address
libvirt will use is known for sure, the app asks first:

* a daemon on this machine (``qemu:///system``, ``...?socket=PATH``): a non-blocking connect
  to its Unix socket, instant and silent. It is checked often while the host is down, so a
  daemon that comes back is noticed at once (no log lines, no threads);
* ``+tcp`` and ``+tls``: a TCP connect to the daemon's port with the app's time limit. The
  thread making it ends within the limit, answered or not.

SSH is not checked: ssh's own configuration (aliases, ProxyJump) decides where it connects,
so a direct check could refuse a host that ssh reaches.
"""
from __future__ import annotations

import errno
import os
import socket
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

import libvirt

from ..core.errors import HypervisorError, logged
from .uri import InvalidUri, parse_uri

DAEMON_PORTS = {"tcp": 16509, "tls": 16514}
# the per-driver daemon (modular libvirt) first, then the monolithic libvirtd
DRIVER_DAEMONS = {"qemu": "virtqemud", "lxc": "virtlxcd", "libxl": "virtxend", "xen": "virtxend", "ch": "virtchd",
                  "vbox": "virtvboxd", "bhyve": "virtbhyved"}
ABSENT = {errno.ENOENT, errno.ECONNREFUSED, errno.ENOTDIR, errno.ENOTSOCK}


@dataclass(frozen=True)
class DaemonAddress:
    """Where libvirt will connect for a URI: Unix socket paths (any one is enough) or host:port."""
    sockets: tuple[str, ...] = ()
    host: str = ""
    port: int = 0

    @property
    def is_local(self) -> bool:
        return bool(self.sockets)


def daemon_address(uri: str) -> DaemonAddress | None:
    """None when there is nothing to check first (in-process drivers, ssh, a refused URI)."""
    try:
        parsed = parse_uri(uri)
    except InvalidUri:
        return None
    parts = urlsplit(parsed.uri)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    if parsed.transport in DAEMON_PORTS:
        return DaemonAddress(host=parsed.host, port=parts.port or DAEMON_PORTS[parsed.transport])
    if parsed.host or parsed.transport not in ("", "unix"):
        return None
    if "socket" in params:
        return DaemonAddress(sockets=(params["socket"],))
    if parsed.is_test or parsed.transport == "" and parsed.driver in ("esx", "vpx", "hyperv", "vz", "openvz"):
        return None  # in-process (test), or no libvirt daemon of ours at all
    if parsed.path == "/session":
        runtime = os.environ.get("XDG_RUNTIME_DIR") or os.path.expanduser("~/.cache")
        folder = os.path.join(runtime, "libvirt")
    else:
        folder = "/run/libvirt"
    names = [f"{DRIVER_DAEMONS[parsed.driver]}-sock"] if parsed.driver in DRIVER_DAEMONS else []
    return DaemonAddress(sockets=tuple(os.path.join(folder, n) for n in [*names, "libvirt-sock"]))


def socket_listening(address: DaemonAddress) -> bool:
    """Does a daemon accept on one of the sockets? Never blocks (safe on the event loop)."""
    for path in address.sockets:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.setblocking(False)
        try:
            probe.connect(path)
            return True
        except BlockingIOError:
            return True  # its backlog is full: a daemon is there, busy
        except OSError as exc:
            if exc.errno not in ABSENT:
                return True  # e.g. no permission: let libvirt's open say so in its words
        finally:
            probe.close()
    return False


def check_reachable(uri: str, address: DaemonAddress, seconds: float | None) -> None:
    """Blocking: a worker thread. For a TCP address, raises a HypervisorError worded as
    libvirt's when the daemon is not there (refused: at once; no answer: after ``seconds``).
    A local daemon needs no check here: libvirt's own open fails at once when it is away."""
    if address.is_local:
        return
    where = f"{address.host}:{address.port}"
    try:
        with socket.create_connection((address.host.strip("[]"), address.port), timeout=seconds):
            return
    except TimeoutError:
        raise logged(HypervisorError(f"unable to connect to server at '{where}': no answer within {seconds:g} s",
                                     code=libvirt.VIR_ERR_OPERATION_TIMEOUT, domain=libvirt.VIR_FROM_RPC,
                                     operation="connect", host_uri=uri)) from None
    except OSError as exc:
        raise logged(HypervisorError(f"unable to connect to server at '{where}': {exc.strerror or exc}",
                                     code=libvirt.VIR_ERR_SYSTEM_ERROR, domain=libvirt.VIR_FROM_RPC,
                                     operation="connect", host_uri=uri)) from None


