"""The app's own small settings file (Qt-free): which database to use, chosen at setup.

It lives in the platform config directory as JSON, so that the database choice made in
the wizard or by ``ecp-desktop --database URL setup`` holds for later starts. Nothing
secret goes here: a PostgreSQL password belongs in ~/.pgpass or the keyring, not a file.

A damaged file (not JSON, not an object, a database_url that is not a URL's text) is never
read as "no settings": that would quietly open another, empty, inventory. It is moved aside
to ``config.json.broken-<UTC time>`` and :class:`ConfigDamaged` says where; the command line
stops there (exit 2) and the window can show the same words (:func:`check`).
"""
from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path

import platformdirs

from .private_file import write_private
from . import credentials

log = logging.getLogger(__name__)
DIR_NAME = "ecp-desktop"


def config_path() -> Path:
    return Path(platformdirs.user_config_dir(DIR_NAME, appauthor=False)) / "config.json"


class ConfigDamaged(Exception):
    """The settings file cannot be used. ``kept``: where the damaged file was moved (None
    when it could not be moved and is still at ``path``); ``reason``: what is wrong with it."""

    def __init__(self, path: Path, kept: Path | None, reason: str) -> None:
        self.path, self.kept, self.reason = path, kept, reason
        where = (f"it was kept as {kept}" if kept is not None else "it was left where it is")
        super().__init__(f"the settings file {path} is damaged ({reason}); {where}. No database was opened: "
                         "name one with --database, or run setup again to choose it")


def _kind(value) -> str:
    """A JSON value's kind, in JSON's words."""
    kinds = {dict: "an object", list: "an array", str: "a string", bool: "true or false", type(None): "null"}
    return kinds.get(type(value), "a number")


def _damage(data) -> str:
    """What is wrong with the file's content, or '' when nothing is."""
    if not isinstance(data, dict):
        return f"{_kind(data)} instead of an object"
    if "database_url" in data:
        url = data["database_url"]
        if not isinstance(url, str):
            return f"its database_url is {_kind(url)}, not a URL"
        if not url.strip():
            return "its database_url is empty"
    return ""


def _keep_aside(path: Path) -> tuple[Path | None, str]:
    """Move the damaged file to ``config.json.broken-<UTC time>`` (never over another kept
    one): (where it is now, '') or (None, why it could not be moved)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for n in range(100):
        kept = path.with_name(f"{path.name}.broken-{stamp}" + (f"-{n}" if n else ""))
        if kept.exists():
            continue
        try:
            os.rename(path, kept)
        except OSError as exc:
            return None, f"cannot move it aside: {exc.strerror or exc}"
        return kept, ""
    return None, "cannot move it aside: too many kept copies"


def load() -> dict:
    """The settings; {} when there is no file. Raises ConfigDamaged (after moving the file
    aside) when there is one that cannot be used."""
    path = config_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except IsADirectoryError as exc:
        raise ConfigDamaged(path, None, "a directory, not a file") from exc
    except OSError as exc:
        raise ConfigDamaged(path, None, f"cannot read it: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        reason = "not text (not UTF-8)"
        error: Exception = exc
    except ValueError as exc:
        reason = f"not valid JSON: {getattr(exc, 'msg', exc)}"
        error = exc
    else:
        reason, error = _damage(data), None
        if not reason:
            return data
    kept, why_not = _keep_aside(path)
    reason = f"{reason}; {why_not}" if why_not else reason
    log.info("the settings file %s is damaged (%s); kept as %s", path, reason, kept)  # the caller says it
    raise ConfigDamaged(path, kept, reason) from error


def check() -> None:
    """Read the settings file once at start-up: raises ConfigDamaged when it is damaged
    (moved aside by then), for the caller to say so before opening any database."""
    load()


def save(**values) -> None:
    """Merge ``values`` into the file, written atomically (a crash leaves the old file)."""
    path = config_path()
    if isinstance(values.get("database_url"), str):
        # A password typed into a URL is used for the session, never written down.
        values["database_url"] = _without_secrets(values["database_url"])
    try:
        data = load() | values
    except ConfigDamaged as damaged:
        if damaged.kept is None:
            raise  # still in place: writing over it would lose it
        data = dict(values)  # the damaged file is kept aside, for the user to look at
    write_private(path, json.dumps(data, indent=2) + "\n")  # it names the database


def _without_secrets(url: str) -> str:
    """The URL without a password, in the user part or as a ``password=`` parameter (the rest
    of the text as it was)."""
    url = credentials.split_database_url(url)[0]
    head, mark, rest = url.partition("?")
    if not mark:
        return url
    query, hash_mark, fragment = rest.partition("#")
    kept = [p for p in query.split("&") if p.partition("=")[0].lower() != "password"]
    return head + ("?" + "&".join(kept) if kept else "") + hash_mark + fragment


def saved_database_url() -> str | None:
    value = load().get("database_url")
    return value if isinstance(value, str) and value else None
