"""Why the inventory database cannot be written, in plain words, from whatever was raised.

A write that fails rarely says why on its face: on a full disk SQLite rolls the transaction
back itself, so peewee's own rollback then fails with "cannot rollback - no transaction is
active", and *that* is what reaches the caller; the disk-full error is only its context.
So the whole chain is read (``__cause__``, ``__context__`` and peewee's wrapped original in
``args``) and the most telling cause wins: an errno, SQLite's result code, PostgreSQL's
SQLSTATE, then the drivers' message texts. Qt-free, and no driver is imported: psycopg2 is
recognised by its attributes and class names, so this works where it is not installed.
"""
from __future__ import annotations

import errno
from collections.abc import Iterator
from dataclasses import dataclass

import peewee

# How long to wait before writing what is queued again (the task history and the inventory).
RETRY_SECONDS = 5.0
# A server that is down or unreachable, a full or read-only disk: peewee's classes for
# faults of the place, not of what we write (an IntegrityError is a mistake: not retried).
DATABASE_AWAY = (peewee.OperationalError, peewee.InterfaceError)

DISK_FULL = "disk full"
READ_ONLY = "read-only"
PERMISSION = "permission"
SERVER_GONE = "server gone"
LOCKED = "locked"
IO_ERROR = "i/o error"
CANNOT_OPEN = "cannot open"
UNKNOWN = "unknown"

WORDS = {
    DISK_FULL: "the disk holding the inventory database is full",
    READ_ONLY: "the inventory database is read-only: its file system or server refuses writes",
    PERMISSION: "this user may not write the inventory database: permission denied",
    SERVER_GONE: "the inventory database server cannot be reached: stopped, restarting or cut off",
    LOCKED: "another program holds the inventory database locked",
    IO_ERROR: "the disk holding the inventory database failed to read or write",
    CANNOT_OPEN: "the inventory database file cannot be opened: its directory is gone or not writable",
    UNKNOWN: "the inventory database cannot be written",
}

_ERRNOS = {errno.ENOSPC: DISK_FULL, errno.EDQUOT: DISK_FULL, errno.EROFS: READ_ONLY,
           errno.EACCES: PERMISSION, errno.EPERM: PERMISSION, errno.EIO: IO_ERROR,
           errno.ECONNREFUSED: SERVER_GONE, errno.ECONNRESET: SERVER_GONE, errno.EPIPE: SERVER_GONE,
           errno.ETIMEDOUT: SERVER_GONE, errno.EHOSTUNREACH: SERVER_GONE, errno.ENETUNREACH: SERVER_GONE}
# SQLite's primary result codes (sqlite3 exceptions carry them since Python 3.11).
_SQLITE_NAMES = {"SQLITE_FULL": DISK_FULL, "SQLITE_READONLY": READ_ONLY, "SQLITE_PERM": PERMISSION,
                 "SQLITE_AUTH": PERMISSION, "SQLITE_CANTOPEN": CANNOT_OPEN, "SQLITE_IOERR": IO_ERROR,
                 "SQLITE_BUSY": LOCKED, "SQLITE_LOCKED": LOCKED}
# PostgreSQL's SQLSTATE classes and codes (psycopg2 sets ``pgcode``). 25006 is also what a
# standby answers to a write (a URL without target_session_attrs=read-write, or a session
# opened on a server demoted since): retried like a read-only disk until a primary answers.
_SQLSTATES = {"53100": DISK_FULL, "25006": READ_ONLY, "42501": PERMISSION, "28000": PERMISSION,
              "28P01": PERMISSION, "57P01": SERVER_GONE, "57P02": SERVER_GONE, "57P03": SERVER_GONE,
              "08000": SERVER_GONE, "08001": SERVER_GONE, "08003": SERVER_GONE, "08006": SERVER_GONE,
              "55P03": LOCKED, "58030": IO_ERROR}
