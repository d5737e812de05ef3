"""A libvirtd restarted in the middle of a bulk start and of a restore (real daemon, real QEMU
TCG guests): every machine's outcome is what really happened, the exit code is the
documented one, no task is left running, and the command never dies by a signal."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import libvirt
import pytest

from ..helpers import TINY_XML, query

pytestmark = pytest.mark.lab


def tiny(index: int) -> str:
    return (TINY_XML.replace("<name>tiny1</name>", f"<name>m{index}</name>")
            .replace("c0ffee00-0000-4000-8000-000000000001", f"c0ffee00-0000-4000-8000-{index:012d}"))


def names(count: int) -> list[str]:
    return [f"m{i}" for i in range(1, count + 1)]


def define(uri: str, count: int, *, start: bool = False) -> None:
    admin = libvirt.open(uri)
    try:
        for index in range(1, count + 1):
            dom = admin.defineXML(tiny(index))
            if start:
                dom.create()
    finally:
        admin.close()


def active(uri: str) -> set[str]:
    """The running guests, read on a connection of its own (the daemon may have restarted)."""
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError:
        return set()
    try:
        return {d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)}
    finally:
        conn.close()


def environment(tmp_path, wait: float) -> dict:
    return {**os.environ, "ECP_DESKTOP_RECONNECT_WAIT": str(wait), "XDG_STATE_HOME": str(tmp_path / "state"),
            "ECP_DESKTOP_CALL_TIMEOUT": "60"}


def app(db_url, env, *args, timeout=120):
    return subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def launch(db_url, env, *args):
    return subprocess.Popen([sys.executable, "-m", "ecp_desktop", "--database", db_url, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def restart_after(lab_daemon, uri: str, running: int, *, back: bool = True, within: float = 60.0) -> set[str]:
    """Stop the daemon once ``running`` guests run (the command is in the middle of its work),
    then start it again (unless ``back`` is False). Returns what ran when it stopped."""
    deadline = time.monotonic() + within
    while len(seen := active(uri)) < running:
        assert time.monotonic() < deadline, f"only {len(seen)} guests started"
        time.sleep(0.05)
    lab_daemon.stop()  # SIGTERM: the connection breaks under the calls in flight; QEMU guests survive
    if back:
        lab_daemon.start()
    return seen


def finish(process, timeout=240) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode >= 0, f"killed by signal {-process.returncode}: {err}"
    assert "Traceback" not in err, err
    return process.returncode, out, err


def leaves(tree: list[dict]) -> list[dict]:
    out = []
    for node in tree:
        out += leaves(node["children"]) if node.get("children") else [node]
    return out


def nothing_left_running(db_url) -> None:
    assert query(db_url, "SELECT title FROM task WHERE status = 'running'") == []


def logged_outcomes(tmp_path) -> list[str]:
    log = tmp_path / "state" / "ecp-desktop" / "log" / "ecp-desktop.log"
    return [line for line in log.read_text().splitlines()
            if " INFO ecp_desktop.services.actions.lifecycle: " in line]


def set_up(db_url, env, uri) -> None:
    done = app(db_url, env, "--connect", uri, "setup", "--local", uri)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_bulk_start_across_a_daemon_restart_reports_every_guest_that_runs_as_started(lab_daemon, db_url, tmp_path):
    uri = lab_daemon.uri("qemu")
    define(uri, 20)
    env = environment(tmp_path, 60)
    set_up(db_url, env, uri)

    process = launch(db_url, env, "--connect", uri, "start", *names(20), "--json")
    restart_after(lab_daemon, uri, 6)
    code, out, err = finish(process)

    steps = leaves(json.loads(out))
    assert len(steps) == 20
    assert code == 0, err
    assert {s["status"] for s in steps} == {"succeeded"}, [s["outcome"] for s in steps]
    assert active(uri) == set(names(20))  # each step reported started runs, and every one of them
    rows = query(db_url, "SELECT name, desired_state FROM machine")
    assert sorted(rows) == sorted((name, "running") for name in names(20))
    nothing_left_running(db_url)
    # One INFO line per machine (and one for the bulk) in the log, with the outcome.
    lines = logged_outcomes(tmp_path)
    assert sum(f"Start m{i} on " in line for i in range(1, 21) for line in lines) == 20
    assert any("Start 20 machines: succeeded" in line for line in lines)


def test_a_daemon_that_does_not_come_back_in_time_ends_the_command_with_exit_3(lab_daemon, db_url, tmp_path):
    uri = lab_daemon.uri("qemu")
    define(uri, 20)
    env = environment(tmp_path, 3)
    set_up(db_url, env, uri)

    process = launch(db_url, env, "--connect", uri, "start", *names(20), "--json")
    restart_after(lab_daemon, uri, 6, back=False)
    code, out, err = finish(process)
    lab_daemon.start()

    steps = leaves(json.loads(out))
    running = active(uri)
    assert code == 3, err
    done = {s["target"] for s in steps if s["status"] == "succeeded"}
    away = [s for s in steps if s["status"] == "failed"]
    assert done and away and len(done) + len(away) == 20
    assert done <= running  # a start reported done did start
    for step in away:  # not a refusal: the host went away and did not come back within 3 s
        code_name = step["error"]["Error code"].split("(")[1].rstrip(")")
        assert code_name in ("SYSTEM_ERROR", "INTERNAL_ERROR", "RPC", "INVALID_CONN"), step
        assert "did not come back within 3 s" in step["error"]["Message"]
        assert f"Start {step['target']} failed" in err
    nothing_left_running(db_url)
    # The intent was recorded before each call: every machine should run, whatever became of its start.
    assert {state for _name, state in query(db_url, "SELECT name, desired_state FROM machine")} == {"running"}

    # The next run finishes the job: those that run are left alone, the others start.
    again = app(db_url, env, "--connect", uri, "start", *sorted(set(names(20)) - running), "--json")
    assert again.returncode == 0, again.stderr
    assert active(uri) == set(names(20))


def test_a_restore_across_a_daemon_restart_starts_every_machine_once_and_exits_0(lab_daemon, db_url, tmp_path):
    uri = lab_daemon.uri("qemu")
    define(uri, 16, start=True)
    env = environment(tmp_path, 60)
    set_up(db_url, env, uri)  # first sight: the 16 running ones should run
    lab_daemon.crash_host()   # a power cut: the daemon and every guest gone
    lab_daemon.start()
    assert active(uri) == set()

    process = launch(db_url, env, "restore", "--json")
    restart_after(lab_daemon, uri, 5)
    code, out, err = finish(process)

    summary = json.loads(out)
    outcomes = {m["name"]: m["outcome"] for m in summary["machines"]}
    assert code == 0 and summary["exit"] == 0, err
    assert outcomes == {name: "started" for name in names(16)}, summary
    assert summary["unreachable"] == {}
    assert active(uri) == set(names(16))
    nothing_left_running(db_url)


def test_a_restore_whose_daemon_does_not_come_back_exits_3_with_what_started(lab_daemon, db_url, tmp_path):
    uri = lab_daemon.uri("qemu")
    define(uri, 16, start=True)
    env = environment(tmp_path, 3)
    set_up(db_url, env, uri)
    lab_daemon.crash_host()
    lab_daemon.start()

    process = launch(db_url, env, "restore", "--json")
    restart_after(lab_daemon, uri, 5, back=False)
    code, out, err = finish(process)
    lab_daemon.start()

    summary = json.loads(out)
    outcomes = {m["name"]: m["outcome"] for m in summary["machines"]}
    assert code == 3 and summary["exit"] == 3, err
    assert set(outcomes) == set(names(16))
    assert set(outcomes.values()) == {"started", "host unreachable"}, outcomes  # never "failed"
    assert {n for n, o in outcomes.items() if o == "started"} <= active(uri)
    assert "did not come back within 3 s" in summary["unreachable"][uri] and f"cannot connect to {uri}" in err
    nothing_left_running(db_url)
