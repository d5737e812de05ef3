"""Rollbacks that can be finished, replies lost on the wire and fenced takeovers, on a real
libvirtd with QEMU (issue 18, points 1 and 5).

The moments are set by the engine's test-only checkpoints ($ECP_DESKTOP_HOLD_AT: the
process waits at a point until the test removes a file; $ECP_DESKTOP_CRASH_AT: it kills
itself there). What happens meanwhile is real: the daemon stopped and started, the daemon
hung (SIGSTOP) while a request is on the wire, a pool stopped, the app frozen (SIGSTOP)
until another instance took its flow over.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid as uuidlib

import libvirt
import pytest

from ..helpers import TINY_XML, query
from .template_lab import TEMPLATE_VOLUME, app, libvirt_now

pytestmark = pytest.mark.lab
FLOW = "Create 1 machine from tpl"


def start_clone(db_url, uri, *, hold: str = "", crash: str = "", env: dict | None = None, prefix=(),
                template: str = "tpl"):
    env = {**os.environ, **(env or {})}
    env.pop("ECP_DESKTOP_CRASH_AT", None)
    env.pop("ECP_DESKTOP_HOLD_AT", None)
    if hold:
        env["ECP_DESKTOP_HOLD_AT"] = hold
    if crash:
        env["ECP_DESKTOP_CRASH_AT"] = crash
    return subprocess.Popen([*prefix, sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", uri,
                             "clone-template", template, "--count", "1", "--name-pattern", "web-{n}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for(path, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the app ended before {path.name}: {proc.communicate()}")
        assert time.monotonic() < deadline, f"{path.name} never reached"
        time.sleep(0.05)


def root_row(db_url):
    return query(db_url, "select id, status, summary, owner, generation from task where parent_id is null "
                         "order by id desc")[0]


def set_pool_autostart(uri):
    conn = libvirt.open(uri)
    try:
        conn.storagePoolLookupByName("lab-pool").setAutostart(1)  # active again after a daemon restart
    finally:
        conn.close()


def test_an_undo_while_the_daemon_is_down_is_finished_when_it_is_back(lab_template, lab_daemon, tmp_path):
    """The flow defines web-1, clones its first disk, and the second clone fails for real (the
    pool is stopped meanwhile); the daemon goes away just as the first undo calls it. The
    volume and the machine its undo rests on (its seal is there) are left, and undone by
    themselves once the host is back."""
    uri, db_url, _ = lab_template
    two_disk_template(uri, tmp_path)
    set_pool_autostart(uri)
    cloned, undoing = tmp_path / "cloned", tmp_path / "undoing"
    proc = start_clone(db_url, uri, hold=f"clone_volume:after:1:{cloned},clone_volume:undo:1:{undoing}",
                       template="tpl2")
    wait_for(cloned, proc)
    pool_active(uri, False)  # the second clone fails for real: the pool is not active
    cloned.unlink()
    wait_for(undoing, proc)
    lab_daemon.stop()  # the host goes away just as the undo calls it
    undoing.unlink()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    root_id, status, summary, *_ = root_row(db_url)
    assert status == "rollback failed", summary
    assert "volume lab-pool/web-1-vda.qcow2" in summary and "machine web-1 (" in summary

    away = app(db_url, "--connect", uri, "tasks", "retry", str(root_id))
    assert away.returncode == 3, away.stdout + away.stderr
    assert "is not connected" in away.stderr and "web-1-vda.qcow2" in away.stderr

    lab_daemon.start()
    assert "web-1-vda.qcow2" in libvirt_now(uri)[1]  # still there, as reported
    # The next start (here: `recover`) retries it by itself: the undo failed only for the host.
    recovered = app(db_url, "--connect", uri, "finish-interrupted", "--json")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    [report] = json.loads(recovered.stdout)["finished"]
    assert (report["title"], report["status"], report["retried"]) == (f"{FLOW}2", "failed", True)
    assert "undone: deleted volume lab-pool/web-1-vda.qcow2, undefined web-1" in report["outcome"]
    assert libvirt_now(uri) == (["tpl", "tpl2"], sorted([TEMPLATE_VOLUME, "tpl2-vda.qcow2", "tpl2-vdb.qcow2"]))
    # Root and group agree, in the database too.
    statuses = query(db_url, f"select status from task where id = {root_id} or parent_id = {root_id}")
    assert {s for (s,) in statuses} == {"failed"}
    again = app(db_url, "--connect", uri, "tasks", "retry", str(root_id))
    assert again.returncode == 1 and "only a rollback that failed can be retried" in again.stderr


def two_disk_template(uri, tmp_path):
    """tpl2: a shut-off machine with two qcow2 disks in lab-pool (a clone is two serial steps)."""
    conn = libvirt.open(uri)
    try:
        pool = conn.storagePoolLookupByName("lab-pool")
        disks = ""
        for dev in ("vda", "vdb"):
            volume = pool.createXML(f"<volume><name>tpl2-{dev}.qcow2</name><capacity unit='MiB'>8</capacity>"
                                    "<target><format type='qcow2'/></target></volume>", 0)
            disks += (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='"
                      f"{volume.path()}'/><target dev='{dev}' bus='virtio'/></disk>")
        xml = re.sub(r"<uuid>.*?</uuid>", f"<uuid>{uuidlib.uuid4()}</uuid>", TINY_XML.replace("tiny1", "tpl2"))
        conn.defineXML(xml.replace("<devices>", "<devices>" + disks))
    finally:
        conn.close()


def pool_active(uri, active: bool):
    conn = libvirt.open(uri)
    try:
        pool = conn.storagePoolLookupByName("lab-pool")
        pool.create() if active else pool.destroy()
    finally:
        conn.close()


def test_a_crash_during_a_rollback_after_an_undo_failed_keeps_every_leftover(lab_template, tmp_path):
    """web-1 is defined, its first disk cloned, the second clone fails for real (the pool is
    stopped meanwhile) and the app is killed as its rollback begins. At the restart the undo
    fails for real (the pool is still stopped) and the machine waits with its volume (undos run
    strictly in reverse): the root and its group agree and every leftover is in the root and
    in recovery's report; once the pool runs again, a retry by hand undoes them (exit 0)."""
    uri, db_url, _ = lab_template
    two_disk_template(uri, tmp_path)
    cloned = tmp_path / "cloned"
    proc = start_clone(db_url, uri, hold=f"clone_volume:after:1:{cloned}", crash="clone_volume:undo:1",
                       template="tpl2")
    wait_for(cloned, proc)
    pool_active(uri, False)  # the second clone fails for real, and so will the undo
    cloned.unlink()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == -9, out + err  # killed at the first undo
    root_id = root_row(db_url)[0]
    left = ["volume lab-pool/web-1-vda.qcow2", "machine web-1 ("]

    recovered = app(db_url, "--connect", uri, "finish-interrupted", "--json")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    [report] = json.loads(recovered.stdout)["finished"]
    assert report["status"] == "rollback failed"
    assert all(item in report["outcome"] for item in left), report["outcome"]
    _, status, summary, *_ = root_row(db_url)
    assert status == "rollback failed" and all(item in summary for item in left)
    [(group_status,)] = query(db_url, f"select status from task where parent_id = {root_id}")
    assert group_status == "rollback failed"
    # A refusal (the pool is stopped) is not retried by itself at the next start.
    assert json.loads(app(db_url, "--connect", uri, "finish-interrupted", "--json").stdout)["finished"] == []

    pool_active(uri, True)
    retried = app(db_url, "--connect", uri, "tasks", "retry", str(root_id))
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert sorted(libvirt_now(uri)[1]) == sorted([TEMPLATE_VOLUME, "tpl2-vda.qcow2", "tpl2-vdb.qcow2"])
    statuses = {s for (s,) in query(db_url, f"select status from task where id = {root_id} or parent_id = {root_id}")}
    assert statuses == {"failed"}


