"""Opening the inventory database from a URL.

The backend is a choice of configuration: ``sqlite:///path`` (the default, in the
platform data directory) or ``postgresql://user@host/db``. Everything else in the
app talks to :data:`database`, a proxy bound here at start-up.

A PostgreSQL URL may name several servers, as libpq reads them
(``postgresql://user@primary:5432,standby:5432/db?target_session_attrs=read-write``): a
primary and its standby. Such a URL is handed to libpq whole (``dsn``), never split into
one host and one port, so every new connection tries the servers in order and keeps the
one that accepts writes: after a failover the next connection finds the promoted standby.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

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


_QUERY_PASSWORD = re.compile(r"([?&;]password=)([^&;#]*)", re.IGNORECASE)


def _password_span(url: str) -> tuple[int, int] | None:
    """Where the password of ``USER:PASSWORD@HOST`` sits in ``url``, read as the user meant it:
    from the first ':' after ``scheme://`` to the last '@', so that a password with a / ? # or @
    that was not percent-encoded (which URL parsers cut short) is found whole."""
    head, sep, rest = url.partition("://")
    if not sep or rest.startswith("/"):
        return None
    colon, at = rest.find(":"), rest.rfind("@")
    if colon < 0 or at < colon:
        return None
    start = len(head) + len(sep) + colon + 1
    return start, start + (at - colon - 1)


def without_password(url: str) -> str:
    """The URL as it may be shown or saved: any password (in the user part, also one with
    characters a URL reserves, or as a ``password=`` parameter) replaced by ***."""
    text = _QUERY_PASSWORD.sub(r"\1***", url)
    span = _password_span(text)
    return text if span is None else f"{text[:span[0]]}***{text[span[1]:]}"


def scrub(text: str, url: str) -> str:
    """A driver's message about ``url`` on one line, with the URL's password nowhere in it
    (as written or percent-decoded)."""
    secrets = [m.group(2) for m in _QUERY_PASSWORD.finditer(url)]
    rest = _QUERY_PASSWORD.sub(r"\1***", url)
    span = _password_span(rest)
    if span is not None:
        secrets.append(rest[span[0]:span[1]])
    secrets += [unquote(secret) for secret in secrets]
    for secret in sorted({s for s in secrets if s and s != "***"}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return " ".join(text.split())


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
        raise DatabaseUrlError(f"cannot use the database: {scrub(str(exc), url)}") from exc
    finally:
        db.close()


def postgres_hosts(url: str) -> list[tuple[str, int | None]]:
    """The servers of a PostgreSQL URL, in libpq's order: ``(host, port or None)`` each
    (``host1:port1,host2:port2``, an IPv6 address in brackets). ValueError, in words, for a
    port that is not a number from 1 to 65535."""
    hostinfo = urlparse(url).netloc.rpartition("@")[2]
    servers = []
    for item in hostinfo.split(","):
        if item.startswith("["):
            host, _bracket, rest = item[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else rest
        else:
            host, colon, port = item.rpartition(":")
            if not colon:
                host, port = item, ""
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"the port {port!r} of {host or 'the default host'} is not a number from 1 to 65535")
        servers.append((unquote(host), int(port) if port else None))
    return servers


def _several_servers(url: str) -> bool:
    return "," in urlparse(url).netloc.rpartition("@")[2]


def make_database(url: str) -> peewee.Database:
    """A database object for ``url``, not bound to the proxy (DatabaseUrlError, without the
    password, for a URL that cannot be read or a file that cannot be made)."""
    shown = without_password(url)
    try:
        parsed = urlparse(url)
    except ValueError as exc:
        raise DatabaseUrlError(f"cannot read the database URL {shown!r}: {scrub(str(exc), url)}") from None
    scheme = parsed.scheme.split("+")[0]
    if scheme == "sqlite":
        path = parsed.path
        if not path or path == "/":
            raise DatabaseUrlError(f"SQLite URL has no file path: {shown!r} (use sqlite:///ABSOLUTE/PATH)")
        if path != "/:memory:":
            _create_file(Path(path))
        db = connect(url, pragmas=SQLITE_PRAGMAS)
    elif scheme in ("postgresql", "postgres"):
        if "@" not in parsed.netloc and _password_span(url) is not None:
            raise DatabaseUrlError(
                f"cannot read the PostgreSQL URL {shown!r}: a / ? or # in the password must be percent-encoded "
                "(%2F %3F %23), and so must an @ after the host (%40); better, leave the password out of the URL "
                "and keep it in ~/.pgpass or the keyring")
        several = _several_servers(url)
        try:
            postgres_hosts(url) if several else parsed.port  # raises for a port that is not a number
        except ValueError:
            raise DatabaseUrlError(f"the port in the PostgreSQL URL {shown!r} is not a number from 1 to 65535") \
                from None
        if not parsed.path.strip("/"):
            raise DatabaseUrlError(f"PostgreSQL URL names no database: {shown!r}")
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
        try:
            db = _several(url, parsed, options) if several else connect(url, **options)
        except (ValueError, TypeError, KeyError) as exc:
            raise DatabaseUrlError(f"cannot read the PostgreSQL URL {shown!r}: {scrub(str(exc), url)}") from None
    else:
        raise DatabaseUrlError(f"unsupported database URL {shown!r}: use sqlite:///PATH or postgresql://USER@HOST/DB")
    return db


def _several(url: str, parsed, options: dict) -> peewee.PostgresqlDatabase:
    """A database on a URL naming several servers: libpq reads the URL itself (``dsn``; the
    host list, ``target_session_attrs`` and the rest of its query), and peewee gets only the
    database's name, which the sharing services pass on when they open their own sessions.
    The password (from the keyring) stays a separate parameter, in memory only."""
    import psycopg2
    try:
        psycopg2.extensions.parse_dsn(url)  # what libpq cannot read is said now, not at the first query
    except psycopg2.ProgrammingError as exc:
        raise ValueError(str(exc)) from None
    return peewee.PostgresqlDatabase(unquote(parsed.path.strip("/")), dsn=url, **options)


def _create_file(file: Path) -> None:
    """Make the SQLite file (and its directory) if it is not there, readable by the user only."""
    if file.is_dir():
        raise DatabaseUrlError(f"{file} is a directory, not a database file")
    try:
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not file.exists():
            # Readable by the user only (SQLite gives its -wal and -shm files the same mode).
            os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # another process made it meanwhile
    except OSError as exc:
        raise DatabaseUrlError(f"cannot create the database file {file}: {exc.strerror or exc}") from None


def is_postgres(db: peewee.Database) -> bool:
    return isinstance(db, peewee.PostgresqlDatabase)
