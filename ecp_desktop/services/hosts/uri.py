"""Validation of libvirt connection URIs before anything is opened.

A URI may come from another operator (a host row of a shared inventory), so it is checked
against an allowlist, not a blocklist: libvirt's ``ext`` transport and the ``command``,
``netcat``, ``keyfile``, ``known_hosts``, ``no_verify`` and ``proxy`` parameters make it run a
program or trust a peer it should not, and a host name starting with ``-`` would be read as
an option by ssh. Only the parameters in ``PARAMETERS`` pass, each for the transports named.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

DRIVERS = {"qemu", "test", "lxc", "xen", "libxl", "vbox", "ch", "bhyve", "esx", "vz", "openvz", "hyperv", "vpx"}
TRANSPORTS = {"", "ssh", "libssh", "libssh2", "tcp", "tls", "unix"}
REMOTE_TRANSPORTS = {"ssh", "libssh", "libssh2", "tcp", "tls"}
# parameter -> the transports it is allowed with (None: any)
PARAMETERS: dict[str, set[str] | None] = {
    "socket": {"unix"},          # a daemon's socket on this machine (an absolute path)
    "no_tty": {"ssh", "libssh", "libssh2"},
    "sshauth": {"libssh", "libssh2"},
    "pkipath": {"tls"},
    "tls_priority": {"tls"},
    "mode": None,                # legacy or direct daemon
    "name": None,                # the URI the remote daemon opens
}
_HOST = re.compile(r"[A-Za-z0-9._:%-]+")  # names, IPv4, IPv6 (brackets removed), zone ids
REFUSED = {"command": "it runs a program", "netcat": "it runs a program on the host",
           "keyfile": "it names a private key file", "known_hosts": "it replaces the trusted host keys",
           "known_hosts_verify": "it can turn off host key checks", "no_verify": "it turns off certificate checks",
           "proxy": "it sends the connection through a program", "socket": "it only goes with +unix"}


class InvalidUri(ValueError):
    """The URI is not one libvirt could open; the message says what to fix."""


@dataclass(frozen=True)
class ParsedUri:
    uri: str
    driver: str
    transport: str
    host: str
    path: str

    @property
    def is_remote(self) -> bool:
        return bool(self.host) or self.transport in REMOTE_TRANSPORTS

    @property
    def is_test(self) -> bool:
        return self.driver == "test"


def parse_uri(text: str) -> ParsedUri:
    """Check ``text`` as a libvirt URI and return its parts, or raise InvalidUri."""
    uri = text.strip()
    if not uri:
        raise InvalidUri("enter a connection URI, e.g. qemu:///system")
    if any(ch.isspace() for ch in uri):
        raise InvalidUri("a URI cannot contain spaces")
    if "://" not in uri:
        raise InvalidUri(f"{uri!r} is not a URI: expected DRIVER[+TRANSPORT]://[USER@][HOST]/PATH")
    parts = urlsplit(uri)
    driver, _, transport = parts.scheme.partition("+")
    if driver not in DRIVERS:
        raise InvalidUri(f"unknown hypervisor driver {driver!r}; known: {', '.join(sorted(DRIVERS))}")
    if transport == "ext":
        raise InvalidUri("the ext transport runs a program to connect; it is not allowed (use ssh, tls or tcp)")
    if transport not in TRANSPORTS:
        raise InvalidUri(f"unknown transport {transport!r}; use one of ssh, tcp, tls, unix, libssh")
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidUri(f"invalid port in {uri!r}") from exc
    host = parts.hostname or ""
    if host.startswith("-") or (parts.username or "").startswith("-"):
        raise InvalidUri("a host or user name cannot start with '-' (ssh would read it as an option)")
    if host and not _HOST.fullmatch(host):
        raise InvalidUri(f"{host!r} is not a host name or address (letters, digits, '.', '-', ':' only)")
    _check_parameters(parts.query, transport)
    if transport in REMOTE_TRANSPORTS and not host:
        raise InvalidUri(f"the {transport} transport needs a host name, e.g. {driver}+{transport}://HOST/system")
    if port is not None and not host:
        raise InvalidUri("a port needs a host name")
    path = parts.path
    if driver == "qemu" and path not in ("/system", "/session", "/embed"):
        raise InvalidUri("a qemu URI ends in /system or /session, e.g. qemu:///system")
    if driver == "test":
        if path != "/default" and not path.endswith(".xml"):
            raise InvalidUri("a test URI is test:///default or test:///ABSOLUTE/PATH.xml")
        if path != "/default" and not host and not os.path.isfile(path):
            raise InvalidUri(f"test host file not found: {path}")
    return ParsedUri(uri=uri, driver=driver, transport=transport, host=host, path=path)


def _check_parameters(query: str, transport: str) -> None:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise InvalidUri(f"the URI's parameters cannot be read: {query!r}") from None
    for key, value in pairs:
        allowed = PARAMETERS.get(key, set())
        if allowed is not None and transport not in allowed:
            why = REFUSED.get(key, "it is not one this app knows to be safe")
            raise InvalidUri(f"the URI parameter {key!r} is not allowed: {why}")
        if key == "socket" and not os.path.isabs(value):
            raise InvalidUri("the socket parameter must be an absolute path")


TRANSPORT_WORDS = {"ssh": "over SSH", "libssh": "over SSH", "libssh2": "over SSH", "tls": "over TLS",
                   "": "over TLS", "tcp": "over unencrypted TCP", "unix": "through its socket"}


def display_name(uri: str) -> str:
    """What a host is, in a few words, its distinguishing part first: ``lab-b over SSH``,
    ``This computer (system)``, ``LXC on lab-b over TLS``, ``fleet (test driver)``, ``Demo host``."""
    try:
        parsed = parse_uri(uri)
    except InvalidUri:
        return uri
    kind = {"qemu": "QEMU/KVM", "test": "Test", "lxc": "LXC", "xen": "Xen"}.get(parsed.driver, parsed.driver)
    instance = parsed.path.strip("/") or "default"
    if parsed.host:
        how = TRANSPORT_WORDS.get(parsed.transport, f"over {parsed.transport}")
        return f"{parsed.host} {how}" if parsed.driver == "qemu" else f"{kind} on {parsed.host} {how}"
    if parsed.is_test:
        if parsed.path == "/default":
            return "Demo host"  # libvirt's built-in test host: one name wherever it is shown
        return f"{os.path.basename(parsed.path).removesuffix('.xml')} (test driver)"
    if parsed.driver == "qemu":
        return f"This computer ({instance})"
    return f"{kind} on this computer ({instance})"
