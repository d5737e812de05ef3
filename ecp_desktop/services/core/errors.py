"""Structured libvirt errors with a plain-language summary and a remedy.

A ``libvirt.libvirtError`` carries a code, the component (domain) where it
happened, a level and extra strings/integers; libvirt-python only shows the
message. ``HypervisorError.from_libvirt`` keeps all of it. It must be called in
the thread where the call failed, because libvirt's last error is thread-local. What an
error means and what to do about it comes from the table in ``remedies``.

Every libvirt error is written to the log once, where it becomes a HypervisorError
(``from_libvirt``), with every field and the host's libvirt and hypervisor versions (learnt
when a connection opens: ``remember_host_versions``); the errors the app makes itself for a
host (not connected, no answer in time) go through ``logged``. Each error has an id, written
in the log line and shown by the error dialog, so the dialog finds its own log entry.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import threading
import uuid
from dataclasses import dataclass, field

import libvirt

from . import remedies

LOGGER_NAME = "ecp_desktop.libvirt_errors"
log = logging.getLogger(LOGGER_NAME)
log.addHandler(logging.NullHandler())  # no handler configured: nothing on stderr (not logging's last resort)
raw_log = logging.getLogger(LOGGER_NAME + ".raw")


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


class Refusal(Exception):
    """A failure that is no fault of the code: reported as it is, in words, without a
    traceback (a machine busy with another instance, an undo refused, a bad row)."""


def new_error_id() -> str:
    return uuid.uuid4().hex[:12]


LEVEL_NAMES = {0: "none", 1: "warning", 2: "error"}

# What must not reach a log line or a terminal as it is: C0 (line ends included), DEL, C1,
# the bidirectional controls, the line and paragraph separators, and lone surrogates (no
# UTF-8 for them: the log file could not take the line).
UNSAFE_CHARACTERS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def escape_line(text: str) -> str:
    """``text`` on one line, safe to show: control and bidi characters escaped (``\\n``,
    ``\\x1b``, ``\\u202e``); everything else, other scripts included, as it is."""
    def one(match: re.Match) -> str:
        char = match.group()
        return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")
    return UNSAFE_CHARACTERS.sub(one, text)


def _json_line(data: dict) -> str:
    """JSON on one line, readable (other scripts as they are) and still safe: json escapes
    C0, the rest of the unsafe characters become ``\\uXXXX`` escapes (still valid JSON)."""
    text = json.dumps(data, ensure_ascii=False)
    return UNSAFE_CHARACTERS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# host URI -> (libvirt version, hypervisor version), as text; filled when a connection opens
_host_versions: dict[str, tuple[str, str]] = {}
_versions_lock = threading.Lock()


def remember_host_versions(uri: str, libvirt_version: str, hypervisor_version: str) -> None:
    """What a host runs, for the errors that come from it later (whoever builds them)."""
    with _versions_lock:
        _host_versions[uri] = (libvirt_version, hypervisor_version)


def host_versions(uri: str) -> tuple[str, str]:
    """(libvirt version, hypervisor version) last learnt for ``uri``; empty when never connected."""
    with _versions_lock:
        return _host_versions.get(uri, ("", ""))


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
    error_id: str = field(default_factory=new_error_id)  # in the log line too ("" for rows written before)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @classmethod
    def from_libvirt(cls, exc: libvirt.libvirtError, operation: str = "", machine: str = "",
                     host_uri: str = "") -> "HypervisorError":
        """Every field of ``exc`` and the host's versions; written to the log once per error
        (the same ``exc`` read twice keeps its id and is not logged again)."""
        error = cls(
            message=exc.get_error_message() or str(exc),
            code=exc.get_error_code(), domain=exc.get_error_domain(), level=exc.get_error_level(),
            str1=exc.get_str1(), str2=exc.get_str2(), str3=exc.get_str3(),
            int1=exc.get_int1(), int2=exc.get_int2(),
            operation=operation, machine=machine, host_uri=host_uri,
        )
        seen = getattr(exc, "ecp_error_id", None)
        if isinstance(seen, str):
            error.error_id = seen
            error.libvirt_version, error.hypervisor_version = host_versions(host_uri)
            return error
        try:
            exc.ecp_error_id = error.error_id
        except AttributeError:
            pass
        return logged(error)

    def as_dict(self) -> dict:
        """Every field and the names of the numbers, JSON-ready (the log line, ``--json``)."""
        data = self._raw()
        data.update(code_name=self.code_name, domain_name=self.domain_name,
                    level_name=LEVEL_NAMES.get(self.level, "") if self.level is not None else "")
        return data

    def _raw(self) -> dict:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["when"] = self.when.isoformat()
        return data

    def to_json(self) -> str:
        """Every field, for the task history (read back with ``from_json``)."""
        return json.dumps(self._raw())

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
        error = cls(message=str(data.get("message", "")), error_id="")  # an old row: in no log under an id
        for name, kind in (("code", int), ("domain", int), ("level", int), ("int1", int), ("int2", int),
                           ("str1", str), ("str2", str), ("str3", str), ("operation", str), ("machine", str),
                           ("host_uri", str), ("libvirt_version", str), ("hypervisor_version", str),
                           ("error_id", str)):
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
    def advice(self) -> remedies.Remedy:
        """The entry of the remedy table for this error (``remedies.GENERIC`` when none fits)."""
        return remedies.find(self.code_name, self.domain_name, self.message, self.int1)

    @property
    def summary(self) -> str:
        return self.advice.summary

    @property
    def remedy(self) -> str:
        return self.advice.remedy

    @property
    def own_words(self) -> str:
        """libvirt's own reason, without the prefix that only repeats the code."""
        return remedies.own_words(self.message)

    def headline(self, subject: str = "") -> str:
        """``subject: libvirt's reason`` on one line, control and bidi characters escaped
        (the subject is a machine or host name; both are data, shown as written)."""
        first = self.own_words.strip().splitlines()[0] if self.own_words.strip() else self.summary
        return escape_line(f"{subject}: {first}" if subject else first)

    def plain_reason(self) -> str:
        """A host's reason for its row and the status bar, in a few words on one line:
        "libvirtd is not running (systemctl start libvirtd)" for a missing socket, "could not
        resolve the host name (check its spelling)"; else libvirt's own first line."""
        return escape_line(self.advice.reason) if self.advice.reason else self.headline()

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
            ("Time", self.when.isoformat(timespec="seconds")), ("Log id", self.error_id),
        ]

    def details_text(self) -> str:
        return "\n".join(f"{label}: {value}" for label, value in self.fields())

    def one_line(self) -> str:
        """What a task row or the CLI shows: the plain summary plus libvirt's own message."""
        return f"{self.summary} ({self.message})"

    def __str__(self) -> str:
        return self.message


