"""The app's log: a rotating file in the platform state directory (Qt-free)."""
from __future__ import annotations

import logging
import os
import logging.handlers
from pathlib import Path

import platformdirs

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Log files readable by the user only: they name hosts, machines and errors."""

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


def log_path() -> Path:
    return Path(platformdirs.user_log_dir("ecp-desktop", appauthor=False)) / "ecp-desktop.log"


def start_logging(level: int = logging.INFO) -> Path:
    """Log to the rotating file (1 MB x 5) and warnings to stderr; return the file's path."""
    path = log_path()
    root = logging.getLogger()
    if any(getattr(h, "ecp_log", False) for h in root.handlers):
        return path
    root.setLevel(level)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handler = PrivateRotatingFileHandler(path, maxBytes=1_000_000, backupCount=5, encoding="utf-8")
    except OSError as exc:  # a read-only home must not stop the app
        logging.basicConfig(level=logging.WARNING, format=FORMAT)
        logging.getLogger(__name__).warning("no log file at %s: %s", path, exc)
        return path
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.ecp_log = True
    root.addHandler(handler)
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter(FORMAT))
    console.ecp_log = True
    root.addHandler(console)
    return path
