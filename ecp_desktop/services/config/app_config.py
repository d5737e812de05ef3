"""The app's own small settings file (Qt-free): which database to use, chosen at setup.

It lives in the platform config directory as JSON, so that the database choice made in
the wizard or by ``ecp-desktop --database URL setup`` holds for later starts. Nothing
secret goes here: a PostgreSQL password belongs in ~/.pgpass or the keyring, not a file.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import platformdirs

from . import credentials

log = logging.getLogger(__name__)
DIR_NAME = "ecp-desktop"


def config_path() -> Path:
    return Path(platformdirs.user_config_dir(DIR_NAME, appauthor=False)) / "config.json"


def load() -> dict:
    path = config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        # A damaged file must not stop the app; it is kept aside for the user to look at.
        log.warning("ignoring unreadable settings file %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def save(**values) -> None:
    """Merge ``values`` into the file, written atomically (a crash leaves the old file)."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(values.get("database_url"), str):
        # A password typed into a URL is used for the session, never written down.
        values["database_url"] = credentials.split_database_url(values["database_url"])[0]
    data = load() | values
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def saved_database_url() -> str | None:
    value = load().get("database_url")
    return value if isinstance(value, str) and value else None
