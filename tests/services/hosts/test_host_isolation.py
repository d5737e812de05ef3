"""A host that does not answer delays no other host, and never the app's exit.

Dead hosts here are real sockets on this machine, no mocks:
* blackholed: a listening socket whose accept queue is full and that never accepts, so the
  kernel drops every further SYN, as a host that drops packets does (connects time out);
* hung daemon: a listening socket that completes handshakes and never says a word, as a
  stopped libvirtd does (libvirt's open waits for its answer for ever).
"""
from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from contextlib import ExitStack, contextmanager

import pytest

from ecp_desktop.services.core.aio import spawn
from ecp_desktop.services.core.executors import NeverFullPool
from ecp_desktop.services.hosts.connection import HostState
from ecp_desktop.services.hosts.reachability import daemon_address, socket_listening
from ecp_desktop.services.hosts.reconnect import OPENS_LEFT_RUNNING_PER_HOST, RetrySchedule, retry_delay

from ...helpers import LAB_URI
from ...helpers.launch import log_text, setup_headless, start_app, user_env as private_env, wait_for_rows


@contextmanager
def dead_tcp_host(*, hung_daemon: bool = False):
    """A qemu+tcp URI whose "host" never answers (see the module's docstring)."""
    with ExitStack() as stack:
        server = stack.enter_context(socket.socket())
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        if hung_daemon:
            server.listen(64)
        else:
            server.listen(0)
            stack.enter_context(socket.create_connection(("127.0.0.1", port)))  # the one queue slot, taken
        yield f"qemu+tcp://127.0.0.1:{port}/system"
        # Closing the listener resets the queued connections: a thread still in libvirt ends.


@pytest.fixture
def open_limit(monkeypatch):
    monkeypatch.setenv("ECP_DESKTOP_OPEN_TIMEOUT", "1.5")
    return 1.5


def test_a_job_never_waits_for_a_worker_another_job_holds():
    pool = NeverFullPool("test-open", idle_seconds=0.3)
    release = threading.Event()
    stuck = [pool.submit(release.wait) for _ in range(20)]  # more than any bounded pool had workers
    started = time.monotonic()
    assert pool.submit(lambda: 42).result(timeout=2) == 42
    assert time.monotonic() - started < 0.5
    assert len(pool.running()) == 20 and all(t.daemon for t in pool.running()), "nothing joins them at exit"
    release.set()
    assert all(f.result(timeout=2) for f in stuck)
    # Idle threads are reused, then end when nothing comes.
    assert {pool.submit(threading.current_thread).result(timeout=2) for _ in range(5)} <= set(threading.enumerate())
    deadline = time.monotonic() + 3
    while any(t.name.startswith("test-open") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name.startswith("test-open") for t in threading.enumerate())
    assert pool.submit(lambda: 7).result(timeout=2) == 7, "a new thread when none is left"
    pool.shutdown(wait=False)
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)
    assert not pool.running()


def test_the_live_host_connects_as_if_alone_beside_eight_blackholed_hosts(run, services, open_limit):
    inventory = services.inventory
    with ExitStack() as stack:
        dead = [inventory.add_host(stack.enter_context(dead_tcp_host())) for _ in range(8)]
        live = inventory.add_host(LAB_URI)
        attempts = [spawn(inventory.connect_host(host)) for host in dead]
        started = time.monotonic()
        assert run(inventory.connect_host(live))
        alone = time.monotonic() - started
        print(f"\nlive host connected in {alone * 1000:.0f} ms with 8 blackholed hosts connecting")
        assert alone < 0.5, "the live host waited for the dead ones"
        run(asyncio.gather(*attempts), timeout=open_limit + 3)
        for host in dead:
            assert host.state is HostState.DISCONNECTED
            assert f"no answer within {open_limit:g} s" in host.reason
            assert host.next_attempt_at is not None
        # The reachability check failed first, so no open was left hanging inside libvirt.
        assert not services.executors.stuck_in_libvirt()


def test_a_hung_daemon_leaves_a_bounded_number_of_opens_behind(run, services, monkeypatch):
    monkeypatch.setenv("ECP_DESKTOP_OPEN_TIMEOUT", "0.5")
    with dead_tcp_host(hung_daemon=True) as uri:
        host = services.inventory.add_host(uri)
        for _attempt in range(OPENS_LEFT_RUNNING_PER_HOST + 1):
            started = time.monotonic()
            assert not run(host.connect())
            assert time.monotonic() - started < 1.5, "the open is bounded by the app's limit"
        assert "earlier connects are still waiting" in host.reason
        opens = [t for t in services.executors.stuck_in_libvirt() if t.name.startswith("libvirt-open")]
        assert len(opens) == OPENS_LEFT_RUNNING_PER_HOST, "a new thread per try would pile up"
        host.close_now()
    deadline = time.monotonic() + 5
    while services.executors.stuck_in_libvirt() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not services.executors.stuck_in_libvirt(), "they end once the host resets them"


