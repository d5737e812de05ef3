"""The lab tier: real libvirt daemons started by scripts/lab.sh (root, no systemd needed).

In CI (CI set) a lab that cannot start is a failure, never a silent skip.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

LAB_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "lab.sh"


class LabDaemon:
    """One private libvirtd; ``uri(driver)`` gives a client URI over its Unix socket."""

    def __init__(self, name: str, lab_dir: str) -> None:
        self.name, self.env = name, {**os.environ, "ECP_LAB_DIR": lab_dir}
        self.query = ""

    def _lab(self, command: str) -> str:
        result = subprocess.run([str(LAB_SCRIPT), command, self.name], env=self.env,
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"lab.sh {command} {self.name} failed: {result.stderr}{result.stdout}")
        return result.stdout.strip()

    def start(self) -> None:
        self.query = self._lab("start")

    def stop(self) -> None:
        self._lab("stop")

    def kill(self) -> None:
        self._lab("kill")

    def crash_host(self) -> None:
        self._lab("crash-host")

    def hang(self) -> None:
        self._lab("hang")

    def unhang(self) -> None:
        self._lab("unhang")

    def uri(self, driver: str = "test") -> str:
        path = "/default" if driver == "test" else "/system"
        return f"{driver}+unix://{path}{self.query}"


@pytest.fixture
def lab_daemon():
    problem = None
    if os.geteuid() != 0:
        problem = "the lab needs root"
    elif not shutil.which("libvirtd") or not shutil.which("tini"):
        problem = "libvirtd or tini is not installed (./test.sh installs them)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"lab tier unavailable in CI: {problem}")
        pytest.skip(problem)
    lab_dir = tempfile.mkdtemp(prefix="ecp-lab-")  # short: Unix socket paths are limited to 107 bytes
    daemon = LabDaemon("a", lab_dir)
    daemon.start()
    yield daemon
    try:
        daemon.crash_host()  # also kills guests a failed test left running (a stopped daemon does not)
    finally:
        shutil.rmtree(lab_dir, ignore_errors=True)
