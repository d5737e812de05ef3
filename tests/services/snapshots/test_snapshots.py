"""Snapshots: the tab's tree (current marked), Take/Revert/Delete as tasks through one path,
the question before a revert, libvirt's error on failure, the flow command pair's undo, and
the `snapshot` command (on the test driver, which makes internal snapshots)."""
from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from PySide6.QtWidgets import QMessageBox

from ecp_desktop.services.core.errors import Refusal
from ecp_desktop.services.snapshots.info import in_tree_order, parse_snapshot
from ecp_desktop.services.tasks.operations import snapshot_problem, snapshot_xml
from ecp_desktop.services.tasks.records import FAILED, SUCCEEDED
from ecp_desktop.views.snapshots.snapshot_model import CURRENT, NAME
from ecp_desktop.views.snapshots.snapshots_tab import SnapshotsTab

from ...helpers import LAB_URI

WEB01 = "11111111-1111-1111-1111-000000000001"


@pytest.fixture
def lab(qtbot, run, services):
    host = services.inventory.add_host(LAB_URI)
    assert run(services.inventory.connect_host(host))
    qtbot.waitUntil(lambda: len(services.inventory.machines_of(LAB_URI)) == 4, timeout=5000)
    return services


def machine(services, name):
    return next(m for m in services.inventory.machines_of(LAB_URI) if m.name == name)


@pytest.fixture
def tab(qtbot, lab, model_tester):
    widget = SnapshotsTab(lab.inventory, lab.snapshots)
    qtbot.addWidget(widget)
    model_tester(widget.model)
    return widget


def show(qtbot, tab, m):
    with qtbot.waitSignal(tab.loaded, timeout=5000):
        tab.show_machine(m)


def rows(model, parent=None):
    """(name, current, [children...]) of the tree, as the view sees it."""
    from PySide6.QtCore import QModelIndex
    parent = parent or QModelIndex()
    out = []
    for row in range(model.rowCount(parent)):
        index = model.index(row, NAME, parent)
        out.append((index.data(), model.index(row, CURRENT, parent).data() == "✔ current", rows(model, index)))
    return out


def click(box: QMessageBox, text: str) -> None:
    next(b for b in box.buttons() if b.text() == text).click()


def take(qtbot, tab, name, description=""):
    tab.ask_take()
    tab.dialog.name.setText(name)
    tab.dialog.description.setPlainText(description)
    with qtbot.waitSignal(tab.action_done, timeout=5000) as done, qtbot.waitSignal(tab.loaded, timeout=5000):
        tab.dialog.accept()
    return done.args[0]


# ----- names and XML -----------------------------------------------------------------------
def test_snapshot_xml_is_built_as_a_tree_and_names_are_checked():
    name = "a<b>&'\"c"
    root = ET.fromstring(snapshot_xml(name, "line 1\nline <2>", memory=False))
    assert root.findtext("name") == name and root.findtext("description") == "line 1\nline <2>"
    assert root.find("memory").get("snapshot") == "no"
    assert ET.fromstring(snapshot_xml("plain")).find("memory") is None  # libvirt's default: with memory
    for bad in ("", " lead", "-x", "a/b", "bell\x07", "rtl\u202eexe", "x" * 201):
        assert snapshot_problem(bad), bad
        with pytest.raises(Refusal):
            snapshot_xml(bad)
    assert "control character" in snapshot_problem("ok", "esc\x1b[2J")


def test_tree_order_from_untrusted_parents():
    snaps = [parse_snapshot(f"<domainsnapshot><name>{n}</name>{f'<parent><name>{p}</name></parent>' if p else ''}"
                            f"<creationTime>{t}</creationTime></domainsnapshot>") for n, p, t in
             (("c", "b", 3), ("a", "", 1), ("b", "a", 2), ("orphan", "gone", 4), ("self", "self", 5))]
    ordered = in_tree_order(snaps)
    assert [s.name for s in ordered] == ["a", "b", "c", "orphan", "self"]
    assert [s.children for s in ordered[:2]] == [["b"], ["c"]] and ordered[3].parent == ""


# ----- the tab ------------------------------------------------------------------------------
def test_tab_shows_the_tree_with_the_current_one_marked_after_take(qtbot, lab, tab):
    show(qtbot, tab, machine(lab, "web01"))
    assert rows(tab.model) == [] and tab.status.text() == "No snapshots yet."
    assert tab.dialog is None
    record = take(qtbot, tab, "before <upgrade>", "kernel 6.1\nthen 6.12")
    assert record.status == SUCCEEDED and record.title == "Take snapshot before <upgrade> of web01"
    assert record in lab.tasks.tasks and record.kind == "snapshot_create"
    take(qtbot, tab, "after")
    assert rows(tab.model) == [("before <upgrade>", False, [("after", True, [])])]
    assert "current: after" in tab.status.text()
    first = tab.model.snapshot(tab.model.index_of("before <upgrade>"))
    assert first.description == "kernel 6.1\nthen 6.12" and first.state == "running" and first.with_memory
    assert tab.model.index_of("before <upgrade>", 5).data() == "kernel 6.1 …"  # first line, no markup
    # The dialog refuses a name taken or unsafe before anything reaches libvirt.
    tab.ask_take()
    for bad in ("after", "bad\x1bname"):
        tab.dialog.name.setText(bad)
        assert not tab.dialog.buttons.buttons()[0].isEnabled() and tab.dialog.problem.text()
    assert not tab.dialog.external.isEnabled()  # the test driver makes internal snapshots only
    tab.dialog.reject()


