"""What a libvirt error means and what to do about it, for the errors users meet.

One table, most specific entry first. An entry matches an error by its code (the names of
``VIR_ERR_*``), and where that is not enough by the component (``VIR_FROM_*``), by the errno
libvirt keeps in int1 for a failed system call (the same in every language), or by a
pattern over libvirt's message (English; a translated message falls back to the entry for
its code). Each entry gives a summary (what it means), a remedy (what to do) and, where
libvirt's words are obscure, a short reason for a host's row and the status bar
("libvirtd is not running (systemctl start libvirtd)" rather than "No such file or
directory"). tests/services/core/test_remedies.py provokes a real error for each entry where libvirt's
test driver, a missing socket, a closed port or an unknown host name can.
"""
from __future__ import annotations

import errno
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Remedy:
    key: str
    codes: tuple[str, ...]
    summary: str
    remedy: str
    reason: str = ""                 # a few words for a host's row; "" -> libvirt's own words
    domains: tuple[str, ...] = ()    # VIR_FROM_* names; () for any
    errnos: tuple[int, ...] = ()     # int1 of a failed system call
    pattern: str = ""                # searched in libvirt's message, case-insensitive

    def matches(self, code: str, domain: str, message: str, int1: int | None) -> bool:
        if code not in self.codes or (self.domains and domain not in self.domains):
            return False
        if not (self.errnos or self.pattern):
            return True
        return (int1 is not None and int1 in self.errnos) or \
            bool(self.pattern and re.search(self.pattern, message, re.IGNORECASE))


_START_DAEMON = ("start it: sudo systemctl start libvirtd (on hosts with the modular daemons: "
                 "sudo systemctl start virtqemud.socket); if libvirt is not installed: "
                 "sudo apt install libvirt-daemon-system")
_TAKEN = "A machine with that name or UUID already exists on that host."
_TAKE_ANOTHER = "Choose another name (a new machine gets a new UUID), or remove the existing machine first."
_GONE = ("NO_NETWORK", "NO_STORAGE_POOL", "NO_STORAGE_VOL", "NO_DOMAIN_SNAPSHOT", "NO_INTERFACE",
         "NO_NODE_DEVICE", "NO_SECRET", "NO_NWFILTER", "NO_DOMAIN_CHECKPOINT")