def log_line(error: HypervisorError) -> str:
    """The error's log entry: one line (whatever libvirt's message holds), its id first so
    that the error dialog finds it, then every field as JSON."""
    return f"{error.code_name or 'ERROR'} id={error.error_id} {_json_line(error.as_dict())}"


def logged(error: HypervisorError) -> HypervisorError:
    """Write ``error`` to the log (the host's versions filled in when known) and return it."""
    if error.host_uri and not (error.libvirt_version or error.hypervisor_version):
        error.libvirt_version, error.hypervisor_version = host_versions(error.host_uri)
    log.log(logging.WARNING if error.level == libvirt.VIR_ERR_WARNING else logging.ERROR, "%s", log_line(error))
    return error


def _raw_error(_ctx, err) -> None:
    # Called by libvirt for every error it raises, handled ones included; never raises.
    try:
        if raw_log.isEnabledFor(logging.DEBUG):
            raw_log.debug("libvirt raised %s", escape_line(repr(err)))
    except Exception:  # noqa: BLE001  (a callback from C must not raise)
        pass


def install_quiet_error_handler() -> None:
    """Stop libvirt from printing every error to stderr: each one reaches our log instead,
    with its context, where it becomes a HypervisorError (and, at DEBUG level, every error
    libvirt raises, handled ones too, as libvirt gives it)."""
    libvirt.registerErrorHandler(_raw_error, None)
