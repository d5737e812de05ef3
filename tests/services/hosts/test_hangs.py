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


def test_a_failed_call_keeps_no_libvirt_object_alive(services, run):
    """A libvirt failure becomes our error without libvirt's exception or the worker's frames:
    a domain or connection kept in such a frame lived on in a reference cycle until exit, and
    freeing it there sent a close to a host that was gone (the process hung for minutes)."""
    import libvirt

    from ecp_desktop.services.core.errors import HypervisorError
    host = services.inventory.add_host("test:///default")
    assert run(services.inventory.connect_host(host))

    def fails(conn):
        dom = conn.lookupByName("test")
        dom.migrateSetMaxDowntime(1, 0)  # the test driver refuses it: an error with ``dom`` in frames
    with pytest.raises(HypervisorError) as caught:
        run(host.call(fails))
    error = caught.value
    assert error.__context__ is None and error.__cause__ is None
    frames, tb = [], error.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    held = [value for frame in frames for value in frame.f_locals.values()
            if isinstance(value, (libvirt.virDomain, libvirt.virConnect))]
    assert held == []
