"""The real entry point, as a user starts it: platform paths, first run, clean exit on SIGTERM."""
import os
import subprocess
import sys
import time

import pytest

from ecp_desktop.services.setup.startup import local_hypervisor_answers

from ..helpers import LAB_URI
from ..helpers.launch import setup_headless, start_app, stop_app, wait_for_rows


@pytest.fixture
def user_env(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path),
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("ECP_DESKTOP_DATABASE", None)
    return env


def test_after_setup_the_app_uses_the_chosen_database_and_hosts_and_exits_cleanly(user_env, tmp_path, db_url):
    db_path = db_url
    setup_headless(user_env, "--database", db_url, "--connect", LAB_URI)
    # A later start names neither the database nor the connection.
    proc = start_app(user_env)
    try:
        wait_for_rows("select uri from host where last_connected_at is not null", db_path, [(LAB_URI,)])
        wait_for_rows("select count(*) from machine where missing = FALSE", db_path, [(4,)])
    finally:
        stop_app(proc)
    settings = list((tmp_path / "config").rglob("*.conf"))
    assert settings and "geometry" in settings[0].read_text(), "the window layout is remembered"
    assert not (tmp_path / "data" / "ecp-desktop" / "inventory.sqlite3").exists()


@pytest.mark.sqlite_only
def test_setup_without_connections_picks_the_local_hypervisor_or_the_demo_host(user_env, tmp_path):
    """Without --database the app uses its embedded default: an SQLite file in the data dir."""
    db_path = f"sqlite:///{tmp_path / 'data' / 'ecp-desktop' / 'inventory.sqlite3'}"
    expected = [("qemu:///system", 0)] if local_hypervisor_answers() else [("test:///default", 1)]
    out = setup_headless(user_env)
    assert "setup finished" in out
    proc = start_app(user_env)
    try:
        wait_for_rows("select uri, is_demo from host where autoconnect = TRUE", db_path, expected)
        wait_for_rows("select uri from host where last_connected_at is not null", db_path, [(expected[0][0],)])
        if expected[0][0] == "test:///default":
            wait_for_rows("select name, state from machine", db_path, [("test", "running")])
    finally:
        stop_app(proc)


def test_a_second_launch_raises_the_first_window_and_a_crashed_one_does_not_block(user_env, tmp_path, db_url):
    from ecp_desktop.views.window.single_instance import server_name
    user_env["TMPDIR"] = str(tmp_path)  # where Qt puts the local socket
    user_env["XDG_STATE_HOME"] = str(tmp_path / "state")
    setup_headless(user_env, "--database", db_url, "--connect", LAB_URI)
    socket = tmp_path / server_name(db_url)
    first = start_app(user_env, "--database", db_url)
    deadline = time.monotonic() + 20
    while not socket.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert socket.exists(), "the first instance did not listen"
    second = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url], env=user_env,
                            capture_output=True, text=True, timeout=30)
    assert second.returncode == 0 and "already running on this database" in second.stderr
    time.sleep(0.5)
    stop_app(first)
    log = (tmp_path / "state" / "ecp-desktop" / "log" / "ecp-desktop.log").read_text()
    assert "raised by a second launch" in log

    # Another database is another instance; a killed instance leaves a socket nobody answers.
    other = start_app(user_env, "--database", f"sqlite:///{tmp_path / 'data' / 'other.sqlite3'}")
    crashed = start_app(user_env, "--database", db_url)
    deadline = time.monotonic() + 20
    while not socket.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    crashed.kill()
    crashed.communicate(timeout=20)
    assert socket.exists()
    again = start_app(user_env, "--database", db_url)
    time.sleep(3)
    assert again.poll() is None, again.communicate()  # it took over and runs
    stop_app(again)
    assert other.poll() is None
    stop_app(other)
