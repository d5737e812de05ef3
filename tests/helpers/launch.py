"""Starting the real app as a user does (``python -m ecp_desktop``), in a private home, and
stopping it as the desktop does (SIGTERM)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import query


def user_env(home: Path) -> dict[str, str]:
    """An environment whose home, data, config, state (logs) and cache are under ``home``."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(home),
           "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_STATE_HOME": str(home / "state"), "XDG_CACHE_HOME": str(home / "cache")}
    env.pop("ECP_DESKTOP_DATABASE", None)
    return env


def log_text(home: Path) -> str:
    path = home / "state" / "ecp-desktop" / "log" / "ecp-desktop.log"
    return path.read_text() if path.exists() else ""


def setup_headless(env, *args) -> str:
    result = subprocess.run([sys.executable, "-m", "ecp_desktop", *args, "setup"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def start_app(env, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ecp_desktop", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_app(env, *args, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ecp_desktop", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def stop_app(proc: subprocess.Popen) -> str:
    """SIGTERM, then its stderr; it must exit 0 without a traceback."""
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err
    return err


def wait_for_rows(sql: str, db_url: str, expected, timeout: float = 20.0) -> None:
    """Until ``sql`` on the app's database gives ``expected`` (the app got that far)."""
    import peewee
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not db_url.startswith("sqlite:///") or Path(db_url.removeprefix("sqlite://")).exists():
            try:
                last = query(db_url, sql)
                if last == expected:
                    return
            except peewee.DatabaseError:
                pass  # tables not created yet
        time.sleep(0.1)
    raise AssertionError(f"{sql!r} gave {last!r}, expected {expected!r}")