def test_revert_asks_first_saying_what_is_lost_then_the_machine_follows(qtbot, run, lab, tab):
    web = machine(lab, "web01")
    show(qtbot, tab, web)
    take(qtbot, tab, "running-state")
    assert run(lab.lifecycle.apply("force_off", web)).status == SUCCEEDED
    qtbot.waitUntil(lambda: machine(lab, "web01").state == "shutoff", timeout=3000)
    tab.select("running-state")
    tasks_before = len(lab.tasks.tasks)
    tab.ask_revert()
    text = tab.question.text()
    assert "Revert web01 to snapshot running-state?" in text
    assert "current state of web01 since snapshot running-state is lost" in text and "It will be running" in text
    click(tab.question, "Cancel")
    qtbot.waitUntil(lambda: not tab.question.isVisible())
    assert len(lab.tasks.tasks) == tasks_before  # cancelled: nothing done
    tab.ask_revert()
    with qtbot.waitSignal(tab.action_done, timeout=5000) as done:
        click(tab.question, "Revert")
    assert done.args[0].status == SUCCEEDED and done.args[0].summary == "reverted to running-state; now running"
    qtbot.waitUntil(lambda: machine(lab, "web01").state == "running", timeout=3000)
    # while running, the question names the memory too
    tab.ask_revert()
    assert "its current memory" in tab.question.text()
    click(tab.question, "Cancel")


def test_delete_one_or_with_children(qtbot, run, lab, tab):
    db = machine(lab, "db01")
    show(qtbot, tab, db)
    for name in ("a", "b", "c"):
        take(qtbot, tab, name)
    take(qtbot, tab, "d")
    assert rows(tab.model) == [("a", False, [("b", False, [("c", False, [("d", True, [])])])])]
    tab.select("c")
    tab.ask_delete()
    assert "1 snapshot below it (d)" in tab.question.text()
    with qtbot.waitSignal(tab.action_done, timeout=5000), qtbot.waitSignal(tab.loaded, timeout=5000):
        click(tab.question, "Delete This One")
    assert rows(tab.model) == [("a", False, [("b", False, [("d", True, [])])])]  # d moved up to b
    tab.select("a")
    tab.ask_delete()
    assert "2 snapshots below it (b, d)" in tab.question.text()
    with qtbot.waitSignal(tab.action_done, timeout=5000) as done, qtbot.waitSignal(tab.loaded, timeout=5000):
        click(tab.question, "Delete with 2 Below")
    assert done.args[0].summary == "deleted a and 2 below it"
    assert done.args[0].title == "Delete snapshot a of db01 with its children"
    assert rows(tab.model) == [] and tab.status.text() == "No snapshots yet."


def test_a_failure_shows_libvirts_error_in_the_task_and_the_tab(qtbot, run, lab, tab):
    show(qtbot, tab, machine(lab, "web01"))
    take(qtbot, tab, "gone-soon")
    host = lab.inventory.hosts[LAB_URI]
    run(host.call(lambda conn: conn.lookupByUUIDString(WEB01).snapshotLookupByName("gone-soon").delete(0)))
    tab.select("gone-soon")  # another client deleted it meanwhile
    tab.ask_delete()
    with qtbot.waitSignal(tab.action_done, timeout=5000) as done, qtbot.waitSignal(tab.loaded, timeout=5000):
        click(tab.question, "Delete")
    record = done.args[0]
    assert record.status == FAILED and record.error is not None
    assert record.error.code_name == "NO_DOMAIN_SNAPSHOT" and "gone-soon" in record.error_message
    assert tab.status.text() == f"Delete snapshot gone-soon of web01 failed: {record.error_message}"
    # External snapshots are refused by this host's driver: the task keeps libvirt's words.
    refused = run(tab.service.create(machine(lab, "stopped01"), "ext", external=True))
    assert refused.status == FAILED and "unsupported flags" in refused.error_message


