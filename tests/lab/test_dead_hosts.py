"""Dead hosts delay no live one: real libvirtd daemons beside addresses that drop every packet
(scripts/lab.sh blackhole). The figures are printed (pytest -s): the issue's targets are a
live host's connect as with no dead host, a local daemon back -> connected within 2 s, a
remote one within the 10 s retry cap, and quit within 2 s."""
from __future__ import annotations

import time

import libvirt
import pytest

from ecp_desktop.services.actions.restore import Candidate
from ecp_desktop.services.core.aio import spawn
from ecp_desktop.services.hosts.connection import HostState
from ecp_desktop.services.hosts.reconnect import RETRY_CAP_SECONDS

from ..helpers.launch import log_text, setup_headless, start_app, user_env

pytestmark = pytest.mark.lab
RESTORED_XML = "<domain type='test'><name>restore-me</name><memory>65536</memory><os><type>hvm</type></os></domain>"


def timed_connect(run, inventory, uri: str) -> float:
    host = inventory.add_host(uri)
    started = time.monotonic()
    assert run(inventory.connect_host(host)), host.reason
    return time.monotonic() - started


def restarted(qtbot, daemon, host, timeout_s: float) -> float:
    """Seconds from the daemon's restart command (its own start-up, about 0.2 s, counts) to
    the host connected again."""
    started = time.monotonic()
    daemon.start()
    qtbot.waitUntil(lambda: host.state is HostState.CONNECTED, timeout=int(timeout_s * 1000))
    return time.monotonic() - started


def test_a_live_host_connects_restores_and_reconnects_as_if_alone(qtbot, run, services, lab_daemon,
                                                                   blackholed_addresses):
    from ecp_desktop.services.config import approved_hosts
    inventory = services.inventory
    uri = lab_daemon.uri("test")
    alone = timed_connect(run, inventory, uri)
    run(inventory.remove_host(uri, forget=False))

    dead = [inventory.add_host(f"qemu+tcp://{address}/system") for address in blackholed_addresses]
    attempts = [spawn(inventory.connect_host(host)) for host in dead]
    beside_dead = timed_connect(run, inventory, uri)
    print(f"\nlive host connect: {alone * 1000:.0f} ms alone, {beside_dead * 1000:.0f} ms beside "
          f"{len(dead)} blackholed hosts")
    assert beside_dead < max(0.5, alone * 3), "the live host waited for the dead ones"
    assert all(not h.connected for h in dead)

    # Restore: the live host's machine starts while the dead hosts are still inside their open.
    admin = libvirt.open(uri)
    try:
        domain = admin.defineXML(RESTORED_XML)
        candidate = Candidate(uri, domain.UUIDString(), "restore-me")
    finally:
        admin.close()
    approved_hosts.approve([uri, *(h.uri for h in dead)])
    grouped = {uri: [candidate], **{h.uri: [Candidate(h.uri, candidate.uuid, "elsewhere")] for h in dead}}
    started = time.monotonic()
    restoring = spawn(services.restore.run(grouped))
    # Each host's part runs on its own: the live host's machine starts at once, while the dead
    # hosts' parts wait out their own first attempt (the open limit), and the run ends then.
    watcher = libvirt.open(uri)
    try:
        qtbot.waitUntil(lambda: watcher.lookupByName("restore-me").isActive(), timeout=5000)
    finally:
        watcher.close()
    restore_took = time.monotonic() - started
    print(f"restore on the live host: {restore_took * 1000:.0f} ms with {len(dead)} hosts still connecting")
    qtbot.waitUntil(restoring.done, timeout=30000)
    report = restoring.result()
    outcomes = {r.candidate.host_uri: r.outcome for r in report.results}
    assert outcomes[uri] == "started" and restore_took < 5
    assert set(report.unreachable) == {h.uri for h in dead}

    run(__import__("asyncio").gather(*attempts), timeout=30)
    assert all("no answer within 15 s" in h.reason for h in dead), [h.reason for h in dead]

    # The daemon restarts after an outage long enough for the backoff to grow past 8 s.
    live = inventory.hosts[uri]
    lab_daemon.stop()
    qtbot.waitUntil(lambda: live.state is HostState.DISCONNECTED, timeout=5000)
    qtbot.wait(16000)
    assert live.watching_daemon and live.next_attempt_at is not None
    back = restarted(qtbot, lab_daemon, live, 5)
    print(f"local daemon back -> host connected: {back:.2f} s (after a 16 s outage, {len(dead)} dead hosts beside)")
    assert back <= 2.0


def test_a_remote_host_is_back_within_the_retry_cap(qtbot, run, services, lab_tcp_daemon):
    inventory = services.inventory
    host = inventory.add_host(lab_tcp_daemon.tcp_uri)
    assert run(inventory.connect_host(host)), host.reason
    lab_tcp_daemon.stop()
    qtbot.waitUntil(lambda: host.state is HostState.DISCONNECTED, timeout=5000)
    qtbot.wait(30000)  # long enough for the tries to be RETRY_CAP_SECONDS apart
    # (between two tries: while one is under way there is no next one yet)
    qtbot.waitUntil(lambda: host.next_attempt_at is not None, timeout=12000)
    assert not host.watching_daemon  # a remote host: retried on the capped backoff, not watched
    back = restarted(qtbot, lab_tcp_daemon, host, RETRY_CAP_SECONDS + 5)
    print(f"\nremote daemon back -> host connected: {back:.2f} s (cap {RETRY_CAP_SECONDS:g} s, after a 30 s outage)")
    assert back <= RETRY_CAP_SECONDS + 1


def test_the_app_quits_within_two_seconds_beside_blackholed_and_hung_hosts(tmp_path, db_url, lab_daemon,
                                                                           blackholed_addresses):
    """The real app, with the default time limits: eight hosts that drop packets and one
    whose daemon is stopped (SIGSTOP: its open hangs inside libvirt), beside a live one."""
    env = user_env(tmp_path)
    live = lab_daemon.uri("test")
    setup_headless(env, "--database", db_url, "--connect", live)
    lab_daemon.hang()
    dead = [f"qemu+tcp://{address}/system" for address in blackholed_addresses]
    with_hosts = [arg for uri in dead for arg in ("--connect", uri)]
    try:
        proc = start_app(env, "--database", db_url, *with_hosts)
        try:
            time.sleep(3)  # every open under way: the hung daemon's inside libvirt
            started = time.monotonic()
            proc.terminate()
            _out, err = proc.communicate(timeout=60)
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        lab_daemon.unhang()
    print(f"\nquit: {took:.2f} s with {len(dead)} blackholed hosts and a hung daemon")
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert took <= 2.0
    assert "connecting" in log_text(tmp_path)

