"""The trust boundary: rows of a shared inventory are data, never commands. Each test here
plays an operator (or anyone who can write one row) trying to make this app run a program,
destroy a machine or hide what it does."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import libvirt
import pytest

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.services.core.errors import Refusal
from ecp_desktop.services.inventory import store


def evil_script(tmp_path):
    marker = tmp_path / "it-ran"
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, marker


@pytest.mark.parametrize("template", [
    "qemu+ext:///system?command={script}",
    "qemu+ssh://host.invalid/system?netcat={script}",
    "qemu+ssh://-oProxyCommand={script}/system",
    "qemu+ssh://host.invalid/system?command={script}",
])
@pytest.mark.parametrize("approved", [False, True])
def test_a_host_row_that_would_run_a_program_is_never_opened(db, db_url, tmp_path, template, approved):
    """Not approved: a row alone is never connected to. Approved (as if this user had once
    accepted it): the URI allowlist still refuses it before libvirt sees it."""
    from ecp_desktop.services.config import approved_hosts
    script, marker = evil_script(tmp_path)
    uri = template.format(script=script)
    # This user approved hosts before (the file exists), so the rows of an SQLite inventory are
    # not approved wholesale as a first run's would be: the row below came from elsewhere.
    approved_hosts.approve(["test:///default"])
    with database.connection_context():
        store.ensure_host(uri, "prod", False)
    if approved:
        approved_hosts.approve([uri])
    for command in (["machines"], ["hosts"], ["restore"]):
        done = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, *command],
                              capture_output=True, text=True, timeout=60)
        assert not marker.exists(), f"{command} ran the row's program"
        assert "Traceback" not in done.stderr
        if command != ["restore"]:  # restore does nothing before setup: it says so and exits 0
            words = "not opened" if approved else "not approved on this workstation"
            assert done.returncode == 3 and words in done.stderr, done.stderr


def test_a_forged_migration_destination_in_a_task_row_is_never_opened(db, db_url, tmp_path):
    """recover undoes a crashed migration by opening its destination: that URI comes from a row."""
    script, marker = evil_script(tmp_path)
    with database.connection_context():
        root = schema.Task.create(kind="migrate", title="Migrate web01", status="running", owner="gone:1:1",
                                  host_uri="test:///default")
        schema.Task.create(kind="migrate_domain", title="Migrate web01 (p2p)", status="running", owner="gone:1:1",
                           parent_id=root.id, op="migrate_domain", host_uri="test:///default",
                           params=('{"uuid": "6695eb01-f6a4-8304-79aa-97f2502e193f", "name": "test", '
                                   f'"source_uri": "test:///default", "dest_uri": "qemu+ext:///system?command={script}"'
                                   ', "method": "p2p"}'))
    done = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", "test:///default",
                           "finish-interrupted"], capture_output=True, text=True, timeout=60)
    assert not marker.exists()
    assert "Traceback" not in done.stderr
    assert os.path.exists(str(tmp_path))


def test_poison_rows_stop_neither_the_history_nor_recovery(db, db_url):
    """An unknown operation, an error record missing its keys, unreadable parameters: each is
    shown or reported, and the other rows still work."""
    with database.connection_context():
        schema.Task.create(kind="start", title="Start a", status="failed", error_json='{"message": "boom"}')
        schema.Task.create(kind="start", title="Start b", status="failed", error_json="not json at all")
        root = schema.Task.create(kind="flow", title="Flow from the future", status="running", owner="gone:1:1",
                                  host_uri="test:///default")
        schema.Task.create(kind="format_disk", title="Format everything", status="succeeded", owner="gone:1:1",
                           parent_id=root.id, op="format_disk", params="{broken", host_uri="test:///default")
    listed = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "tasks", "--json"],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    assert "boom" in listed.stdout and "Format everything" in listed.stdout
    recovered = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect",
                                "test:///default", "finish-interrupted"], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in recovered.stderr, recovered.stderr
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    again = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "tasks"],
                           capture_output=True, text=True, timeout=60)
    assert "cannot undo: unknown operation 'format_disk'" in again.stdout


def test_a_forged_flow_cannot_make_recovery_undefine_or_stop_a_machine(services, run, db):
    """A root task 'running' under a dead owner, with a define and a start 'succeeded' on an
    existing machine: recovery refuses both undos (the machine lacks the flow's mark) and says so."""
    from ecp_desktop.services.tasks.interrupted import finish_interrupted

    from ...helpers import LAB_URI
    host = services.inventory.add_host(LAB_URI)
    assert run(services.inventory.connect_host(host))
    web = run(host.call(lambda conn: conn.lookupByName("web01").UUIDString()))
    params = f'{{"uuid": "{web}", "name": "web01", "existed_before": false, "was_active": false, "mark": "guessed"}}'
    with database.connection_context():
        root = schema.Task.create(kind="clone_template", title="Create 1 machine", status="running",
                                  owner="gone:1:1", host_uri=LAB_URI)
        for op in ("define_domain", "start_domain"):
            schema.Task.create(kind=op, title=f"{op} web01", status="succeeded", owner="gone:1:1",
                               parent_id=root.id, op=op, params=params, host_uri=LAB_URI, target_uuid=web,
                               target_name="web01")
    report = run(finish_interrupted(services.engine), timeout=30)
    (recovered,) = report.finished
    assert recovered.status == "rollback failed"
    assert "machine web01" in recovered.outcome and "web01 still running" in recovered.outcome
    flow = next(t for t in services.tasks.tasks if t.title == "Create 1 machine")
    refusals = [t.error_message for t in flow.children if t.role == "rollback"]
    # The start's undo is refused; the define's waits behind it (undos run strictly in reverse).
    assert len(refusals) == 1 and "does not carry this step's seal" in refusals[0]
    alive = run(host.call(lambda conn: conn.lookupByUUIDString(web).isActive()))
    assert alive == 1  # still defined and still running


def test_machines_of_a_finished_flow_carry_no_mark_to_point_an_undo_at(services, run):
    from ecp_desktop.services.libvirt_xml.marks import flow_mark

    from ...helpers import TEMPLATE_URI, TPL_UUID
    host = services.inventory.add_host(TEMPLATE_URI)
    assert run(services.inventory.connect_host(host))
    run(services.inventory.load_host(host))
    flow = run(services.templates.plan(TEMPLATE_URI, TPL_UUID, 2, "marked-{n}", start=True))
    marks = [step.params["mark"] for machine in flow.children for step in machine.children
             if step.op == "define_domain"]
    assert len(set(marks)) == 2 and all(len(m) == 32 for m in marks)  # one secret per machine
    root = run(services.templates.run(flow), timeout=30)
    assert root.status == "succeeded"
    left = run(host.call(lambda conn: [flow_mark(conn.lookupByName(f"marked-{n}")) for n in (1, 2)]))
    assert left == ["", ""]


def test_a_forged_clone_step_cannot_delete_a_disk_a_machine_uses(services, run, db):
    from ecp_desktop.services.tasks.engine import Group, Step

    from ...helpers import TEMPLATE_URI
    host = services.inventory.add_host(TEMPLATE_URI)
    assert run(services.inventory.connect_host(host))
    forged = {"pool": "pool-a", "source": "x", "name": "tpl-root.qcow2", "capacity": 1, "allocation": 1,
              "format": "", "existed_before": False}
    flow = Group("forged", "Forged", children=[Step("clone_volume", "Clone", forged, TEMPLATE_URI)])
    root = run(services.engine.run(flow))  # its step fails (no such source): nothing to undo yet
    step = root.children[0]
    step.status = "succeeded"  # as a forged row would claim
    step.params["existed_before"] = False
    run(services.engine.rollback(root, "forged"))
    volumes = run(host.call(lambda conn: conn.storagePoolLookupByName("pool-a").listVolumes()))
    assert "tpl-root.qcow2" in volumes  # the template's disk is still there
    assert "left behind: volume pool-a/tpl-root.qcow2" in root.summary
    refusal = next(t for t in root.children if t.role == "rollback")
    assert "the task record names no machine it was made for" in refusal.error_message


def test_a_host_row_another_operator_added_is_listed_but_not_connected(qtbot, qapp, db, db_url, event_loop_qt,
                                                                     tmp_path):
    """Hosts come from this user's own approvals; a row alone is shown, with why, and left alone."""
    import shutil

    from ecp_desktop.app import GuiSession
    from ecp_desktop.services.config import approved_hosts

    from ...helpers import LAB_URI, VIRT_MANAGER_XML
    from ...helpers.inventory import set_up
    copy = tmp_path / "theirs.xml"  # a host no other test approved
    shutil.copy(VIRT_MANAGER_XML, copy)
    VIRT_MANAGER_URI = f"test://{copy}"
    set_up(db)  # this user's setup: the lab host is approved
    with database.connection_context():
        store.ensure_host(VIRT_MANAGER_URI, "added by someone else", False)
    assert approved_hosts.is_approved(LAB_URI) and not approved_hosts.is_approved(VIRT_MANAGER_URI)
    session = GuiSession(qapp, db_url, [], database_locked=True)
    session.open_main_window()
    try:
        inventory = session.services.inventory
        qtbot.waitUntil(lambda: LAB_URI in inventory.hosts and inventory.hosts[LAB_URI].connected, timeout=10000)
        qtbot.waitUntil(lambda: VIRT_MANAGER_URI in inventory.hosts, timeout=10000)
        other = inventory.hosts[VIRT_MANAGER_URI]
        qtbot.wait(300)
        assert not other.connected and "not approved on this workstation" in other.reason
        assert inventory.machines_of(VIRT_MANAGER_URI) == []
    finally:
        session.services.shutdown()
        session.window.close()


def test_a_forged_redefine_row_with_an_empty_mark_puts_back_no_definition(services, run, db):
    """The audit's row: a redefine step 'succeeded' with ``"mark": ""`` (what a machine outside
    any flow carries) and a ``previous`` naming the host's /dev/sda. The undo refuses: an
    empty mark is no flow's, and the machine keeps its definition."""
    from ecp_desktop.services.tasks.operations import OPERATIONS

    from ...helpers import LAB_URI
    host = services.inventory.add_host(LAB_URI)
    assert run(services.inventory.connect_host(host))
    before = run(host.call(lambda conn: conn.lookupByName("stopped01").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)))
    uuid = run(host.call(lambda conn: conn.lookupByName("stopped01").UUIDString()))
    hostile = before.replace("<devices>", "<devices><disk type='block' device='disk'><source dev='/dev/sda'/>"
                                          "<target dev='vdz' bus='virtio'/></disk>", 1)
    forged = {"uuid": uuid, "name": "stopped01", "mark": "", "xml": before, "previous": hostile}
    with pytest.raises(Refusal, match="does not carry this step's seal"):
        run(host.call(lambda conn: OPERATIONS["redefine_domain"].compensate(conn, forged)))
    after = run(host.call(lambda conn: conn.lookupByName("stopped01").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)))
    assert "/dev/sda" not in after and after == before