# ----- the flow command pair ------------------------------------------------------------------
def test_a_flows_snapshot_is_undone_by_its_rollback(run, lab):
    from ecp_desktop.services.tasks.engine import Group, Step
    base = {"uuid": WEB01, "name": "web01"}
    plan = Group("maintenance", "Prepare web01", children=[
        Step("create_snapshot", "Snapshot web01", {**base, "snapshot": "flow <1>", "description": "by a flow",
                                                    "memory": True}, LAB_URI, WEB01, "web01"),
        Step("clone_volume", "Clone a missing volume", {"pool": "default", "source": "nope.img", "name": "x.img",
                                                        "capacity": 1, "allocation": 1, "format": ""}, LAB_URI),
    ])
    host = lab.inventory.hosts[LAB_URI]
    root = run(lab.engine.run(plan))
    assert root.status == FAILED
    undo = [c for c in root.children if c.role == "rollback"]
    assert [(u.title, u.status) for u in undo] == [("Delete snapshot flow <1> of web01", SUCCEEDED)]
    assert run(host.call(lambda conn: conn.lookupByUUIDString(WEB01).snapshotListNames())) == []
    # a bad name in a step's parameters never reaches libvirt's XML
    bad = run(lab.engine.run(Group("maintenance", "Bad", children=[
        Step("create_snapshot", "Snapshot", {**base, "snapshot": "x\x00y"}, LAB_URI, WEB01, "web01")])))
    assert bad.status == FAILED and "control character" in bad.children[0].error_message


# ----- the command line -----------------------------------------------------------------------
HOST_XML = """<?xml version="1.0"?>
<node>
  <domain type="test" xmlns:test="http://libvirt.org/schemas/domain/test/1.0">
    <name>web01</name><uuid>11111111-1111-1111-1111-000000000001</uuid>
    <memory unit="MiB">512</memory><vcpu>1</vcpu><os><type arch="x86_64">hvm</type></os>
    <test:domainsnapshot>
      <name>base</name><description>clean &lt;install&gt;</description><state>shutoff</state>
      <creationTime>1700000000</creationTime><memory snapshot="no"/><active>0</active>
      <domain type="test"><name>web01</name><uuid>11111111-1111-1111-1111-000000000001</uuid>
        <memory unit="MiB">512</memory><vcpu>1</vcpu><os><type arch="x86_64">hvm</type></os></domain>
    </test:domainsnapshot>
    <test:domainsnapshot>
      <name>evil&#x202e;txt</name><parent><name>base</name></parent><state>running</state>
      <creationTime>1700000100</creationTime><memory snapshot="internal"/><active>1</active>
      <domain type="test"><name>web01</name><uuid>11111111-1111-1111-1111-000000000001</uuid>
        <memory unit="MiB">512</memory><vcpu>1</vcpu><os><type arch="x86_64">hvm</type></os></domain>
    </test:domainsnapshot>
  </domain>
</node>
"""


def cli(uri, *args, db_url):
    return subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", uri,
                           "snapshot", *args], capture_output=True, text=True, timeout=60)


def test_cli_list_create_revert_delete(db, db_url, tmp_path):
    path = tmp_path / "snaps.xml"
    path.write_text(HOST_XML)
    uri = f"test://{path}"  # each process starts from the file afresh
    listed = cli(uri, "list", "web01", "--json", db_url=db_url)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["machine"] == "web01" and data["host"] == uri
    base, evil = data["snapshots"]
    assert base == {"name": "base", "parent": None, "current": False, "created": "2023-11-14T22:13:20+00:00",
                    "description": "clean <install>", "state": "shutoff", "memory": "no", "disk_only": True,
                    "disks": "none", "children": ["evil\u202etxt"]}
    assert evil["current"] and evil["parent"] == "base" and not evil["disk_only"]
    text = cli(uri, "list", "web01", db_url=db_url)
    assert text.returncode == 0 and "\u202e" not in text.stdout and "  evil\\u202etxt\t" in text.stdout
    assert text.stdout.startswith("SNAPSHOT")

    created = cli(uri, "create", "web01", "pre", "--description", "before", "--memory", "--json", db_url=db_url)
    assert created.returncode == 0, created.stderr
    (task,) = json.loads(created.stdout)
    assert task["title"] == "Take snapshot pre of web01" and task["status"] == "succeeded"

    reverted = cli(uri, "revert", "web01", "base", "--json", db_url=db_url)
    assert reverted.returncode == 0, reverted.stderr
    assert json.loads(reverted.stdout)[0]["outcome"] == "reverted to base; now shut off"

    deleted = cli(uri, "delete", "web01", "base", "--children", "--json", db_url=db_url)
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)[0]["outcome"] == "deleted base and 1 below it"

    for args, words in ((("revert", "web01", "nope"), "no snapshot named 'nope'"),
                        (("revert", "web01"), "needs the snapshot's NAME"),
                        (("create", "web01", "base"), "has a snapshot named 'base' already"),
                        (("create", "web01", "a/b"), "contains '/'"),
                        (("list", "nosuch"), "no machine named 'nosuch'")):
        bad = cli(uri, *args, db_url=db_url)
        assert bad.returncode == 2 and words in bad.stderr and "Traceback" not in bad.stderr, bad.stderr
    away = cli("qemu+tcp://127.0.0.1:1/system", "list", "web01", db_url=db_url)
    assert away.returncode == 3, away.stderr
