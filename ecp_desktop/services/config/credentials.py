"""Passwords and passphrases in the system keyring, never in the database or a file of ours.

Accounts are URLs without secrets: ``postgresql://user@host:5432/db`` for a database,
the libvirt URI for a host (SASL/TLS passwords, SSH key passphrases). Where the
desktop has no keyring service, nothing is stored and the app asks each time
(``keyring_status`` says why, in words the wizard and the CLI show).
"""
from __future__ import annotations

import logging
from urllib.parse import urlparse, urlunparse

import libvirt

log = logging.getLogger(__name__)
SERVICE = "ecp-desktop"


def _keyring():
    """The keyring module, loaded with the first secret asked for: not at start-up, where it
    was a tenth of the imports before the first paint (bench/inventory_first.py)."""
    import keyring
    import keyring.errors
    return keyring


def keyring_status() -> tuple[bool, str]:
    """(usable, in words): whether a keyring service can keep secrets here."""
    try:
        backend = _keyring().get_keyring()
    except Exception as exc:  # noqa: BLE001  (a broken keyring setup must not stop the app)
        return False, f"the system keyring cannot be used ({exc})"
    name = type(backend).__module__ + "." + type(backend).__name__
    if name.startswith("keyring.backends.fail") or name.startswith("keyring.backends.null"):
        return False, ("no keyring service is running (e.g. GNOME Keyring or KWallet); "
                       "passwords are not stored and will be asked for each time")
    return True, f"stored in the system keyring ({type(backend).__name__})"


def save_secret(account: str, secret: str) -> str | None:
    """Store ``secret``; None when stored, otherwise why not (the caller asks each time)."""
    keyring = _keyring()
    try:
        keyring.set_password(SERVICE, account, secret)
    except keyring.errors.KeyringError as exc:
        log.info("keyring refused %s: %s", account, exc)
        return keyring_status()[1] if not keyring_status()[0] else f"the keyring refused it ({exc})"
    return None


def load_secret(account: str) -> str | None:
    keyring = _keyring()
    try:
        return keyring.get_password(SERVICE, account)
    except keyring.errors.KeyringError as exc:
        log.info("keyring lookup of %s failed: %s", account, exc)
        return None


def forget_secret(account: str) -> None:
    keyring = _keyring()
    try:
        keyring.delete_password(SERVICE, account)
    except keyring.errors.KeyringError:
        pass  # not there, or no keyring: nothing to forget


# ----- databases --------------------------------------------------------------------------
_session: dict[str, str] = {}  # answers given in this process when there was no keyring


def remember_for_session(account: str, secret: str) -> None:
    _session[account] = secret


def database_password(url: str) -> str | None:
    """A PostgreSQL password for ``url`` from this session's answers or the keyring."""
    if not url.startswith(("postgresql:", "postgres:")):
        return None
    account = database_account(url)
    return _session.get(account) or load_secret(account)


def register_database_passwords() -> None:
    from ecp_desktop.models import db
    if database_password not in db.PASSWORD_SOURCES:
        db.PASSWORD_SOURCES.append(database_password)


def split_database_url(url: str) -> tuple[str, str | None]:
    """(the URL without its password, the password or None). Only the first is ever saved."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url, None
    servers = parsed.netloc.rpartition("@")[2]
    if "," in servers:  # several servers (libpq's host1:port1,host2:port2): kept as written
        return urlunparse(parsed._replace(netloc=f"{parsed.username or ''}@{servers}")), parsed.password
    netloc = parsed.hostname or ""
    if parsed.username:
        netloc = f"{parsed.username}@{netloc}"
    if parsed.port:
        netloc = f"{netloc}:{parsed.port}"
    return urlunparse(parsed._replace(netloc=netloc)), parsed.password


def database_account(url: str) -> str:
    """The keyring account of a PostgreSQL URL: scheme, user, host, port and database."""
    parsed = urlparse(split_database_url(url)[0])
    servers = parsed.netloc.rpartition("@")[2]
    if "," in servers:  # a primary and its standby: one account for the list, as written
        return f"postgresql://{parsed.username or ''}@{servers.lower()}{parsed.path}"
    port = parsed.port or 5432
    return f"postgresql://{parsed.username or ''}@{parsed.hostname or 'localhost'}:{port}{parsed.path}"


# ----- libvirt ------------------------------------------------------------------------------
AUTH_CREDENTIALS = [libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_PASSPHRASE, libvirt.VIR_CRED_NOECHOPROMPT,
                    libvirt.VIR_CRED_ECHOPROMPT]


def libvirt_auth(uri: str) -> list:
    """The ``auth`` argument of ``libvirt.openAuth`` answering from the keyring.

    The user name comes from the URI (``qemu+tls://alice@host/system``); the secret is
    the one stored for this URI. With nothing stored, libvirt reports the refusal
    (AUTH_FAILED / AUTH_CANCELLED) and the error dialog says how to store one.
    """
    def callback(credentials: list, _opaque) -> int:
        secret = None
        for cred in credentials:
            kind = cred[0]
            if kind == libvirt.VIR_CRED_AUTHNAME:
                cred[4] = urlparse(uri).username or cred[3] or ""
            elif kind in (libvirt.VIR_CRED_PASSPHRASE, libvirt.VIR_CRED_NOECHOPROMPT):
                secret = secret if secret is not None else (_session.get(uri) or load_secret(uri))
                if secret is None:
                    return -1
                cred[4] = secret
            elif kind == libvirt.VIR_CRED_ECHOPROMPT:
                cred[4] = cred[3] or ""
        return 0
    return [AUTH_CREDENTIALS, callback, None]