def test_a_local_daemon_that_comes_back_is_tried_at_once(run, tmp_path):
    path = tmp_path / "libvirt-sock"
    address = daemon_address(f"qemu+unix:///system?socket={path}")
    assert address is not None and address.sockets == (str(path),) and not socket_listening(address)
    tried: list[tuple[bool, float]] = []

    async def watch() -> None:
        schedule = RetrySchedule(address, lambda back: tried.append((back, time.monotonic())))
        schedule.start(asyncio.get_running_loop(), failures=10)
        assert schedule.watching_daemon and schedule.next_attempt_at - time.monotonic() > 7
        await asyncio.sleep(0.6)
        assert not tried, "nothing listens yet: no try"
        with socket.socket(socket.AF_UNIX) as daemon:
            daemon.bind(str(path))
            daemon.listen(1)
            back = time.monotonic()
            while not tried and time.monotonic() - back < 2:
                await asyncio.sleep(0.05)
        assert tried and tried[0][0], "tried because the daemon is back"
        print(f"\nlocal daemon back -> try started after {(tried[0][1] - back) * 1000:.0f} ms")
        assert tried[0][1] - back < 0.6
        assert schedule.next_attempt_at is None and not schedule.watching_daemon
    run(watch())


def test_a_socket_that_already_accepts_does_not_start_tries_early(run, tmp_path):
    """A hung local daemon's socket accepts: its tries keep the backoff, no tight loop."""
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as daemon:
        daemon.bind(str(path))
        daemon.listen(1)
        address = daemon_address(f"test+unix:///default?socket={path}")
        tried = []

        async def watch() -> None:
            schedule = RetrySchedule(address, tried.append)
            schedule.start(asyncio.get_running_loop(), failures=10)
            await asyncio.sleep(0.8)
            schedule.cancel()
        run(watch())
    assert tried == []


def test_retries_double_up_to_a_ten_second_cap_and_are_spread():
    assert [retry_delay(n, rand=lambda: 1.0) for n in range(1, 8)] == [1, 2, 4, 8, 10, 10, 10]
    assert [retry_delay(n, rand=lambda: 0.0) for n in (1, 5)] == [0.8, 8.0]


@pytest.mark.parametrize(("uri", "expected"), [
    ("qemu+tcp://10.0.0.5/system", ((), "10.0.0.5", 16509)),
    ("qemu+tls://h.example:1234/system", ((), "h.example", 1234)),
    ("qemu:///system", (("/run/libvirt/virtqemud-sock", "/run/libvirt/libvirt-sock"), "", 0)),
    ("test+unix:///default?socket=/tmp/x/sock", (("/tmp/x/sock",), "", 0)),
])
def test_where_a_daemon_listens_is_read_from_the_uri(uri, expected):
    address = daemon_address(uri)
    assert (address.sockets, address.host, address.port) == expected


@pytest.mark.parametrize("uri", ["test:///default", "qemu+ssh://alias/system", "qemu+ext:///system"])
def test_nothing_is_checked_first_where_the_address_is_not_certain(uri):
    assert daemon_address(uri) is None


def test_transitions_are_single_escaped_info_lines(run, services, caplog):
    caplog.set_level(logging.INFO, logger="ecp_desktop.services.hosts")
    inventory = services.inventory
    host = inventory.add_host(LAB_URI, label="lab\nhost\x1b[31m")
    assert run(inventory.connect_host(host))
    host.lost("the daemon closed the connection\nforged line")
    assert run(host.connect())
    dead = inventory.add_host("qemu+tcp://127.0.0.1:1/system")
    run(inventory.connect_host(dead))
    lines = [r.getMessage() for r in caplog.records if r.name == "ecp_desktop.services.hosts"]
    assert all("\n" not in line and "\x1b" not in line for line in lines)
    text = "\n".join(lines)
    assert "lab\\nhost\\x1b[31m" in text
    for expected in ("connecting", "connected in", "lost: the daemon closed the connection\\nforged line",
                     "back after", "unreachable: ", "Connection refused", "next try in"):
        assert expected in text, expected


def test_quit_returns_within_two_seconds_whatever_hosts_hang(tmp_path, db_url):
    """The real app: hosts that never answer (opens stuck in libvirt, which cannot cancel
    them) beside a live one; SIGTERM, as the desktop sends it, ends it within 2 s."""
    env = {**private_env(tmp_path), "ECP_DESKTOP_OPEN_TIMEOUT": "1"}
    setup_headless(env, "--database", db_url, "--connect", LAB_URI)
    with ExitStack() as stack:
        hung = [stack.enter_context(dead_tcp_host(hung_daemon=i % 2 == 0)) for i in range(4)]
        proc = start_app(env, "--database", db_url, *[arg for uri in hung for arg in ("--connect", uri)])
        try:
            wait_for_rows("select uri from host where last_connected_at is not null", db_url, [(LAB_URI,)])
            deadline = time.monotonic() + 15
            while log_text(tmp_path).count("unreachable: ") < len(hung) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert log_text(tmp_path).count("unreachable: ") >= len(hung), log_text(tmp_path)
            started = time.monotonic()
            proc.terminate()
            _out, err = proc.communicate(timeout=30)
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        print(f"\nquit took {took:.2f} s with {len(hung)} hung hosts")
        assert proc.returncode == 0 and "Traceback" not in err, err
        assert took <= 2.0


def test_the_host_row_says_a_local_host_is_tried_when_its_daemon_is_back(run, services, tmp_path):
    from ecp_desktop.views.hosts.host_model import host_state_text
    host = services.inventory.add_host(f"test+unix:///default?socket={tmp_path / 'libvirt-sock'}")
    assert not run(services.inventory.connect_host(host))
    assert host.watching_daemon and host.next_attempt_at is not None
    assert host_state_text(host).startswith("unreachable, retrying when the daemon is back (at the latest in ")
    host.close_now()
    assert not host.watching_daemon and host.next_attempt_at is None
