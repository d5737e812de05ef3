"""The single-instance socket cannot be squatted by another local user.

It used to be /tmp/ecp-desktop-<hash of user and database>: a predictable name in a shared
directory, so another user could listen there first and every launch believed it was
already running, and exited. Now it lives in a directory only this user can enter
($XDG_RUNTIME_DIR when it is one, else a private 0700 directory of ours), and a socket
there that is not ours, or answered by another user, is ignored and replaced.

"Another user" is real here: as root, a helper process takes uid 65534 (nobody) before it
binds and listens, so the file's owner and the peer's credentials are nobody's. A test that
needs another user is skipped when the suite does not run as root (nothing is faked).
"""
from __future__ import annotations

import getpass
import hashlib
import logging
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ...helpers import LAB_URI, query
from ...helpers.launch import log_text, run_app, setup_headless, start_app, stop_app, user_env

NOBODY = 65534
IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="acting as another local user needs root")

# Listens on argv[1] as uid argv[2] (its effective uid, taken before bind and listen: the
# socket file and the peer credentials are that user's), and never accepts: the kernel
# completes connections all the same, which is all a squatter needs.
SQUATTER = r"""
import os, socket, sys, time
path, uid = sys.argv[1], int(sys.argv[2])
if uid != os.geteuid():
    os.setegid(uid)
    os.seteuid(uid)
listener = socket.socket(socket.AF_UNIX)
listener.bind(path)
listener.listen(16)
print("listening", flush=True)
time.sleep(300)
"""


def old_socket_name(db_url: str) -> str:
    """The name the app used before: Qt put it in the temporary directory ($TMPDIR or /tmp)."""
    key = hashlib.sha256(f"{getpass.getuser()}\0{db_url}".encode()).hexdigest()[:16]
    return f"ecp-desktop-{key}"


