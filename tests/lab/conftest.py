"""The lab tier: real libvirt daemons started by scripts/lab.sh (root, no systemd needed).

In CI (CI set) a lab that cannot start is a failure, never a silent skip.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

LAB_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "lab.sh"


class LabDaemon:
    """One private libvirtd; ``uri(driver)`` gives a client URI over its Unix socket."""

    def __init__(self, name: str, lab_dir: str, address: str = "", host_uuid: str = "") -> None:
        self.name, self.env = name, {**os.environ, "ECP_LAB_DIR": lab_dir}
        if address:  # its own network namespace, reachable over TCP (migration needs it)
            self.env["ECP_LAB_ADDR"] = address
        if host_uuid:
            self.env["ECP_LAB_HOST_UUID"] = host_uuid
        self.address, self.query = address, ""
        self.delay_kind = ""  # how ``delay`` added latency: "netem" or "delay-line"

    def _lab(self, command: str, *extra: str) -> str:
        result = subprocess.run([str(LAB_SCRIPT), command, self.name, *extra], env=self.env,
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"lab.sh {command} {self.name} failed: {result.stderr}{result.stdout}")
        return result.stdout.strip()

    started: list[LabDaemon] = []  # every daemon of the session, for ``approve_lab_hosts``

    def start(self) -> None:
        self.query = self._lab("start")
        LabDaemon.started.append(self)
        self.approve()

    def approve(self) -> None:
        """The tester's own hosts, as if added with Add Connection: a migration's undo opens a
        host a task row names only when it is approved on this workstation."""
        from ecp_desktop.services.config import approved_hosts
        approved_hosts.approve([self.uri("qemu"), self.uri("test"), *([self.tcp_uri] if self.address else [])])

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

    def net_cut(self) -> None:
        self._lab("net-cut")

    def net_restore(self) -> None:
        self._lab("net-restore")

    def net_down(self) -> None:
        self._lab("net-down")

    def delay(self, ms: int) -> str:
        """``ms`` added each way on the host's link (a far host); returns "netem" or "delay-line"."""
        self.delay_kind = self._lab("delay", str(ms))
        return self.delay_kind

    def undelay(self) -> None:
        self._lab("undelay")

    @property
    def tcp_uri(self) -> str:
        return f"qemu+tcp://{self.address}/system"

    def uri(self, driver: str = "test") -> str:
        path = "/default" if driver == "test" else "/system"
        return f"{driver}+unix://{path}{self.query}"


@pytest.fixture(autouse=True)
def approve_lab_hosts():
    """Every lab host started so far is approved in the settings this test sees."""
    for daemon in LabDaemon.started:
        daemon.approve()


def _lab_available() -> None:
    problem = None
    if os.geteuid() != 0:
        problem = "the lab needs root"
    elif not shutil.which("libvirtd") or not shutil.which("tini"):
        problem = "libvirtd or tini is not installed (./test.sh installs them)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"lab tier unavailable in CI: {problem}")
        pytest.skip(problem)


@pytest.fixture
def lab_daemon():
    _lab_available()
    lab_dir = tempfile.mkdtemp(prefix="ecp-lab-")  # short: Unix socket paths are limited to 107 bytes
    daemon = LabDaemon("a", lab_dir)
    daemon.start()
    yield daemon
    try:
        daemon.crash_host()  # also kills guests a failed test left running (a stopped daemon does not)
    finally:
        shutil.rmtree(lab_dir, ignore_errors=True)


@contextlib.contextmanager
def networked_hosts(prefix: str, hosts: tuple[tuple[str, str], ...], delay_ms: int = 0):
    """Lab daemons (name, address), each in its own network namespace on the lab's bridge,
    with ``delay_ms`` added each way on each link; crashed, unplugged and removed afterwards."""
    _lab_available()
    lab_dir = tempfile.mkdtemp(prefix=prefix)
    daemons = [LabDaemon(name, lab_dir, address) for name, address in hosts]
    try:
        for daemon in daemons:
            daemon.start()
            if delay_ms:
                daemon.delay(delay_ms)
        yield daemons
    finally:
        for daemon in daemons:
            try:
                daemon.crash_host()
            finally:
                daemon.net_down()  # removes its delay too
        shutil.rmtree(lab_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def lab_pair():
    """Two hosts, each in its own network namespace on a private bridge: a (10.98.0.1) and b."""
    with networked_hosts("ecp-mig-", (("ma", "10.98.0.1"), ("mb", "10.98.0.2"))) as hosts:
        yield hosts


@pytest.fixture(scope="session")
def guest_dir():
    """The small Linux guest's kernel and initramfs (scripts/lab-guest.sh builds them once)."""
    result = subprocess.run([str(LAB_SCRIPT.parent / "lab-guest.sh")], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"lab-guest.sh failed: {result.stderr}")
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def lab_template(lab_daemon, tmp_path, db_url):
    """(URI, database URL, database URL): the template host, set up (template_lab)."""
    from .template_lab import make_template
    return make_template(lab_daemon, tmp_path, db_url)


@pytest.fixture
def blackholed_addresses():
    """Eight addresses that drop every packet (scripts/lab.sh blackhole): dead hosts whose
    connects get no answer at all, as when a host is powered off or cut off by a firewall."""
    _lab_available()
    name = f"bh{os.getpid() % 10000}"
    result = subprocess.run([str(LAB_SCRIPT), "blackhole", name, "8"], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        pytest.fail(f"lab.sh blackhole failed: {result.stderr}")
    try:
        yield result.stdout.split()
    finally:
        subprocess.run([str(LAB_SCRIPT), "blackhole-down", name], capture_output=True, timeout=30)


@pytest.fixture
def lab_tcp_daemon():
    """One host in its own network namespace, reached over TCP (qemu+tcp://10.98.0.7/system)."""
    _lab_available()
    lab_dir = tempfile.mkdtemp(prefix="ecp-tcp-")
    daemon = LabDaemon("dt", lab_dir, "10.98.0.7")
    try:
        daemon.start()
        yield daemon
    finally:
        try:
            daemon.crash_host()
        finally:
            daemon.net_down()
            shutil.rmtree(lab_dir, ignore_errors=True)


FAR_DELAY_MS = 50  # issue 19: "50 ms added latency each way"


@pytest.fixture(scope="module")
def far_pair():
    """Two far hosts in their own network namespaces, fa (10.98.0.31) and fb (10.98.0.32), each
    with FAR_DELAY_MS added each way on its link (scripts/lab.sh delay): RTT about 100 ms more.
    Their Unix sockets (``uri("qemu")``) are not delayed: fast set-up of many machines."""
    with networked_hosts("ecp-far-", (("fa", "10.98.0.31"), ("fb", "10.98.0.32")), FAR_DELAY_MS) as hosts:
        yield hosts
