"""Which libvirt connections answer here (blocking; run on worker threads).

A local driver is tried only when its daemon's socket exists: opening it otherwise
would make libvirt try to spawn a daemon just to find out. Every probe has a time
limit, so a remote host that never answers cannot hold up setup.
"""
from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import libvirt

from ..core.errors import HypervisorError, logged
from .facts import version_text
from .opening import SharedConnections, open_connection
from .uri import InvalidUri, display_name, parse_uri

DEMO_URI = "test:///default"
DEMO_LABEL = "Demo host"
CANDIDATES = ("qemu:///system", "qemu:///session", "lxc:///system", "xen:///system")


def _runtime_dir() -> Path:
    return Path(os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}")


def daemon_sockets(uri: str) -> list[Path]:
    """The sockets a local URI talks to: the modular daemon's, then monolithic libvirtd's."""
    driver, _, path = uri.partition(":///")
    daemon = {"qemu": "virtqemud", "lxc": "virtlxcd", "xen": "virtxend"}.get(driver)
    if daemon is None:
        return []
    base = _runtime_dir() / "libvirt" if path == "session" else Path("/run/libvirt")
    return [base / f"{daemon}-sock", base / "libvirt-sock"]


@dataclass
class Probe:
    uri: str
    label: str
    reachable: bool
    reason: str = ""
    driver: str = ""
    hypervisor_version: str = ""
    domains: int = 0
    is_demo: bool = False
    suggested: bool = False  # what setup picks when the user picks nothing

    @property
    def status_text(self) -> str:
        if self.reachable:
            plural = "machine" if self.domains == 1 else "machines"
            return f"answers: {self.driver} {self.hypervisor_version}, {self.domains} {plural}".replace("  ", " ")
        return self.reason

    def as_json(self) -> dict:
        return asdict(self)


def _probe_now(uri: str, shared: SharedConnections | None = None) -> Probe:
    label = DEMO_LABEL if uri == DEMO_URI else display_name(uri)
    probe = Probe(uri, label, False, is_demo=uri == DEMO_URI)
    if shared is not None:
        with shared.in_use():  # held: a close meanwhile waits for this read
            conn = shared.kept(uri)
            if conn is not None:  # opened earlier in this setup: read it again, do not reopen
                _read(probe, conn)
                return probe
    sockets = daemon_sockets(uri)
    if sockets and not any(p.exists() for p in sockets):
        probe.reason = "no libvirt daemon runs for this driver here"
        return probe
    try:
        conn = open_connection(uri, read_only=True)
    except HypervisorError as error:
        probe.reason = error.one_line()
        return probe
    try:
        _read(probe, conn)
    finally:
        # Kept for the rest of setup (the preview and the import read it), else closed now.
        if not (probe.reachable and shared is not None and shared.keep(uri, conn)):
            conn.close()
    return probe


def _read(probe: Probe, conn: libvirt.virConnect) -> None:
    try:
        probe.driver = conn.getType()
        try:
            probe.hypervisor_version = version_text(conn.getVersion())
        except libvirt.libvirtError:
            pass
        probe.domains = conn.numOfDomains() + conn.numOfDefinedDomains()
        probe.reachable = True
    except libvirt.libvirtError as exc:
        probe.reason = HypervisorError.from_libvirt(exc, operation="read host facts", host_uri=probe.uri).one_line()


def probe(uri: str, timeout: float = 10.0, shared: SharedConnections | None = None) -> Probe:
    """``shared``: where a connection that answers is kept for the rest of setup (else it is closed)."""
    try:
        parse_uri(uri)
    except InvalidUri as exc:
        return Probe(uri, uri, False, reason=str(exc))
    found: list[Probe] = []
    # A daemon thread: a probe stuck in a TCP or SSH handshake is abandoned, not waited for (if it
    # answers later, ``shared`` keeps its connection until setup closes them all, or it closes it).
    thread = threading.Thread(target=lambda: found.append(_probe_now(uri, shared)), name=f"probe {uri}",
                              daemon=True)
    thread.start()
    thread.join(timeout)
    if not found:
        logged(HypervisorError(f"{display_name(uri)} did not answer within {timeout:g} s", host_uri=uri,
                               code=libvirt.VIR_ERR_OPERATION_TIMEOUT, domain=libvirt.VIR_FROM_RPC, operation="probe"))
        return Probe(uri, display_name(uri), False, reason=f"no answer within {timeout:g} s")
    return found[0]


def detect(extra: list[str] = (), *, offer_demo: bool = True, timeout: float = 10.0,
           shared: SharedConnections | None = None) -> list[Probe]:
    """The usual local connections, the ones the user typed, and the demo host, probed in parallel.
    ``shared``: keeps the connections that answer, for the rest of setup."""
    uris = list(dict.fromkeys([*CANDIDATES, *extra, *([DEMO_URI] if offer_demo else [])]))
    results: dict[str, Probe] = {}

    def run(uri: str) -> None:
        results[uri] = probe(uri, timeout, shared)

    threads = [threading.Thread(target=run, args=(uri,), daemon=True) for uri in uris]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + 1)
    probes = [results.get(uri) or Probe(uri, display_name(uri), False, reason="no answer") for uri in uris]
    suggest(probes, extra)
    return probes


def suggest(probes: list[Probe], typed: list[str]) -> None:
    """What to use by default: what the user typed; else the local hypervisors that answer;
    else the demo host, so that a first start is never empty."""
    typed_set = set(typed)
    picks = [p for p in probes if p.reachable and p.uri in typed_set]
    if not picks:
        picks = [p for p in probes if p.reachable and p.uri in CANDIDATES]
    if not picks:
        picks = [p for p in probes if p.reachable and p.is_demo]
    for p in picks:
        p.suggested = True


def local_candidates(timeout: float = 10.0, shared: SharedConnections | None = None) -> list[Probe]:
    """The local hypervisors that answer, in the order of CANDIDATES."""
    return [p for p in (probe(uri, timeout, shared) for uri in CANDIDATES) if p.reachable]
