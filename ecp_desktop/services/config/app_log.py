"""The app's log: a rotating file in the platform state directory (Qt-free).

Every line is one record: what a message quotes (libvirt's words, names, URIs) cannot start
another line or steer a terminal (``SingleLineFormatter``). libvirt errors have their own
logger (``core.errors.LOGGER_NAME``): one line per error with every field, in the file only,
found again by the error's id (``find_entries``)."""
from __future__ import annotations

import logging
import os
import logging.handlers
from pathlib import Path

import platformdirs

from ..core.errors import LOGGER_NAME, escape_line

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
BACKUPS = 5


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Log files readable by the user only: they name hosts, machines and errors."""

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


class SingleLineFormatter(logging.Formatter):
    """The message on one line, control and bidi characters escaped. A traceback still
    follows on its own lines, each indented (an exception's text quoting libvirt cannot
    make a line that looks like a record of its own), with the same characters escaped."""

    def format(self, record: logging.LogRecord) -> str:
        saved, record.exc_text = record.exc_text, None  # another handler's cached text: not escaped
        try:
            return super().format(record)
        finally:
            record.exc_text = saved

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802  (logging's name)
        record.message = escape_line(record.message)
        return super().formatMessage(record)

    def formatException(self, ei) -> str:  # noqa: N802
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return _indented(super().formatStack(stack_info))


def _indented(text: str) -> str:
    return "\n".join("  " + escape_line(line) for line in text.split("\n"))


def not_libvirt_errors(record: logging.LogRecord) -> bool:
    """For the console: libvirt errors reach the user through dialogs and commands' own
    words; their full lines are for the file."""
    return not record.name.startswith(LOGGER_NAME)


def log_path() -> Path:
    return Path(platformdirs.user_log_dir("ecp-desktop", appauthor=False)) / "ecp-desktop.log"


def file_handler(path: Path) -> logging.Handler:
    """The log file's handler (1 MB x ``BACKUPS`` rotated files). Raises OSError."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handler = PrivateRotatingFileHandler(path, maxBytes=1_000_000, backupCount=BACKUPS, encoding="utf-8")
    handler.setFormatter(SingleLineFormatter(FORMAT))
    return handler


def start_logging(level: int = logging.INFO, *, console: bool = True) -> Path:
    """Log to the rotating file and, with ``console``, warnings to stderr (a headless
    command says what matters itself, on its own lines: no console there); return the
    file's path."""
    path = log_path()
    root = logging.getLogger()
    if any(getattr(h, "ecp_log", False) for h in root.handlers):
        return path
    root.setLevel(level)
    try:
        handler = file_handler(path)
    except OSError as exc:  # a read-only home must not stop the app
        if console:
            logging.basicConfig(level=logging.WARNING, format=FORMAT)
            logging.getLogger(__name__).warning("no log file at %s: %s", path, exc)
        return path
    handler.ecp_log = True
    root.addHandler(handler)
    if console:
        stream = logging.StreamHandler()
        stream.setLevel(logging.WARNING)
        stream.setFormatter(SingleLineFormatter(FORMAT))
        stream.addFilter(not_libvirt_errors)
        stream.ecp_log = True
        root.addHandler(stream)
    return path


def find_entries(path: Path, error_ids: list[str], limit: int = 50) -> list[str]:
    """The log lines of the errors ``error_ids`` (their ``id=`` token), from the file and its
    rotated predecessors, oldest first. Files that cannot be read are skipped."""
    tokens = {f" id={error_id} " for error_id in error_ids if error_id}
    found: list[str] = []
    if not tokens:
        return found
    for candidate in [Path(f"{path}.{n}") for n in range(BACKUPS, 0, -1)] + [path]:
        try:
            with open(candidate, encoding="utf-8", errors="replace") as lines:
                found.extend(line.rstrip("\n") for line in lines if any(t in line for t in tokens))
        except OSError:
            continue
    return found[-limit:]