@pytest.fixture
def home():
    """A private directory with a short path: a socket's path has at most 107 bytes, and
    pytest's own temporary directories are long."""
    path = Path(tempfile.mkdtemp(prefix="ecp-si-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def shared_dir():
    """A directory every local user may write to, like /tmp (sticky, 1777)."""
    path = Path(tempfile.mkdtemp(prefix="ecp-shared-", dir="/tmp"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def squat():
    """``squat(path, uid)``: a process of ``uid`` listening on ``path``; stopped at the end."""
    started = []

    def start(path: Path, uid: int) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", SQUATTER, str(path), str(uid)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(proc)
        line = proc.stdout.readline()
        assert line.strip() == "listening", proc.stderr.read()
        assert stat.S_ISSOCK(os.lstat(path).st_mode) and os.lstat(path).st_uid == uid
        return proc
    yield start
    for proc in started:
        proc.kill()
        proc.communicate(timeout=10)


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


@pytest.fixture
def env_of(monkeypatch):
    """Makes this process see the socket's place as a launch with ``env`` does."""
    def use(env: dict[str, str]) -> None:
        for name in ("XDG_RUNTIME_DIR", "XDG_CACHE_HOME", "TMPDIR", "HOME"):
            if name in env:
                monkeypatch.setenv(name, env[name])
            elif name != "HOME":
                monkeypatch.delenv(name, raising=False)
        monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() reads TMPDIR again
    return use


def wait_until(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def set_up(env, db_url: str) -> None:
    """Setup done on the database; its host not yet connected by any window."""
    setup_headless(env, "--database", db_url, "--connect", LAB_URI)
    query(db_url, "update host set last_connected_at = NULL")


def window_connected(db_url: str) -> bool:
    """A window got past the single-instance check and connected its host."""
    try:
        return query(db_url, "select count(*) from host where last_connected_at is not null") == [(1,)]
    except Exception:  # the database busy a moment
        return False


def ours(path: str) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISSOCK(st.st_mode) and st.st_uid == os.geteuid()


# ----- where the socket lives ------------------------------------------------------------------
def test_the_socket_lives_in_a_directory_only_this_user_can_enter(home, tmp_path, env_of, shared_dir, caplog):
    from ecp_desktop.views.window.single_instance import server_name, socket_key
    caplog.set_level(logging.INFO, logger="ecp_desktop.views.window.single_instance")
    url = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    runtime = private_dir(home / "run")
    env_of({"XDG_RUNTIME_DIR": str(runtime), "XDG_CACHE_HOME": str(home / "cache"), "TMPDIR": str(shared_dir)})
    assert server_name(url) == str(runtime / socket_key(url))

    # A runtime directory others may enter is not one: the private directory of ours instead.
    env_of({"XDG_RUNTIME_DIR": str(shared_dir), "XDG_CACHE_HOME": str(home / "cache"), "TMPDIR": str(shared_dir)})
    fallback = home / "cache" / "ecp-desktop"
    assert server_name(url) == str(fallback / socket_key(url))
    assert "is open to other users" in caplog.text
    assert stat.S_IMODE(fallback.stat().st_mode) == 0o700 and fallback.stat().st_uid == os.geteuid()

    # Unset: the same private directory; one of ours left open is closed again.
    fallback.chmod(0o755)
    env_of({"XDG_CACHE_HOME": str(home / "cache"), "TMPDIR": str(shared_dir)})
    assert server_name(url) == str(fallback / socket_key(url))
    assert stat.S_IMODE(fallback.stat().st_mode) == 0o700

    # Never the shared temporary directory itself, where the old name was.
    assert not server_name(url).startswith(f"{shared_dir}/ecp-desktop-")


@needs_root
def test_a_directory_of_another_user_is_never_used(home, tmp_path, env_of, shared_dir, caplog):
    from ecp_desktop.views.window.single_instance import server_name, socket_key
    caplog.set_level(logging.INFO, logger="ecp_desktop.views.window.single_instance")
    url = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    theirs = private_dir(home / "their-run")
    os.chown(theirs, NOBODY, NOBODY)
    taken = private_dir(home / "cache" / "ecp-desktop")  # made first by another user
    os.chown(taken, NOBODY, NOBODY)
    env_of({"XDG_RUNTIME_DIR": str(theirs), "XDG_CACHE_HOME": str(home / "cache"), "TMPDIR": str(shared_dir)})
    name = server_name(url)
    last = shared_dir / f"ecp-desktop-{os.geteuid()}"  # the last resort, a private directory of ours
    assert name == str(last / socket_key(url))
    assert f"belongs to uid {NOBODY}" in caplog.text
    assert stat.S_IMODE(last.stat().st_mode) == 0o700 and last.stat().st_uid == os.geteuid()
    # ... and one another user made there first is not used either: no single instance, no exit.
    shutil.rmtree(last)
    private_dir(last)
    os.chown(last, NOBODY, NOBODY)
    assert server_name(url) is None


# ----- squatted sockets -----------------------------------------------------------------------
@needs_root
def test_a_socket_of_another_user_at_the_new_place_is_ignored_and_replaced(home, qtbot, tmp_path, env_of, shared_dir,
                                                                          squat, caplog):
    from ecp_desktop.views.window.single_instance import SingleInstance, server_name
    url = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    env_of({"XDG_RUNTIME_DIR": str(private_dir(home / "run")), "TMPDIR": str(shared_dir)})
    path = server_name(url)
    # Another user listens there (only root can put it there: the directory is ours, 0700).
    squat(shared_dir / "sock", NOBODY)
    os.rename(shared_dir / "sock", path)
    probe = socket.socket(socket.AF_UNIX)
    probe.connect(path)  # it does answer: the old code would have asked it to raise a window
    probe.close()

    first = SingleInstance(url)
    assert not first.ask_running_instance()
    assert f"belongs to uid {NOBODY}" in caplog.text and "this launch goes on" in caplog.text
    assert first.listen() and ours(path)

    # Our own instance there still answers a second launch.
    second = SingleInstance(url)
    with qtbot.waitSignal(first.raise_requested, timeout=3000):
        assert second.ask_running_instance()
    first.server.close()


@needs_root
def test_a_socket_file_of_ours_answered_by_another_user_is_ignored(home, qtbot, tmp_path, env_of, shared_dir, squat,
                                                                   caplog):
    """The file passes the owner check (root gives it to us); the process behind it does not."""
    from ecp_desktop.views.window.single_instance import SingleInstance, server_name
    url = f"sqlite:///{tmp_path / 'inventory.sqlite3'}"
    env_of({"XDG_RUNTIME_DIR": str(private_dir(home / "run")), "TMPDIR": str(shared_dir)})
    path = server_name(url)
    squat(shared_dir / "sock", NOBODY)
    os.rename(shared_dir / "sock", path)
    os.chown(path, os.geteuid(), os.getegid())
    instance = SingleInstance(url)
    assert not instance.ask_running_instance()
    assert f"answered by uid {NOBODY}" in caplog.text


def test_a_squatter_at_the_old_predictable_place_does_not_stop_a_launch(home, db_url, shared_dir, squat):
    """Anyone listening at $TMPDIR/ecp-desktop-<hash> (another user when the suite runs as
    root, else one of ours): the old launch exited 'already running'; now it runs."""
    env = user_env(home)
    env["TMPDIR"] = str(shared_dir)
    env.pop("XDG_RUNTIME_DIR", None)
    set_up(env, db_url)
    squat(shared_dir / old_socket_name(db_url), NOBODY if IS_ROOT else os.geteuid())
    app = start_app(env, "--database", db_url)
    wait_until(lambda: app.poll() is not None or window_connected(db_url))
    err = stop_app(app) if app.poll() is None else app.communicate()[1]
    assert "already running" not in err and window_connected(db_url), err


@needs_root
def test_a_launch_goes_on_over_a_socket_of_another_user_at_the_new_place(home, db_url, shared_dir, squat, env_of):
    from ecp_desktop.views.window.single_instance import server_name
    env = user_env(home)
    env["XDG_RUNTIME_DIR"] = str(private_dir(home / "run"))
    env["TMPDIR"] = str(shared_dir)
    set_up(env, db_url)
    env_of(env)
    path = server_name(db_url)
    squat(shared_dir / "sock", NOBODY)
    os.rename(shared_dir / "sock", path)
    app = start_app(env, "--database", db_url)
    wait_until(lambda: app.poll() is not None or (window_connected(db_url) and ours(path)))
    err = stop_app(app) if app.poll() is None else app.communicate()[1]
    assert "already running" not in err and window_connected(db_url), err
    assert f"belongs to uid {NOBODY}" in log_text(home)


# ----- the single instance itself -------------------------------------------------------------
@pytest.mark.parametrize("runtime_dir", [True, False], ids=["XDG_RUNTIME_DIR", "private fallback"])
def test_a_second_launch_on_the_same_database_raises_the_first_window(home, db_url, shared_dir, runtime_dir, env_of):
    from ecp_desktop.views.window.single_instance import server_name
    env = user_env(home)
    env["TMPDIR"] = str(shared_dir)
    if runtime_dir:
        env["XDG_RUNTIME_DIR"] = str(private_dir(home / "run"))
    else:
        env.pop("XDG_RUNTIME_DIR", None)
    set_up(env, db_url)
    first = start_app(env, "--database", db_url)
    try:
        assert wait_until(lambda: first.poll() is not None or window_connected(db_url)) and first.poll() is None
        second = run_app(env, "--database", db_url)
        assert second.returncode == 0 and "already running on this database" in second.stderr, second.stderr
        assert wait_until(lambda: "raised by a second launch" in log_text(home), timeout=5)
        # Where it listened: a private directory of ours, never the shared one.
        env_of(env)
        path = server_name(db_url)
        expected = home / ("run" if runtime_dir else "cache/ecp-desktop")
        assert Path(path).parent == expected and ours(path)
        assert stat.S_IMODE(expected.stat().st_mode) == 0o700
        assert not list(shared_dir.iterdir())
    finally:
        stop_app(first)