REMEDIES: tuple[Remedy, ...] = (
    # -- opening a connection ------------------------------------------------------------
    Remedy("daemon-not-running", ("SYSTEM_ERROR",),
           "The libvirt daemon is not running there: its socket does not exist.",
           f"On that computer, {_START_DAEMON}. A socket=… in the URI must name the daemon's socket.",
           reason="libvirtd is not running (systemctl start libvirtd)",
           domains=("RPC",), errnos=(errno.ENOENT,), pattern=r"connect socket .*No such file"),
    Remedy("socket-permission", ("SYSTEM_ERROR",),
           "You are not allowed to use the libvirt daemon's socket.",
           "Add your user to the libvirt group (sudo adduser $USER libvirt), log in again, and retry; "
           "or use your own session, qemu:///session.",
           reason="no permission on libvirt's socket (join the libvirt group)",
           domains=("RPC",), errnos=(errno.EACCES,), pattern=r"connect socket .*Permission denied"),
    Remedy("name-not-resolved", ("SYSTEM_ERROR",),
           "Could not resolve the host name: no address is known for it.",
           "Check the host name in the URI for typing errors, or use the host's IP address; if the name "
           "is right, check this computer's DNS settings (or /etc/hosts).",
           reason="could not resolve the host name (check its spelling)",
           pattern=r"resolve (address|hostname)|Name or service not known|failure in name resolution"
                   r"|No address associated with hostname|nodename nor servname"),
    Remedy("ssh-host-key", ("SYSTEM_ERROR",),
           "SSH does not trust the host's key.",
           "Connect once in a terminal (ssh USER@HOST) to check and accept the host's key; if the host "
           "was reinstalled, remove its old key first (ssh-keygen -R HOST).",
           reason="SSH host key not trusted (run ssh to the host once)",
           pattern=r"Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED"),
    Remedy("ssh-login-refused", ("SYSTEM_ERROR", "AUTH_FAILED"),
           "The host's SSH server refused the login.",
           "Check the user name in the URI and that your SSH key is installed on the host "
           "(ssh-copy-id USER@HOST); ssh USER@HOST in a terminal must log in without questions.",
           reason="SSH login refused (check the user and the key)",
           pattern=r"Permission denied \((publickey|password|keyboard)"),
    Remedy("connection-refused", ("SYSTEM_ERROR",),
           "The host could not be reached: nothing accepts connections at that address and port.",
           "Start the libvirt daemon there (sudo systemctl start libvirtd). A qemu+tcp:// or qemu+tls:// URI "
           "needs it listening on the network (libvirtd-tcp.socket or libvirtd-tls.socket); otherwise "
           "connect with qemu+ssh://. Check the port in the URI and the firewall.",
           reason="connection refused (is libvirtd running and listening?)",
           errnos=(errno.ECONNREFUSED,), pattern=r"Connection refused"),
    Remedy("host-unreachable", ("SYSTEM_ERROR",),
           "The host could not be reached over the network.",
           "Check that the host is up, the address in the URI, and any firewall in between.",
           reason="host unreachable on the network",
           errnos=(errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT),
           pattern=r"No route to host|Network is unreachable|Connection timed out"),
    Remedy("no-answer", ("OPERATION_TIMEOUT",),
           "The host did not answer in time.",
           "Check that the host is up and reachable (a firewall may be dropping the packets); the app "
           "tries again by itself.",
           reason="no answer (host down, or a firewall drops the packets)",
           domains=("RPC",), pattern=r"did not answer within|no answer within"),
    Remedy("transport-closed", ("SYSTEM_ERROR",),
           "The other side closed the connection while it was being opened.",
           "For qemu+ssh://, try ssh USER@HOST in a terminal: the login must work without questions, "
           "and libvirt must be installed on the host. libvirt's message quotes what the other side said.",
           reason="the host closed the connection (try ssh to it)",
           domains=("RPC",), pattern=r"Cannot recv data|Connection reset by peer|End of file while reading"),
    Remedy("system-error", ("SYSTEM_ERROR",),
           "A system call failed (on a file, a socket or a device).",
           "libvirt's message names what failed and the system's reason, for example a missing file or "
           "a denied permission; fix that and try again."),
    Remedy("no-connect", ("NO_CONNECT",),
           "No libvirt driver could open that URI.",
           "Check the URI's driver (qemu, lxc, test …) and that its driver is installed where it runs "
           "(sudo apt install libvirt-daemon-system libvirt-daemon-driver-qemu).",
           reason="no libvirt driver for this URI"),
    Remedy("auth-failed", ("AUTH_FAILED",),
           "The host refused the credentials.",
           "Check the user name and the password or key, and libvirt's access rules on the host "
           "(polkit, or auth_unix_rw in libvirtd.conf).",
           reason="authentication failed"),
    Remedy("auth-cancelled", ("AUTH_CANCELLED",),
           "Authentication was cancelled.", "Connect again and complete the authentication.",
           reason="authentication cancelled"),
    Remedy("access-denied", ("ACCESS_DENIED",),
           "You are not allowed to do this on that host.",
           "Ask the host's administrator for access, or connect with an account that has it."),
    Remedy("invalid-conn", ("INVALID_CONN",),
           "The connection to the host is closed.", "Wait for the reconnect, or reconnect the host.",
           reason="connection closed"),
    Remedy("rpc", ("RPC",),
           "Communication with the libvirt daemon failed.",
           "The connection is retried; if it keeps failing, check the daemon and the network."),
    # -- a machine's state ---------------------------------------------------------------
    # A network's or a pool's state comes before the machine's: "network 'x' is not active"
    # is about the network, not "start the machine first".
    Remedy("network-not-active", ("OPERATION_INVALID", "INTERNAL_ERROR"),
           "The virtual network it uses is not running on that host.",
           "Start the network (and set it to start with the host: virsh net-start NAME; virsh net-autostart "
           "NAME), then retry.", domains=("NETWORK", "QEMU", "DOMAIN"), pattern=r"network\b.*\bis not active"),
    Remedy("pool-not-active", ("OPERATION_INVALID", "INTERNAL_ERROR"),
           "The storage pool is not running on that host.",
           "Start the pool (and set it to start with the host: virsh pool-start NAME; virsh pool-autostart "
           "NAME), then retry.", pattern=r"storage pool\b.*\bis not active"),
    Remedy("already-running", ("OPERATION_INVALID", "INTERNAL_ERROR"),
           "It is already running.",
           "Nothing needs doing. If the list shows it stopped, refresh the host: another tool or "
           "operator may have started it.", pattern=r"\balready running\b|\bis already active\b"),
    Remedy("not-running", ("OPERATION_INVALID", "INTERNAL_ERROR"),
           "It is not running.",
           "Start it first, or choose an action for a stopped machine; refresh the host if the list "
           "shows it running.", pattern=r"\bnot running\b|\bis not active\b"),
    Remedy("not-paused", ("OPERATION_INVALID", "INTERNAL_ERROR"),
           "It is not paused.",
           "Only a paused machine can be resumed; refresh the host to see its current state.",
           pattern=r"\bnot paused\b"),
    Remedy("operation-invalid", ("OPERATION_INVALID",),
           "This is not allowed in its current state.",
           "libvirt's message says what stands in the way (for example, a running machine cannot be "
           "renamed); change that first, or refresh the host to see the current state."),
    Remedy("name-taken", ("OPERATION_FAILED",), _TAKEN, _TAKE_ANOTHER,
           pattern=r"domain '.*' (already exists|is already defined)"),
    Remedy("dom-exist", ("DOM_EXIST",), _TAKEN, _TAKE_ANOTHER),
    Remedy("operation-timeout", ("OPERATION_TIMEOUT",),
           "The host did not finish the operation in time.",
           "Try again; if it keeps happening, check the load on the host."),
    Remedy("operation-aborted", ("OPERATION_ABORTED",),
           "The operation was aborted.", "Start it again if it is still wanted."),
    Remedy("operation-failed", ("OPERATION_FAILED",),
           "The hypervisor could not complete the operation.",
           "libvirt's message gives the hypervisor's reason; fix that and try again."),
    Remedy("resource-busy", ("RESOURCE_BUSY",),
           "A resource the machine needs is in use.",
           "Wait for the other operation to finish, or free the resource."),
    Remedy("no-domain", ("NO_DOMAIN",),
           "The machine no longer exists on that host.",
           "It was probably removed or migrated by someone else; refresh the host."),
    Remedy("no-object", _GONE,
           "The network, storage pool, volume or snapshot named is not on that host.",
           "Refresh the host; it may have been removed or renamed, or not yet defined there."),
    # -- what was asked ------------------------------------------------------------------
    Remedy("invalid-arg", ("INVALID_ARG",),
           "A value given was refused as not valid.",
           "libvirt's message names the value and what is wrong with it; correct it and try again."),
    Remedy("no-support", ("NO_SUPPORT",),
           "This host's hypervisor driver does not support the operation.",
           "Use a host or driver that supports it (libvirt's message names the missing function)."),
    Remedy("argument-unsupported", ("ARGUMENT_UNSUPPORTED",),
           "The host does not support an option that was asked for.",
           "Choose different options; libvirt's message names the one refused."),
    Remedy("config-unsupported", ("CONFIG_UNSUPPORTED",),
           "The machine's configuration uses something this host does not support.",
           "Change the machine's configuration to what the host offers."),
    Remedy("xml-error", ("XML_ERROR",),
           "The machine description (XML) is invalid.",
           "Correct the XML; libvirt's message points at the problem."),
    Remedy("xml-detail", ("XML_DETAIL",),
           "An XML document is not well-formed (it may be cut short or half-written).",
           "Correct or restore it; libvirt's message gives the line and the column."),
    Remedy("cpu-incompatible", ("CPU_INCOMPATIBLE",),
           "The host's CPU cannot run this machine's CPU model.",
           "Choose a CPU model both hosts support, or another destination host."),
    Remedy("migrate-unsafe", ("MIGRATE_UNSAFE",),
           "The migration would be unsafe (for example, storage is not shared).",
           "Use shared storage, copy the storage, or confirm that it is safe."),
    Remedy("migrate-persist-failed", ("MIGRATE_PERSIST_FAILED",),
           "The machine moved, but its definition could not be saved on the destination.",
           "Define the machine on the destination host again from its XML."),
    Remedy("internal-error", ("INTERNAL_ERROR",),
           "libvirt gave no more specific reason than its message.",
           "If the daemon's connection closed, it is retried. If it keeps happening, look in the "
           "daemon's log on the host (journalctl -u libvirtd)."),
)

GENERIC = Remedy("generic", (), "libvirt reported an error.",
                 "libvirt's message is its own explanation; Show Details has every field, and Copy "
                 "puts them on the clipboard for a bug report.")


def find(code: str, domain: str, message: str, int1: int | None) -> Remedy:
    """The first entry of ``REMEDIES`` that fits; ``GENERIC`` when none does."""
    return next((r for r in REMEDIES if r.matches(code, domain, message, int1)), GENERIC)


# Prefixes libvirt puts before its reason that only repeat the error's code.
_CATEGORY = re.compile(r"^(internal error|operation failed|Requested operation is not valid|invalid argument"
                       r"|argument unsupported|unsupported configuration|XML error|authentication failed): ")


def own_words(message: str) -> str:
    """libvirt's reason without the prefix that only names the code: "internal error: Domain
    'x' is already running" -> "Domain 'x' is already running"."""
    text, stripped = _CATEGORY.subn("", message, count=1)
    return text[:1].upper() + text[1:] if stripped else text
