"""Actions whose host goes away under them (issue 24), on libvirt's test driver: the intent
is recorded before the call, a lost reply is checked against libvirt and reported as what
happened, the steps still to go wait (bounded) for the reconnect, and a command whose
output pipe is closed early (``| head -1``) still ends with its real exit code.

tests/lab/test_daemon_restart.py does the same with a real libvirtd restarted mid-run."""
from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
import time

import libvirt
import pytest

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.services.actions.lifecycle import ACTIONS
from ecp_desktop.services.actions.restore import Candidate
from ecp_desktop.services.core.errors import HypervisorError
from ecp_desktop.services.inventory.machines import MachineInfo
from ecp_desktop.services.tasks.records import FAILED, SUCCEEDED
from ecp_desktop.services.tasks.tree import host_was_away
from ecp_desktop.testing.hostgen import write_host

from ...helpers import LAB_URI, query
from ...helpers.inventory import set_up

DEAD = "qemu+tcp://127.0.0.1:1/system"  # nothing listens on port 1: refused at once


def reply_lost(monkeypatch, action: str, *, after_acting: bool, times: int = 1, closed: bool = False):
    """A fake, and the only kind here: a connection that breaks under a call cannot be
    provoked on the in-process test driver (it has no wire). The real call runs (or not),
    then the error libvirt's RPC layer gives: EOF (the reply was lost; the connection stays
    up here) or "client socket is closed" (the connection is dropped, as a daemon restart
    does: the host reconnects, and a test:///FILE host starts afresh from its file).
    The first ``times`` calls fail so; the calls made (after the fault or not) are counted."""
    real = ACTIONS[action]
    calls = []

    def call(dom):
        calls.append(dom.name())
        if len(calls) > times:
            return real.call(dom)
        if after_acting:
            real.call(dom)
        if closed:
            raise HypervisorError("internal error: client socket is closed", code=libvirt.VIR_ERR_INTERNAL_ERROR,
                                  domain=libvirt.VIR_FROM_RPC, operation=action)
        raise HypervisorError("End of file while reading data: Input/output error", code=libvirt.VIR_ERR_SYSTEM_ERROR,
                              domain=libvirt.VIR_FROM_RPC, operation=action)
    monkeypatch.setitem(ACTIONS, action, dataclasses.replace(real, call=call))
    return calls


def connected(services, run, uri=LAB_URI):
    host = services.inventory.add_host(uri)
    assert run(services.inventory.connect_host(host)), host.reason
    run(services.inventory.load_host(host))
    return host, {m.name: m for m in services.inventory.machines_of(uri)}


def state(run, host, name):
    return run(host.call(lambda conn: conn.lookupByName(name).state()[0]))


def desired(services, name):
    services.executors.database.submit(lambda: None).result()  # the queued writes are done
    with database.connection_context():
        return schema.Machine.get(schema.Machine.name == name).desired_state


@pytest.mark.parametrize("action, name, checked", [
    ("start", "stopped01", "running"),
    ("force_off", "web01", "shutoff"),
    ("shutdown", "web01", "shutoff"),
    ("pause", "web01", "paused"),
    ("resume", "paused01", "running"),
])
def test_a_lost_reply_of_a_request_that_took_effect_is_reported_as_done(db, services, run, monkeypatch, caplog,
                                                                         action, name, checked):
    set_up(db)
    host, machines = connected(services, run)
    calls = reply_lost(monkeypatch, action, after_acting=True)
    with caplog.at_level(logging.INFO, logger="ecp_desktop.services.actions.lifecycle"):
        record = run(services.lifecycle.apply(action, machines[name]))
    assert record.status == SUCCEEDED, record.error_message
    assert record.outcome == f"{ACTIONS[action].past} (its reply was lost; checked: {checked})"
    assert calls == [name]  # checked, not sent again
    # The outcome, one line at the default level.
    [line] = [r.getMessage() for r in caplog.records
              if r.levelno == logging.INFO and r.name == "ecp_desktop.services.actions.lifecycle"]
    assert line == f"{record.title} on {LAB_URI}: succeeded: {record.outcome}"


def test_a_request_that_did_not_take_effect_is_sent_again_and_the_intent_was_recorded_first(db, services, run,
                                                                                             monkeypatch):
    set_up(db)
    host, machines = connected(services, run)
    assert desired(services, "stopped01") == "shutoff"
    calls = reply_lost(monkeypatch, "start", after_acting=False)
    record = run(services.lifecycle.apply("start", machines["stopped01"]))
    assert record.status == SUCCEEDED, record.error_message
    assert record.outcome == "started (the connection broke under it; checked: shutoff; sent again)"
    assert calls == ["stopped01", "stopped01"] and state(run, host, "stopped01") == libvirt.VIR_DOMAIN_RUNNING
    assert desired(services, "stopped01") == "running"


def test_a_lost_reboot_cannot_be_told_from_the_state_and_is_sent_again(db, services, run, monkeypatch):
    set_up(db)
    host, machines = connected(services, run)
    calls = reply_lost(monkeypatch, "reboot", after_acting=True)
    record = run(services.lifecycle.apply("reboot", machines["web01"]))
    assert record.outcome == "rebooted (the connection broke under it; checked: running; sent again)"
    assert calls == ["web01", "web01"]


