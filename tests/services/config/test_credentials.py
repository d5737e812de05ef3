"""Credentials through the real `keyring` library: an in-memory backend set by the test
(the desktop's Secret Service is not on a CI machine), and the no-keyring fallback;
a PostgreSQL role with a password on the real test server; file permissions."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import keyring
import keyring.backend
import keyring.backends.fail
import libvirt
import pytest

from ecp_desktop.models.db import DatabaseUrlError
from ecp_desktop.services.config import app_config, credentials
from ecp_desktop.services.setup.startup import open_inventory



class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring backend keeping secrets in a dict: the library's own API, no service needed."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.secrets.get((service, username))

    def set_password(self, service, username, password):
        self.secrets[(service, username)] = password

    def delete_password(self, service, username):
        self.secrets.pop((service, username), None)


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)
    credentials._session.clear()


@pytest.fixture
def no_keyring():
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    yield
    keyring.set_keyring(previous)
    credentials._session.clear()


def test_secrets_go_to_the_keyring_and_back(memory_keyring):
    assert credentials.keyring_status()[0]
    assert credentials.save_secret("qemu+tls://alice@h1/system", "s3cret") is None
    assert memory_keyring.secrets == {("ecp-desktop", "qemu+tls://alice@h1/system"): "s3cret"}
    assert credentials.load_secret("qemu+tls://alice@h1/system") == "s3cret"
    credentials.forget_secret("qemu+tls://alice@h1/system")
    assert credentials.load_secret("qemu+tls://alice@h1/system") is None


def test_without_a_keyring_nothing_is_stored_and_the_reason_is_given(no_keyring):
    usable, words = credentials.keyring_status()
    assert not usable and "asked for each time" in words
    assert "no keyring service" in credentials.save_secret("postgresql://op@db:5432/inv", "pw")
    assert credentials.load_secret("postgresql://op@db:5432/inv") is None
    # The fallback: an answer given now holds for this session only.
    credentials.remember_for_session("postgresql://op@db:5432/inv", "pw")
    assert credentials.database_password("postgresql://op@db/inv") == "pw"


def test_libvirt_asks_the_keyring_for_a_hosts_password(memory_keyring):
    """The callback libvirt calls during openAuth (SASL, TLS, SSH passphrase prompts)."""
    auth = credentials.libvirt_auth("qemu+tls://alice@h1/system")
    creds, callback = auth[0], auth[1]
    assert libvirt.VIR_CRED_PASSPHRASE in creds
    asked = [[libvirt.VIR_CRED_AUTHNAME, "user", "", None, None],
             [libvirt.VIR_CRED_PASSPHRASE, "password", "", None, None]]
    assert callback(asked, None) == -1  # nothing stored: libvirt reports the refusal
    credentials.save_secret("qemu+tls://alice@h1/system", "s3cret")
    assert callback(asked, None) == 0
    assert [a[4] for a in asked] == ["alice", "s3cret"]
    # The app opens every host through openAuth with it (the test driver asks nothing).
    conn = libvirt.openAuth("test:///default", credentials.libvirt_auth("test:///default"), 0)
    assert conn.getType() == "TEST"
    conn.close()


def test_a_password_in_a_url_is_used_but_never_written_down(memory_keyring):
    app_config.save(database_url="postgresql://op:hunter2@db.example:5433/inv?sslmode=require")
    text = app_config.config_path().read_text()
    assert "hunter2" not in text
    assert json.loads(text)["database_url"] == "postgresql://op@db.example:5433/inv?sslmode=require"
    with pytest.raises(DatabaseUrlError) as refused:
        open_inventory("postgresql://op:hunter2@127.0.0.1:1/inv")  # nothing listens on port 1
    assert "hunter2" not in str(refused.value)


@pytest.mark.postgres
def test_postgresql_password_from_the_keyring_never_from_config(pg_url, memory_keyring):  # noqa: F811
    import peewee
    from urllib.parse import urlparse
    p = urlparse(pg_url)
    admin = peewee.PostgresqlDatabase(p.path.strip("/"), host=p.hostname, port=p.port, user="postgres")
    with admin.connection_context():
        admin.execute_sql("DROP ROLE IF EXISTS ecp_operator")
        admin.execute_sql("CREATE ROLE ecp_operator LOGIN PASSWORD 'op-pw-42'")
        admin.execute_sql("GRANT ALL ON SCHEMA public TO ecp_operator")
    url = f"postgresql://ecp_operator@{p.hostname}:{p.port}{p.path}"
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    os.environ.pop("PGPASSWORD", None)
    try:
        with pytest.raises(DatabaseUrlError) as refused:
            open_inventory(url)
        assert refused.value.needs_password  # the app then asks (window) or prompts (terminal)
        credentials.save_secret(credentials.database_account(url), "op-pw-42")
        db = open_inventory(url)  # the keyring answers
        with db.connection_context():
            assert db.execute_sql("SELECT current_user").fetchone()[0] == "ecp_operator"
    finally:
        os.environ.update(env)
        with admin.connection_context():
            admin.execute_sql("DROP OWNED BY ecp_operator CASCADE")
            admin.execute_sql("DROP ROLE ecp_operator")


@pytest.mark.sqlite_only
def test_the_database_and_the_log_are_readable_by_the_user_only(tmp_path):
    db_file = tmp_path / "inv" / "inventory.sqlite3"
    home = tmp_path / "home"
    env = {**os.environ, "XDG_STATE_HOME": str(home / "state"), "XDG_CONFIG_HOME": str(home / "config")}
    result = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", f"sqlite:///{db_file}",
                             "--connect", "test:///default", "setup", "--no-import"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    for path in [db_file, *db_file.parent.glob("inventory.sqlite3-*")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    gui = subprocess.run([sys.executable, "-c", "from ecp_desktop.services.config.app_log import start_logging; "
                          "import logging; p = start_logging(); logging.getLogger('x').warning('hello'); print(p)"],
                         capture_output=True, text=True, timeout=60, env=env)
    log_file = gui.stdout.strip().splitlines()[-1]
    assert stat.S_IMODE(os.stat(log_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(log_file)).st_mode) == 0o700


def test_a_host_password_typed_in_add_connection_goes_to_the_keyring(memory_keyring, qtbot, window):  # noqa: F811
    from PySide6.QtCore import Qt
    dialog = window.open_add_connection()
    dialog.uri.setText("test:///default")
    dialog.password.setText("host-pw")
    qtbot.mouseClick(dialog.connect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "test:///default" in window.inventory.hosts
                    and window.inventory.hosts["test:///default"].connected, timeout=5000)
    assert memory_keyring.secrets[("ecp-desktop", "test:///default")] == "host-pw"
    # and what libvirt's credential callback would answer for that host now
    asked = [[libvirt.VIR_CRED_PASSPHRASE, "password", "", None, None]]
    assert credentials.libvirt_auth("test:///default")[1](asked, None) == 0 and asked[0][4] == "host-pw"
