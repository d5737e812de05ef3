"""Nothing waits for ever on a host that stops answering: a peer that accepts the connection
and then says nothing (a real socket of this test's own, no fake) is given up on in bounded
time, in words, and the other hosts go on."""
from __future__ import annotations

import socket
import threading
import time

import pytest

from ecp_desktop.services.composition import build_services
from ecp_desktop.services.core.executors import Executors


@pytest.fixture
def silent_daemon(tmp_path):
    """A Unix socket that accepts connections and never answers, like a stopped libvirtd."""
    path = str(tmp_path / "silent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"qemu+unix:///system?socket={path}"
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    server.close()


def test_a_silent_host_is_given_up_on_in_bounded_time(db, run, silent_daemon):
    services = build_services(Executors(), keepalive=True, events=False, reconnect=False, auto_load=False,
                              open_timeout=1.5, call_timeout=5)
    try:
        silent = services.inventory.add_host(silent_daemon)
        live = services.inventory.add_host("test:///default")
        started = time.monotonic()
        import asyncio
        results = run(asyncio.gather(services.inventory.connect_host(silent),
                                     services.inventory.connect_host(live)), timeout=20)
        assert results == [False, True]
        assert time.monotonic() - started < 5
        assert "did not answer within 1.5 s" in silent.reason
        assert silent.last_error.code_name == "OPERATION_TIMEOUT"
    finally:
        services.shutdown()