# The drivers' texts, for what carries no code (psycopg2's connection faults, older SQLite).
_TEXTS = [
    ("database or disk is full", DISK_FULL), ("no space left on device", DISK_FULL),
    ("could not extend file", DISK_FULL), ("disk quota exceeded", DISK_FULL),
    ("attempt to write a readonly database", READ_ONLY), ("read-only file system", READ_ONLY),
    ("read-only transaction", READ_ONLY), ("readonly database", READ_ONLY),
    ("permission denied", PERMISSION), ("unable to open database file", CANNOT_OPEN),
    ("server closed the connection", SERVER_GONE), ("could not connect", SERVER_GONE),
    ("connection refused", SERVER_GONE), ("connection already closed", SERVER_GONE),
    ("terminating connection", SERVER_GONE), ("the database system is", SERVER_GONE),
    ("connection to server", SERVER_GONE), ("not currently accepting connections", SERVER_GONE),
    ("ssl connection has been closed", SERVER_GONE), ("ssl syscall error", SERVER_GONE),
    ("could not receive data from server", SERVER_GONE), ("could not send data to server", SERVER_GONE),
    ("no route to host", SERVER_GONE), ("timeout expired", SERVER_GONE),
    # A multi-host URL (primary,standby?target_session_attrs=read-write) whose primary is gone
    # and whose standby is not promoted yet: libpq refuses the standby's session. No server
    # takes writes for now (a failover under way): away, and written again once one does.
    ("session is read-only", SERVER_GONE), ("server is in hot standby mode", SERVER_GONE),
    ("no connection to the server", SERVER_GONE), ("database is locked", LOCKED),
    ("disk i/o error", IO_ERROR), ("input/output error", IO_ERROR),
]


@dataclass(frozen=True)
class DatabaseFault:
    """``kind``: one of the names above; ``detail``: the driver's own words for it, one line."""
    kind: str
    detail: str

    @property
    def words(self) -> str:
        return WORDS[self.kind]

    def __str__(self) -> str:
        return f"{self.words} ({self.detail})" if self.detail else self.words


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception behind it, each once, nearest first."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        todo += [current.__cause__, current.__context__]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _kind_by_code(exc: BaseException) -> str | None:
    if isinstance(exc, OSError) and exc.errno in _ERRNOS:
        return _ERRNOS[exc.errno]
    name = getattr(exc, "sqlite_errorname", None)
    if isinstance(name, str):
        primary = "_".join(name.split("_")[:2])  # SQLITE_IOERR_WRITE -> SQLITE_IOERR
        if primary in _SQLITE_NAMES:
            return _SQLITE_NAMES[primary]
    code = getattr(exc, "pgcode", None)
    if isinstance(code, str) and code in _SQLSTATES:
        return _SQLSTATES[code]
    return None


def _kind_by_text(exc: BaseException) -> str | None:
    text = str(exc).lower()
    return next((kind for needle, kind in _TEXTS if needle in text), None)


def fault_of(exc: BaseException) -> DatabaseFault:
    """The cause of ``exc`` in words: a code anywhere in the chain first (it cannot be
    misread), then a known text, else the unknown fault with the outermost message."""
    causes = list(chain(exc))
    for finder in (_kind_by_code, _kind_by_text):
        for cause in causes:
            kind = finder(cause)
            if kind is not None:
                return DatabaseFault(kind, _one_line(cause))
    return DatabaseFault(UNKNOWN, _one_line(exc))


def kind_of_text(text: str) -> str:
    """The kind of fault a reason already written out names (e.g. another service's
    ``describe``), for a short label; UNKNOWN when it names none."""
    named = next((kind for kind, words in WORDS.items() if kind != UNKNOWN and words in text), None)
    return named or _kind_by_text(Exception(text)) or UNKNOWN


def describe(exc: BaseException) -> str:
    """One line for the status bar and the log: the cause in words, the driver's words after."""
    return str(fault_of(exc))


def retryable(exc: BaseException) -> bool:
    """Whether writing the same again later may succeed: the place is at fault (server gone,
    disk full, read-only, permission, locked), not what was written."""
    return isinstance(exc, DATABASE_AWAY) or fault_of(exc).kind != UNKNOWN


def status_line(*reasons: str) -> tuple[str, str]:
    """What the status bar says while the database is away, and its tooltip, from the
    services' reasons ("" for one whose writes land): the first cause named wins the line."""
    away = [r for r in reasons if r]
    if not away:
        return "", ""
    kind = next((k for k in map(kind_of_text, away) if k != UNKNOWN), UNKNOWN)
    named = f" ({kind})" if kind != UNKNOWN else ""
    # The promise holds because every write that matters is queued and written again.
    line = f"Inventory database away{named}, retrying; new flows are refused, nothing recorded is lost"
    return line, "\n".join(f"Inventory database: {r}" for r in dict.fromkeys(away))
