"""Crash recovery across processes on a real libvirtd with QEMU: a dir storage pool with
qcow2 volumes, a shut-off template, and `clone-template` killed (SIGKILL) at each step
in turn. A restart (`recover`) must leave no cloned volume or defined machine behind
and an inventory that lists only what exists.

The crash points are the engine's test-only hook ($ECP_DESKTOP_CRASH_AT): the process
kills itself with SIGKILL at that point, which is what a power cut or `kill -9` does.
"""
import json
import re

import libvirt
import pytest

from ..helpers import query
from .template_lab import TEMPLATE_VOLUME, app, libvirt_now

pytestmark = pytest.mark.lab


def inventory_now(db_url):
    machines = sorted(name for (name,) in query(db_url, "select name from machine where missing = FALSE"))
    unfinished = query(db_url, "select count(*) from task where status in ('pending','running','rolling back')")
    return machines, unfinished[0][0]


def clone(db_url, uri, *extra, crash_at=None):
    return app(db_url, "--connect", uri, "clone-template", "tpl", "--count", "3", "--name-pattern", "web-{n}",
               "--start", *extra, crash_at=crash_at)


CRASH_POINTS = [
    "clone_volume:before:1", "clone_volume:after:2", "define_domain:before:1", "define_domain:after:2",
    "start_domain:before:1", "start_domain:after:3",
]


@pytest.mark.parametrize("crash_at", CRASH_POINTS)
def test_a_crash_at_any_step_leaves_nothing_behind_after_restart(lab_template, crash_at):
    uri, db_url, db_path = lab_template
    crashed = clone(db_url, uri, crash_at=crash_at)
    assert crashed.returncode == -9, crashed.stdout + crashed.stderr  # killed, no cleanup ran
    assert inventory_now(db_path)[1] > 0  # the database knows what was in flight

    recovered = app(db_url, "--connect", uri, "finish-interrupted", "--json")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    report = json.loads(recovered.stdout)
    assert [r["title"] for r in report["finished"]] == ["Create 3 machines from tpl"]
    assert report["finished"][0]["status"] == "failed"
    assert "interrupted" in report["finished"][0]["outcome"]

    assert libvirt_now(uri) == (["tpl"], [TEMPLATE_VOLUME])
    assert inventory_now(db_path) == (["tpl"], 0)
    # The history shows the undo tasks as the rollback flow, each succeeded.
    tree = json.loads(app(db_url, "tasks", "--json").stdout)[0]
    undo = [s for m in tree["children"] for s in m["children"] if s["role"] == "rollback"]
    assert undo and {s["status"] for s in undo} == {"succeeded"}
    again = app(db_url, "--connect", uri, "finish-interrupted")
    assert again.returncode == 0 and again.stdout.strip() == "nothing to finish"


def test_a_crash_while_undoing_clones_is_finished_after_restart(lab_template):
    uri, db_url, db_path = lab_template
    conn = libvirt.open(uri)
    try:  # someone else's volume takes web-3's disk name: web-3's clone fails, the rest is rolled back
        conn.storagePoolLookupByName("lab-pool").createXML(
            "<volume><name>web-3-vda.qcow2</name><capacity unit='MiB'>1</capacity></volume>", 0)
    finally:
        conn.close()
    crashed = app(db_url, "--connect", uri, "clone-template", "tpl", "--count", "3", "--name-pattern", "web-{n}",
                  crash_at="clone_volume:undo:1")
    assert crashed.returncode == -9, crashed.stdout + crashed.stderr

    recovered = app(db_url, "--connect", uri, "finish-interrupted", "--json")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert libvirt_now(uri) == (["tpl"], sorted([TEMPLATE_VOLUME, "web-3-vda.qcow2"]))  # theirs is kept
    assert inventory_now(db_path) == (["tpl"], 0)


def test_a_crash_while_undefining_is_finished_after_restart(lab_template):
    """Machines from a template whose network does not exist: each defines, then fails to
    start (a real QEMU/libvirt refusal); the rollback is killed at its first undefine."""
    uri, db_url, db_path = lab_template
    conn = libvirt.open(uri)
    try:
        xml = conn.lookupByName("tpl").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        xml = (re.sub(r"<uuid>.*?</uuid>", "", xml).replace("<name>tpl</name>", "<name>tpl-nonet</name>")
               .replace("<interface type='user'>", "<interface type='network'><source network='no-such-net'/>"))
        conn.defineXML(xml)
    finally:
        conn.close()
    assert app(db_url, "--connect", uri, "import").returncode == 0
    crashed = app(db_url, "--connect", uri, "clone-template", "tpl-nonet", "--count", "2", "--name-pattern",
                  "web-{n}", "--start", crash_at="define_domain:undo:1")
    assert crashed.returncode == -9, crashed.stdout + crashed.stderr

    recovered = app(db_url, "--connect", uri, "finish-interrupted", "--json")
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    outcome = json.loads(recovered.stdout)["finished"][0]["outcome"]
    assert "undefined web-" in outcome
    assert libvirt_now(uri) == (["tpl", "tpl-nonet"], [TEMPLATE_VOLUME])
    assert inventory_now(db_path) == (["tpl", "tpl-nonet"], 0)


def test_a_clean_run_and_a_real_failure_on_qemu(lab_template):
    uri, db_url, db_path = lab_template
    done = clone(db_url, uri, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    domains, volumes = libvirt_now(uri)
    assert domains == ["tpl", "web-1", "web-2", "web-3"]
    assert volumes == sorted([TEMPLATE_VOLUME] + [f"web-{i}-vda.qcow2" for i in (1, 2, 3)])
    assert inventory_now(db_path) == (["tpl", "web-1", "web-2", "web-3"], 0)
    conn = libvirt.open(uri)
    try:
        assert all(conn.lookupByName(f"web-{i}").isActive() for i in (1, 2, 3))
        for i in (1, 2, 3):
            conn.lookupByName(f"web-{i}").destroy()
    finally:
        conn.close()
    # A second run with the same names is refused before anything is touched.
    again = clone(db_url, uri)
    assert again.returncode == 2 and "already exist" in again.stderr
