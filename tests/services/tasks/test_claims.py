"""Orphaned tasks on a shared inventory: taken over once, and only from dead instances.

An owner on another machine cannot be checked by its PID: it is alive while its
heartbeat (written every 10 s, on the database server's clock) is fresh. Four OS
processes racing to recover the same 200 orphans each take different ones (issue 7).
"""
from __future__ import annotations

import json
import subprocess
import sys

from ecp_desktop.models import schema
from ecp_desktop.services.sharing import heartbeat
from ecp_desktop.services.tasks.interrupted import finish_interrupted

from ...helpers import query

REMOTE = "build-server-7:4242:123456"  # an instance on another machine


def orphans(count, owner=REMOTE):
    with schema.database.connection_context():
        for n in range(count):
            schema.Task.create(kind="start", title=f"Start web-{n}", status="running", owner=owner,
                               host_uri="test:///default", target_name=f"web-{n}")


def test_a_remote_instance_is_left_alone_while_its_heartbeat_is_fresh_and_taken_over_after(services, run,
                                                                                           db_url):
    orphans(1)
    services.executors.database.submit(heartbeat.beat, REMOTE).result()
    alive = run(finish_interrupted(services.engine))
    assert alive.elsewhere == ["Start web-0"] and not alive.finished
    assert query(db_url, "SELECT status, owner FROM task") == [("running", REMOTE)]

    # It stops beating (its machine lost power): a minute later it counts as dead.
    stale = "LOCALTIMESTAMP - interval '5 minutes'" if "postgres" in db_url else "datetime('now', '-5 minutes')"
    query(db_url, f"UPDATE instance SET beat_at = {stale}")
    dead = run(finish_interrupted(services.engine))
    assert [(r.title, r.status) for r in dead.finished] == [("Start web-0", "failed")]
    assert "interrupted" in dead.finished[0].outcome
    (status, owner), = query(db_url, "SELECT status, owner FROM task")
    assert status == "failed" and owner != REMOTE


def test_four_processes_racing_for_the_same_orphans_take_each_exactly_once(services, db_url):
    orphans(200)  # no heartbeat row at all: an instance that is gone
    racers = [subprocess.Popen([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect",
                                "test:///default", "finish-interrupted", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    reports = []
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err
        reports.append([r["title"] for r in json.loads(out)["finished"]])
    taken = [title for report in reports for title in report]
    assert sorted(taken) == sorted(f"Start web-{n}" for n in range(200))  # all, and none twice
    assert query(db_url, "SELECT COUNT(*) FROM task WHERE status = 'running'") == [(0,)]
    print("claims per process:", [len(r) for r in reports])