def test_a_host_that_does_not_come_back_in_time_fails_the_step_as_host_away_with_the_intent_kept(
        db, db_url, services, run, monkeypatch, tmp_path):
    set_up(db)
    uri = write_host(tmp_path / "gone.xml", 6, seed=2)
    host, machines = connected(services, run, uri)
    stopped = sorted(name for name, m in machines.items() if m.state == "shutoff")
    services.lifecycle.reconnect_wait = 0.5
    (tmp_path / "gone.xml").unlink()  # every reconnect fails from now on: the host stays away
    reply_lost(monkeypatch, "start", after_acting=True, closed=True, times=len(stopped))  # (calls in flight too)
    started = time.monotonic()
    steps = run(services.lifecycle.apply_many("start", [machines[n] for n in stopped]), timeout=20)
    took = time.monotonic() - started
    assert [s.status for s in steps] == [FAILED] * len(stopped) and not host.connected
    assert all(host_was_away(s.error) and "did not come back within 0.5 s" in s.error_message for s in steps)
    assert "whether it took effect is unknown" in steps[0].error_message
    assert took < 5  # one shared deadline for the action, not one window per step
    services.executors.database.submit(lambda: None).result()  # the queued writes are done
    rows = query(db_url, "SELECT uuid, desired_state FROM machine")
    assert {d for u, d in rows if u in {machines[n].uuid for n in stopped}} == {"running"}


def test_the_steps_after_a_connection_loss_wait_for_the_reconnect_and_go_on(db, services, run, monkeypatch,
                                                                           tmp_path):
    uri = write_host(tmp_path / "fleet.xml", 150, seed=4)
    host, machines = connected(services, run, uri)
    stopped = sorted(name for name, m in machines.items() if m.state == "shutoff")[:30]
    assert len(stopped) == 30
    reply_lost(monkeypatch, "start", after_acting=False, closed=True)
    steps = run(services.lifecycle.apply_many("start", [machines[n] for n in stopped]), timeout=30)
    assert [s.status for s in steps] == [SUCCEEDED] * 30, [s.error_message for s in steps if s.error_message]
    assert host.connected
    assert sum("sent again" in s.outcome for s in steps) == 1  # the one whose connection broke
    assert steps[0].parent.outcome == "all 30 done"


def test_a_host_away_at_the_start_is_not_waited_for(services, run):
    services.lifecycle.reconnect_wait = 30
    host = services.inventory.add_host(DEAD)
    assert not run(services.inventory.connect_host(host))
    started = time.monotonic()
    record = run(services.lifecycle.apply("start", MachineInfo(DEAD, "77777777-7777-7777-7777-777777777777",
                                                                "far", "shutoff")))
    assert record.status == FAILED and "not connected" in record.error_message and host_was_away(record.error)
    assert time.monotonic() - started < 3


def test_restore_reports_a_host_that_went_away_and_did_not_come_back_as_unreachable(db, services, run,
                                                                                   monkeypatch, tmp_path):
    from ecp_desktop.services.config import approved_hosts
    set_up(db)
    uri = write_host(tmp_path / "gone.xml", 6, seed=2)
    approved_hosts.approve([uri])
    host, machines = connected(services, run, uri)
    stopped = sorted(name for name, m in machines.items() if m.state == "shutoff")
    services.lifecycle.reconnect_wait = 0.5
    (tmp_path / "gone.xml").unlink()
    reply_lost(monkeypatch, "start", after_acting=True, closed=True, times=len(stopped))
    report = run(services.restore.run({uri: [Candidate(uri, machines[n].uuid, n) for n in stopped]}), timeout=20)
    assert {r.outcome for r in report.results} == {"host unreachable"}
    assert report.with_outcome("failed") == [] and "did not come back within 0.5 s" in report.unreachable[uri]


def test_a_command_piped_into_head_ends_with_its_real_exit_code(db_url, tmp_path):
    """A real pipe closed early: ``start ... --json | head -1``, with more output than a pipe
    holds. The command is neither killed by SIGPIPE nor silent: exit 1 (one machine runs
    already), its failure named on stderr, and no task left running."""
    uri = write_host(tmp_path / "fleet.xml", 600, seed=6)
    conn = libvirt.open(uri)
    try:
        domains = {d.name(): d.isActive() for d in conn.listAllDomains()}
    finally:
        conn.close()
    stopped = sorted(name for name, running in domains.items() if not running)[:150]
    assert len(stopped) == 150  # with --json, about 130 KB: more than a pipe holds (64 KiB)
    setup = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", uri, "setup",
                            "--local", uri], capture_output=True, text=True, timeout=120)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    running = sorted(name for name, running in domains.items() if running)[0]
    script = (f"{sys.executable} -m ecp_desktop --database {db_url} --connect {uri} start "
              f"{' '.join(stopped)} {running} --json | head -1; echo \"exit=${{PIPESTATUS[0]}}\" >&2")
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout == "[\n"
    assert done.stderr.splitlines()[-1] == "exit=1", done.stderr
    assert f"Start {running} failed: " in done.stderr and "already running" in done.stderr
    assert "Traceback" not in done.stderr
    assert query(db_url, "SELECT title FROM task WHERE status = 'running'") == []
    assert query(db_url, "SELECT title, status FROM task WHERE parent_id IS NULL") == [
        (f"Start {len(stopped) + 1} machines", "failed")]


@pytest.mark.parametrize("action, name, stays", [
    ("reboot", "stopped01", "shutoff"),  # not running: libvirt refuses, the user's earlier intent stands
    ("resume", "stopped01", "shutoff"),
    ("start", "web01", "running"),       # running already: refused, still "should run"
])
def test_a_refused_action_leaves_what_should_run_as_it_was(db, services, run, action, name, stays):
    """The intent is written before the call only when the action applies to the machine as
    last seen, and put back when the daemon refuses it: a refused reboot of a shut-off
    machine must not make the next restore start it."""
    set_up(db)
    host, machines = connected(services, run)
    record = run(services.lifecycle.apply(action, machines[name]))
    assert record.status == FAILED
    assert desired(services, name) == stays
