"""Structured libvirt errors with a plain-language summary and a remedy.

A ``libvirt.libvirtError`` carries a code, the component (domain) where it
happened, a level and extra strings/integers; libvirt-python only shows the
message. ``HypervisorError.from_libvirt`` keeps all of it. It must be called in
the thread where the call failed, because libvirt's last error is thread-local.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass, field

import libvirt


@functools.cache
def _constant_names(prefix: str) -> dict[int, str]:
    names: dict[int, str] = {}
    for attr in dir(libvirt):
        if attr.startswith(prefix):
            value = getattr(libvirt, attr)
            if isinstance(value, int):
                names.setdefault(value, attr[len(prefix):])
    return names


def error_code_name(code: int | None) -> str:
    return _constant_names("VIR_ERR_").get(code, f"UNKNOWN_{code}") if code is not None else ""


def error_domain_name(domain: int | None) -> str:
    return _constant_names("VIR_FROM_").get(domain, f"UNKNOWN_{domain}") if domain is not None else ""


# code name -> (summary, remedy). Codes users meet; the rest get a generic text.
PLAIN_WORDS: dict[str, tuple[str, str]] = {
    "NO_CONNECT": ("Could not connect to the hypervisor.",
                   "Check that libvirtd (or virtqemud) runs on that host and that the URI is right."),
    "SYSTEM_ERROR": ("The host could not be reached or a system call failed.",
                     "Check the host name, the network and that the libvirt daemon listens there."),
    "AUTH_FAILED": ("The host refused the credentials.",
                    "Check the user name, SSH key or password, and libvirt's access rules on the host."),
    "AUTH_CANCELLED": ("Authentication was cancelled.", "Connect again and complete the authentication."),
    "ACCESS_DENIED": ("You are not allowed to do this on that host.",
                      "Ask the host's administrator for access, or use an account with more rights."),
    "OPERATION_INVALID": ("The machine is not in a state that allows this.",
                          "Check the machine's current state (for example, it may already be running)."),
    "OPERATION_TIMEOUT": ("The host did not finish the operation in time.",
                          "Try again; if it keeps happening, check the load on the host."),
    "OPERATION_FAILED": ("The hypervisor could not complete the operation.",
                         "Read the details for the hypervisor's reason, fix it and try again."),
    "OPERATION_ABORTED": ("The operation was aborted.", "Start it again if it is still wanted."),
    "NO_DOMAIN": ("The machine no longer exists on that host.",
                  "It was probably removed or migrated by someone else; refresh the host."),
    "DOM_EXIST": ("A machine with that name or UUID already exists.",
                  "Choose another name, or remove the existing machine first."),
    "RPC": ("Communication with the libvirt daemon failed.",
            "The connection will be retried; check the daemon and the network if it persists."),
    "INVALID_ARG": ("A value given was refused as not valid.",
                    "The details name the value and what is wrong with it; correct it and try again."),
    "NO_SUPPORT": ("This host's hypervisor driver does not support the operation.",
                   "Use a host or driver that supports it (the details name the missing function)."),
    "ARGUMENT_UNSUPPORTED": ("The host does not support an option that was asked for.",
                             "Choose different options; the details name the one refused."),
    "CONFIG_UNSUPPORTED": ("The machine's configuration uses something this host does not support.",
                           "Change the machine's configuration to what the host offers."),
    "XML_ERROR": ("The machine description (XML) is invalid.", "Correct the XML; the details point at the problem."),
    "XML_DETAIL": ("An XML document is not well-formed (it may be cut short or half-written).",
                   "Correct or restore the file; the details give the line and the column."),
    "CPU_INCOMPATIBLE": ("The host's CPU cannot run this machine's CPU model.",
                         "Choose a CPU model both hosts support, or another destination host."),
    "MIGRATE_UNSAFE": ("The migration would be unsafe (for example, storage is not shared).",
                       "Use shared storage, copy the storage, or confirm that it is safe."),
    "MIGRATE_PERSIST_FAILED": ("The machine moved, but its definition could not be saved on the destination.",
                               "Define the machine on the destination host again from its XML."),
    "RESOURCE_BUSY": ("A resource the machine needs is in use.",
                      "Wait for the other operation to finish, or free the resource."),
    "INTERNAL_ERROR": ("libvirt reported an internal error.",
                       "Read the details; if the daemon's connection closed, it will be retried."),
    "INVALID_CONN": ("The connection to the host is closed.", "Wait for the reconnect, or reconnect the host."),
}
GENERIC_WORDS = ("libvirt reported an error.", "Read the details below for libvirt's own explanation.")


class Refusal(Exception):
    """A failure that is no fault of the code: reported as it is, in words, without a
    traceback (a machine busy with another instance, an undo refused, a bad row)."""


@dataclass
class HypervisorError(Exception):
    message: str
    code: int | None = None
    domain: int | None = None
    level: int | None = None
    str1: str | None = None
    str2: str | None = None
    str3: str | None = None
    int1: int | None = None
    int2: int | None = None
    operation: str = ""
    machine: str = ""
    host_uri: str = ""
    libvirt_version: str = ""
    hypervisor_version: str = ""
    when: dt.datetime = field(default_factory=lambda: dt.datetime.now().astimezone())

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @classmethod
    def from_libvirt(cls, exc: libvirt.libvirtError, operation: str = "", machine: str = "",
                     host_uri: str = "") -> "HypervisorError":
        return cls(
            message=exc.get_error_message() or str(exc),
            code=exc.get_error_code(), domain=exc.get_error_domain(), level=exc.get_error_level(),
            str1=exc.get_str1(), str2=exc.get_str2(), str3=exc.get_str3(),
            int1=exc.get_int1(), int2=exc.get_int2(),
            operation=operation, machine=machine, host_uri=host_uri,
        )

    def to_json(self) -> str:
        """Every field, for the task history (read back with ``from_json``)."""
        data = {k: v for k, v in self.__dict__.items() if k in self.__dataclass_fields__}
        data["when"] = self.when.isoformat()
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> "HypervisorError":
        """Read back from the history, defensively: the row may come from another version or
        another operator. What cannot be read is left out; the message is kept as text."""
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            return cls(message=str(text))
        if not isinstance(data, dict):
            return cls(message=str(data))
        error = cls(message=str(data.get("message", "")))
        for name, kind in (("code", int), ("domain", int), ("level", int), ("int1", int), ("int2", int),
                           ("str1", str), ("str2", str), ("str3", str), ("operation", str), ("machine", str),
                           ("host_uri", str), ("libvirt_version", str), ("hypervisor_version", str)):
            value = data.get(name)
            if isinstance(value, kind) and not isinstance(value, bool):
                setattr(error, name, value)
        try:
            error.when = dt.datetime.fromisoformat(data["when"])
        except (KeyError, TypeError, ValueError):
            pass
        return error

    @property
    def code_name(self) -> str:
        return error_code_name(self.code)

    @property
    def domain_name(self) -> str:
        return error_domain_name(self.domain)

    @property
    def summary(self) -> str:
        return PLAIN_WORDS.get(self.code_name, GENERIC_WORDS)[0]

    @property
    def remedy(self) -> str:
        return PLAIN_WORDS.get(self.code_name, GENERIC_WORDS)[1]

    def fields(self) -> list[tuple[str, str]]:
        """Every field, labelled, for the details section of the error dialog and the clipboard."""
        def text(value) -> str:
            return "" if value is None else str(value)
        return [
            ("Summary", self.summary), ("Remedy", self.remedy), ("Message", self.message),
            ("Operation", self.operation), ("Machine", self.machine), ("Host", self.host_uri),
            ("Error code", f"{text(self.code)} ({self.code_name})" if self.code is not None else ""),
            ("Error domain", f"{text(self.domain)} ({self.domain_name})" if self.domain is not None else ""),
            ("Level", {1: "warning", 2: "error"}.get(self.level, text(self.level))),
            ("str1", text(self.str1)), ("str2", text(self.str2)), ("str3", text(self.str3)),
            # libvirt sets the integers to -1 when it has nothing to say in them
            ("int1", "" if self.int1 == -1 else text(self.int1)), ("int2", "" if self.int2 == -1 else text(self.int2)),
            ("libvirt version", self.libvirt_version), ("Hypervisor version", self.hypervisor_version),
            ("Time", self.when.isoformat(timespec="seconds")),
        ]

    def details_text(self) -> str:
        return "\n".join(f"{label}: {value}" for label, value in self.fields())

    def one_line(self) -> str:
        """What a task row or the CLI shows: the plain summary plus libvirt's own message."""
        return f"{self.summary} ({self.message})"

    def __str__(self) -> str:
        return self.message


def install_quiet_error_handler() -> None:
    """Stop libvirt from printing every error to stderr; we report them ourselves."""
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