def test_a_step_whose_reply_was_lost_is_checked_and_undone(lab_template, lab_daemon, tmp_path):
    """The daemon hangs (SIGSTOP) just before the define is sent: the request waits in its
    socket, the app gives up after its call timeout (the effect is unknown), the rollback
    cannot reach the host. Once the daemon runs again the define may take effect; the retry
    checks and undoes it."""
    uri, db_url, _ = lab_template
    defining = tmp_path / "defining"
    proc = start_clone(db_url, uri, hold=f"define_domain:before:1:{defining}",
                       env={"ECP_DESKTOP_CALL_TIMEOUT": "4"})
    wait_for(defining, proc)
    lab_daemon.hang()
    try:
        defining.unlink()
        out, err = proc.communicate(timeout=120)
    finally:
        lab_daemon.unhang()
    assert proc.returncode == 1, out + err
    assert "did not answer within 4 s" in out + err
    root_id = root_row(db_url)[0]
    assert root_row(db_url)[1] == "rollback failed"
    deadline = time.monotonic() + 5  # the define waiting in the daemon's socket may run now
    while "web-1" not in libvirt_now(uri)[0] and time.monotonic() < deadline:
        time.sleep(0.2)

    recovered = app(db_url, "--connect", uri, "finish-interrupted", "--json")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    [report] = json.loads(recovered.stdout)["finished"]
    assert report["retried"] and report["status"] == "failed"
    undo = query(db_url, "select t.title, t.summary from task t join task s on t.compensates_id = s.id "
                         "where s.op = 'define_domain' and t.status = 'succeeded'")
    assert undo and undo[0][0].startswith("Check and undo: ")
    assert undo[0][1].startswith("its reply was lost; checked: ")
    assert libvirt_now(uri) == (["tpl"], [TEMPLATE_VOLUME])
    assert {s for (s,) in query(db_url, f"select status from task where id = {root_id} or parent_id = {root_id}")
            } == {"failed"}


