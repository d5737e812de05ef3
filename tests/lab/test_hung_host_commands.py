"""A host whose daemon stops answering (SIGSTOP: the socket still accepts, nothing answers)
keeps no command waiting for ever: each ends with exit 3 and the reason, in bounded time."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.lab
BOUND = 60  # seconds: a command may take this long at most against a host that does not answer


def ecp(db_url, *args, timeout=BOUND + 30):
    env = {**os.environ, "ECP_DESKTOP_OPEN_TIMEOUT": "5", "ECP_DESKTOP_CALL_TIMEOUT": "10"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, *args],
                          capture_output=True, text=True, timeout=timeout, env=env)
    return done, time.monotonic() - started


def test_commands_give_up_on_a_hung_daemon_in_bounded_time(db_url, lab_daemon):
    uri = lab_daemon.uri("test")
    done, _ = ecp(db_url, "--connect", uri, "setup")
    assert done.returncode == 0, done.stdout + done.stderr
    lab_daemon.hang()
    try:
        for command in (["machines"], ["hosts"], ["pause", "test"]):
            done, took = ecp(db_url, "--connect", uri, *command)
            assert done.returncode == 3, f"{command}: {done.returncode} {done.stdout}{done.stderr}"
            assert took < BOUND, f"{command} took {took:.0f} s"
            assert "did not answer within 5 s" in done.stderr and "Traceback" not in done.stderr
        done, took = ecp(db_url, "restore")
        assert done.returncode in (0, 3) and took < BOUND, done.stdout + done.stderr
    finally:
        lab_daemon.unhang()
