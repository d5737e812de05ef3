"""Validation of libvirt connection URIs before anything is opened."""
from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

DRIVERS = {"qemu", "test", "lxc", "xen", "libxl", "vbox", "ch", "bhyve", "esx", "vz", "openvz", "hyperv", "vpx"}
TRANSPORTS = {"", "ssh", "libssh", "libssh2", "tcp", "tls", "unix", "ext"}
REMOTE_TRANSPORTS = {"ssh", "libssh", "libssh2", "tcp", "tls"}


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
    if transport not in TRANSPORTS:
        raise InvalidUri(f"unknown transport {transport!r}; use one of ssh, tcp, tls, unix, libssh")
    try:
        port = parts.port
    except ValueError as exc:
        raise InvalidUri(f"invalid port in {uri!r}") from exc
    host = parts.hostname or ""
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


def display_name(uri: str) -> str:
    """A short label for a URI: ``QEMU on lab-b`` or ``QEMU (local, system)``."""
    try:
        parsed = parse_uri(uri)
    except InvalidUri:
        return uri
    kind = {"qemu": "QEMU/KVM", "test": "Test", "lxc": "LXC", "xen": "Xen"}.get(parsed.driver, parsed.driver)
    if parsed.host:
        return f"{kind} on {parsed.host}"
    if parsed.is_test:
        name = "default" if parsed.path == "/default" else os.path.basename(parsed.path).removesuffix(".xml")
        return f"{kind}: {name}"
    return f"{kind} (local, {parsed.path.strip('/') or 'default'})"