def test_an_instance_frozen_past_a_takeover_stops_and_the_new_owner_finishes(lab_template, tmp_path):
    """Instance A runs on "another machine" (its own UTS namespace, another hostname), so the
    others judge it by its heartbeat. It is frozen (SIGSTOP) after its first clone until
    instance B takes the flow over and rolls it back; continued, A finds at its next write
    that the flow is not its own and stops: what A defined and cloned is undone once, by B."""
    uri, db_url, _ = lab_template
    if not subprocess.run(["unshare", "--uts", "true"], capture_output=True).returncode == 0:
        pytest.fail("unshare --uts does not work here (the lab runs as root)")
    stale = {"ECP_DESKTOP_STALE_SECONDS": "3"}
    cloned = tmp_path / "cloned"
    a = start_clone(db_url, uri, hold=f"clone_volume:after:1:{cloned}", env=stale,
                    prefix=("unshare", "--uts", "sh", "-c", 'hostname far-box && exec "$@"', "sh"))
    wait_for(cloned, a)
    os.kill(a.pid, signal.SIGSTOP)
    try:
        cloned.unlink()
        time.sleep(5)  # A's heartbeat goes stale (3 s)
        env = {**os.environ, **stale}
        b = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", uri,
                            "finish-interrupted", "--json"], capture_output=True, text=True, timeout=120, env=env)
    finally:
        os.kill(a.pid, signal.SIGCONT)
    assert b.returncode == 0, b.stdout + b.stderr
    [report] = json.loads(b.stdout)["finished"]
    assert report["status"] == "failed" and "deleted volume lab-pool/web-1-vda.qcow2" in report["outcome"]
    out, err = a.communicate(timeout=60)
    assert a.returncode == 1, out + err
    assert "another instance took this task over" in out + err

    assert libvirt_now(uri) == (["tpl"], [TEMPLATE_VOLUME])  # B undefined what A defined
    rows = query(db_url, "select op, reason, status, attempts, owner, generation from task where op != ''")
    clones = [r for r in rows if r[0] == "clone_volume" and r[1] == "regular"]
    undos = [r for r in rows if r[0] == "clone_volume" and r[1] == "rollback"]
    defines = [r for r in rows if r[0] == "define_domain" and r[1] == "regular"]
    assert [(c[2], c[3]) for c in clones] == [("rolled back", 1)]  # cloned once, by A
    assert [(u[2], u[3]) for u in undos] == [("succeeded", 1)]  # undone once, by B
    assert [d[2] for d in defines] == ["rolled back"]  # defined by A (the flow's first step), undone by B
    assert {r[4].split(":")[0] for r in rows} != {"far-box"} and {r[5] for r in rows} == {1}
