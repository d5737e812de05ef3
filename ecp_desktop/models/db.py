"""Opening the inventory database from a URL.

The backend is a choice of configuration: ``sqlite:///path`` (the default, in the
platform data directory) or ``postgresql://user@host/db``. Everything else in the
app talks to :data:`database`, a proxy bound here at start-up.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import peewee
from playhouse.db_url import connect

database = peewee.DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "synchronous": "normal",
    "busy_timeout": 5000,
}


class DatabaseUrlError(ValueError):
    """The database URL cannot be used; the message says why in plain words."""

    @property
    def needs_password(self) -> bool:
        """The server asked for a password that was not given (ask the user, then retry)."""
        text = str(self).lower()
        return "no password supplied" in text or "password authentication failed" in text


# Where a PostgreSQL password comes from when the URL has none, besides libpq's own
# ~/.pgpass and PGPASSWORD: the services register the keyring and the session's answers.
PASSWORD_SOURCES: list = []


def without_password(url: str) -> str:
    """The URL as it may be shown or saved: any password replaced by ***."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    return url.replace(f":{parsed.password}@", ":***@", 1)


def default_sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'inventory.sqlite3'}"


def open_database(url: str) -> peewee.Database:
    """Bind the proxy to the database at ``url`` and return it (it connects on first use).

    Raises DatabaseUrlError for URLs we cannot use, before anything is created.
    """
    db = make_database(url)
    database.initialize(db)
    return db


def check_database(url: str) -> str:
    """Connect once and say what answered (blocking: a worker's job); DatabaseUrlError if not."""
    db = make_database(url)
    try:
        db.connect()
        if is_postgres(db):
            return db.execute_sql("SHOW server_version").fetchone()[0].join(("PostgreSQL ", ""))
        return f"SQLite {peewee.sqlite3.sqlite_version}"
    except peewee.DatabaseError as exc:
        raise DatabaseUrlError(f"cannot use the database: {str(exc).strip()}") from exc
    finally:
        db.close()


def make_database(url: str) -> peewee.Database:
    """A database object for ``url``, not bound to the proxy."""
    parsed = urlparse(url)
    scheme = parsed.scheme.split("+")[0]
    if scheme == "sqlite":
        path = parsed.path
        if not path or path == "/":
            raise DatabaseUrlError(f"SQLite URL has no file path: {url!r} (use sqlite:///ABSOLUTE/PATH)")
        if path != "/:memory:":
            file = Path(path)
            if file.is_dir():
                raise DatabaseUrlError(f"{file} is a directory, not a database file")
            file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not file.exists():
                # Readable by the user only (SQLite gives its -wal and -shm files the same mode).
                os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        db = connect(url, pragmas=SQLITE_PRAGMAS)
    elif scheme in ("postgresql", "postgres"):
        if not parsed.path.strip("/"):
            raise DatabaseUrlError(f"PostgreSQL URL names no database: {without_password(url)!r}")
        try:
            import psycopg2  # noqa: F401  (peewee needs it; say so plainly if missing)
        except ImportError as exc:
            raise DatabaseUrlError("PostgreSQL support needs the psycopg2 package") from exc
        # Without a timeout an unreachable server would hang start-up for minutes.
        options = {} if "connect_timeout" in parsed.query else {"connect_timeout": 10}
        if parsed.password is None:
            password = next((p for p in (source(url) for source in PASSWORD_SOURCES) if p), None)
            if password:
                options["password"] = password  # in memory only
        db = connect(url, **options)
    else:
        raise DatabaseUrlError(
            f"unsupported database URL {without_password(url)!r}: use sqlite:///PATH or postgresql://USER@HOST/DB"
        )
    return db


def is_postgres(db: peewee.Database) -> bool:
    return isinstance(db, peewee.PostgresqlDatabase)
