"""The task engine on libvirt's test driver: machines from a template, real failures
(a full pool, a volume or machine name already taken, a pool stopped mid-flow),
rollback of the succeeded siblings, cancel, and the persisted task tree."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import libvirt
import pytest

from ecp_desktop.models import schema
from ecp_desktop.services.tasks.records import (CANCELLED, FAILED, REGULAR, ROLLBACK, ROLLBACK_FAILED, ROLLED_BACK,
                                                SUCCEEDED)
from ecp_desktop.services.actions.templates import PlanError, expand_names

from ...helpers import OTHER_UUID, TEMPLATE_URI, TPL_UUID
TEMPLATE_VOLUMES = {"tpl-root.qcow2", "tpl-data.img"}


@pytest.fixture
def host(template_host):
    return template_host


def libvirt_state(run, host):
    """Domains and pool-a volumes as libvirt has them now (through the app's own connection:
    a test:///FILE host is private to its connection)."""
    def read(conn):
        pool = conn.storagePoolLookupByName("pool-a")
        return ({d.name(): d.UUIDString() for d in conn.listAllDomains()},
                {v.name() for v in pool.listAllVolumes()})
    return run(host.call(read))


def clone(services, run, count, pattern="web-{n}", *, start=False, listener=None):
    flow = run(services.templates.plan(TEMPLATE_URI, TPL_UUID, count, pattern, start=start))
    if listener:
        services.engine.listeners.append(listener)
    return run(services.templates.run(flow), timeout=30)


def leaves(record):
    out = []
    for child in record.children:
        out += [child] if child.op else leaves(child)
    return out


def db_rows():
    with schema.database.connection_context():
        return list(schema.Task.select().order_by(schema.Task.id).dicts())


def test_three_machines_from_a_template(services, run, host):
    root = clone(services, run, 3, "web-{n:02}", start=True)
    assert root.status == SUCCEEDED, root.outcome
    domains, volumes = libvirt_state(run, host)
    assert {"web-01", "web-02", "web-03"} <= domains.keys()
    assert volumes == TEMPLATE_VOLUMES | {f"web-0{i}-{d}" for i in (1, 2, 3) for d in ("vda.qcow2", "vdb.img")}
    assert len({domains[n] for n in ("web-01", "web-02", "web-03", "tpl")}) == 4  # new UUIDs

    xml = ET.fromstring(run(host.call(lambda c: c.lookupByName("web-02").XMLDesc(0))))
    sources = [(d.get("type"), d.find("source").attrib) for d in xml.findall("devices/disk")]
    assert sources == [("file", {"file": "/pool-a/web-02-vda.qcow2"}),
                       ("volume", {"pool": "pool-a", "volume": "web-02-vdb.img"}),
                       ("file", {"file": "/isos/installer.iso"})]  # the CD-ROM is shared, not cloned
    assert xml.find("devices/disk/serial") is None
    macs = [m.get("address") for name in ("web-01", "web-02", "web-03")
            for m in ET.fromstring(run(host.call(lambda c, n=name: c.lookupByName(n).XMLDesc(0))))
            .findall("devices/interface/mac")]
    assert len(macs) == 6 and len(set(macs) | {"52:54:00:aa:00:01", "52:54:00:aa:00:02"}) == 8
    assert run(host.call(lambda c: c.lookupByName("web-03").state()[0])) == libvirt.VIR_DOMAIN_RUNNING

    # The inventory lists them at once, and so does the database.
    names = {m.name for m in services.inventory.machines_of(TEMPLATE_URI)}
    assert {"web-01", "web-02", "web-03"} <= names
    # The task tree: one parent, a child per machine, and its steps; all persisted.
    assert [c.title for c in root.children] == ["Create web-01", "Create web-02", "Create web-03"]
    assert [s.op for s in root.children[0].children] == ["define_domain", "clone_volume", "clone_volume",
                                                        "start_domain"]
    run(services.tasks.flush())
    rows = db_rows()
    assert len(rows) == 1 + 3 + 12 and {r["status"] for r in rows} == {SUCCEEDED}
    assert all(r["reason"] == REGULAR for r in rows)
    with schema.database.connection_context():
        stored = {m.name for m in schema.Machine.select()}
    assert {"web-01", "web-02", "web-03"} <= stored


def test_a_full_pool_rolls_back_every_succeeded_sibling(services, run, host):
    before = libvirt_state(run, host)
    root = clone(services, run, 6)
    assert root.status == FAILED
    failed = [s for s in leaves(root) if s.status == FAILED]
    assert len(failed) >= 1
    error = failed[0].error
    assert (error.code, error.domain) == (libvirt.VIR_ERR_INTERNAL_ERROR, libvirt.VIR_FROM_TEST)
    assert "Not enough free space in pool" in error.message
    assert "Not enough free space" in root.error_message and root.summary.startswith("undone: ")

    # Every step that succeeded was undone by a rollback-flow task that succeeded.
    done = [s for s in leaves(root) if s.status == ROLLED_BACK]
    assert done, "some clones fit before the pool was full"
    undo_tasks = [c for m in root.children for c in m.children if c.role == ROLLBACK]
    assert sorted(u.compensates.id for u in undo_tasks) == sorted(s.id for s in done)  # one each, no loop
    assert {u.status for u in undo_tasks} == {SUCCEEDED}
    # Machines beyond the concurrency limit never started; nothing is left in libvirt.
    assert any(s.status == CANCELLED for s in leaves(root))
    assert libvirt_state(run, host) == before
    assert not [m for m in services.inventory.machines_of(TEMPLATE_URI) if m.name.startswith("web-")]

    run(services.tasks.flush())
    rows = {r["id"]: r for r in db_rows()}
    assert rows[root.db_id]["status"] == FAILED
    undo_rows = [r for r in rows.values() if r["reason"] == ROLLBACK]
    assert len(undo_rows) == len(undo_tasks)
    assert all(rows[r["compensates_id"]]["status"] == ROLLED_BACK for r in undo_rows)


def test_a_volume_name_in_use_fails_and_the_existing_volume_is_kept(services, run, host):
    def squat(conn):
        pool = conn.storagePoolLookupByName("pool-a")
        pool.createXML("<volume><name>web-2-vdb.img</name><capacity>1024</capacity></volume>", 0)
    run(host.call(squat))
    root = clone(services, run, 3)
    assert root.status == FAILED
    assert "storage vol already exists" in root.error_message
    domains, volumes = libvirt_state(run, host)
    assert volumes == TEMPLATE_VOLUMES | {"web-2-vdb.img"}  # someone else's volume stays
    assert not {n for n in domains if n.startswith("web-")}


def test_a_machine_name_taken_after_planning_fails_at_define(services, run, host):
    flow = run(services.templates.plan(TEMPLATE_URI, TPL_UUID, 3, "web-{n}"))
    other = run(host.call(lambda c: c.lookupByName("tpl").XMLDesc(2)))
    other = other.replace("<name>tpl</name>", "<name>web-3</name>").replace(TPL_UUID, OTHER_UUID)
    run(host.call(lambda c: c.defineXML(other)))
    root = run(services.templates.run(flow), timeout=30)
    assert root.status == FAILED and "already exists" in root.error_message
    domains, volumes = libvirt_state(run, host)
    assert domains["web-3"] == OTHER_UUID  # the other machine is untouched
    assert {n for n in domains if n.startswith("web-")} == {"web-3"}
    assert volumes == TEMPLATE_VOLUMES


def test_cancel_undoes_what_ran(services, run, host):
    before = libvirt_state(run, host)
    cancelled = []

    async def cancel_after_first_define(record, what):
        if what == "done" and record.op == "define_domain" and not cancelled:
            cancelled.append(record)
            record.root().cancel()  # what the tasks pane's Cancel does
    root = clone(services, run, 3, start=True, listener=cancel_after_first_define)
    assert root.status == CANCELLED and root.error_message == "cancelled by the user"
    assert "undone: " in root.summary and "undefined web-" in root.summary
    assert libvirt_state(run, host) == before


def test_an_undo_that_fails_is_rollback_failed_with_what_is_left(services, run, host):
    stopped = []

    async def stop_pool_after_first_clone(record, what):  # someone stops the pool mid-flow
        if what == "done" and record.op == "clone_volume" and not stopped:
            stopped.append(record)
            await host.call(lambda c: c.storagePoolLookupByName("pool-a").destroy())
    services.engine.listeners.append(stop_pool_after_first_clone)
    before = libvirt_state(run, host)
    root = clone(services, run, 1)
    assert root.status == ROLLBACK_FAILED
    assert "not active" in root.error_message  # the cause: the next clone found the pool stopped
    # The machine stays too: the volume's undo rests on the seal it carries (undos run strictly
    # in reverse, so the steps before a failed undo wait with it).
    machine = root.children[0]
    uuid = machine.target_uuid
    assert root.summary == f"left behind: machine web-1 ({uuid}), volume pool-a/web-1-vda.qcow2"
    steps = list(machine.children)
    assert [(s.op, s.role, s.status) for s in steps] == [
        ("define_domain", REGULAR, ROLLBACK_FAILED), ("clone_volume", REGULAR, ROLLBACK_FAILED),
        ("clone_volume", REGULAR, FAILED), ("clone_volume", ROLLBACK, FAILED)]
    assert steps[3].compensates is steps[1] and "not active" in steps[3].error.message
    assert machine.status == ROLLBACK_FAILED
    # Once the pool runs again both are there, as reported; Retry Rollback removes both.
    run(host.call(lambda c: c.storagePoolLookupByName("pool-a").create()))
    assert "web-1-vda.qcow2" in libvirt_state(run, host)[1] and "web-1" in libvirt_state(run, host)[0]
    from ecp_desktop.services.tasks.interrupted import retry_rollback
    run(services.tasks.flush())
    outcome = run(retry_rollback(services.engine, root.db_id), timeout=30)
    assert outcome.left == [] and outcome.root.status == FAILED
    assert libvirt_state(run, host) == before


@pytest.mark.parametrize("uuid, count, pattern, words", [
    (TPL_UUID, 3, "web", "must contain {n}"),
    (TPL_UUID, 0, "web-{n}", "between 1 and"),
    (TPL_UUID, 2, "web-{n}-{x}", "not valid"),
    (TPL_UUID, 2, "a/{n}", "contains '/'"),
    ("1c0ffee0-0000-4000-8000-000000000002", 1, "x-{n}", "busy is running; pause it or shut it down"),
    ("1c0ffee0-0000-4000-8000-000000000003", 1, "x-{n}", "is not in a storage pool"),
])
def test_plans_that_cannot_work_are_refused_in_words(services, run, host, uuid, count, pattern, words):
    with pytest.raises(PlanError, match=words.replace("{", r"\{").replace("}", r"\}")):
        run(services.templates.plan(TEMPLATE_URI, uuid, count, pattern))
    assert not services.tasks.tasks  # nothing ran, nothing recorded


def test_a_name_in_use_is_refused_before_anything_runs(services, run, host):
    first = clone(services, run, 1)
    assert first.status == SUCCEEDED
    with pytest.raises(PlanError, match="machines named web-1 already exist"):
        run(services.templates.plan(TEMPLATE_URI, TPL_UUID, 2, "web-{n}"))


def test_expand_names():
    assert expand_names("web-{n}", 3) == ["web-1", "web-2", "web-3"]
    assert expand_names("db-{n:03}", 2, first=9) == ["db-009", "db-010"]


def test_every_command_pair_is_undone_in_reverse_and_undo_is_idempotent(services, run, host):
    """A serial plan on the template machine itself: autostart on, a snapshot, start, then a
    clone of a volume that does not exist (libvirt refuses). Everything before is undone."""
    from ecp_desktop.services.tasks.operations import OPERATIONS
    from ecp_desktop.services.tasks.engine import Group, Step
    base = {"uuid": TPL_UUID, "name": "tpl"}
    plan = Group("maintenance", "Prepare tpl", children=[
        Step("set_autostart", "Autostart tpl", {**base, "value": True}, TEMPLATE_URI, TPL_UUID, "tpl"),
        Step("create_snapshot", "Snapshot tpl", {**base, "snapshot": "before-upgrade"}, TEMPLATE_URI, TPL_UUID, "tpl"),
        Step("start_domain", "Start tpl", base, TEMPLATE_URI, TPL_UUID, "tpl"),
        Step("clone_volume", "Clone a missing volume", {**base, "pool": "pool-a", "source": "nope.img",
                                                        "name": "x.img", "capacity": 1, "allocation": 1,
                                                        "format": ""},
             TEMPLATE_URI),
    ])
    root = run(services.engine.run(plan))
    assert root.status == FAILED and "nope.img" in root.error_message
    undo = [c for c in root.children if c.role == "rollback"]
    assert [u.title for u in undo] == ["Force off tpl", "Delete snapshot before-upgrade of tpl",
                                       "Restore autostart of tpl"]
    assert {u.status for u in undo} == {SUCCEEDED}

    def facts(conn):
        dom = conn.lookupByUUIDString(TPL_UUID)
        return dom.isActive(), dom.autostart(), dom.snapshotListNames()
    assert run(host.call(facts)) == (0, 0, [])  # as before the plan
    # Undoing again (as a recovery after a crash mid-undo would) changes nothing and says so.
    again = [run(host.call(lambda c, s=s: OPERATIONS[s.op].compensate(c, s.params)))
             for s in root.children if s.role == "regular" and s.status == ROLLED_BACK]
    assert again == ["autostart of tpl is as it was", "snapshot before-upgrade already gone", "tpl is not running"]
    assert run(host.call(facts)) == (0, 0, [])


def test_cancel_letting_running_steps_finish_starts_nothing_new_and_aborts_nothing(services, run, host):
    """Cancel with "let the running ones finish" (an evacuation's Stop): the step in progress
    runs to its end (a migration half-way is not aborted), no later step starts, and the flow
    ends cancelled with its rollback. The long step is a stand-in for a migration (the test
    driver does not migrate): an async operation that ends early only if the flow says stop."""
    import asyncio

    from ecp_desktop.services.tasks.engine import Group, Step
    from ecp_desktop.services.tasks.operations import OPERATIONS, AsyncOperation

    release = asyncio.Event()

    class Long(AsyncOperation):
        async def run(self, context):
            context.record.root().drain()  # the user's Stop, while this step runs
            stopped = asyncio.ensure_future(context.stop.wait())
            released = asyncio.ensure_future(release.wait())
            asyncio.get_running_loop().call_later(0.2, release.set)
            done, pending = await asyncio.wait({stopped, released}, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            if stopped in done:
                raise RuntimeError("aborted half-way")
            return "ran to its end"

        def compensate(self, conn, params):
            return "undone"

        def undo_title(self, params):
            return "Undo the long step"

        def leftover(self, params):
            return "the long step's work"
    OPERATIONS["test_long_step"] = Long("test_long_step")
    try:
        plan = Group("test", "Two long steps", host_uri=TEMPLATE_URI, children=[
            Step("test_long_step", "First", {}, TEMPLATE_URI, TPL_UUID, "tpl"),
            Step("test_long_step", "Second", {}, TEMPLATE_URI, TPL_UUID, "tpl")])
        root = run(services.engine.run(plan), timeout=10)
    finally:
        del OPERATIONS["test_long_step"]
    first, second = root.children[0], root.children[1]
    assert first.summary == "ran to its end"  # not aborted
    assert second.status == CANCELLED and second.error_message == "not started"
    assert root.status == CANCELLED and "the steps already running finished" in root.error_message
    assert any(c.role == ROLLBACK and c.status == SUCCEEDED for c in root.children)  # undone as for any cancel


def test_a_template_whose_volume_reads_another_file_is_refused(services, run, host):
    """A template disk whose volume has a backing file (libvirt's <backingStore>) is never
    cloned: the copies would read that file too (an image may name any path of the host)."""
    run(host.call(lambda c: c.storagePoolLookupByName("pool-a").storageVolLookupByName("tpl-data.img").delete(0)))
    run(host.call(lambda c: c.storagePoolLookupByName("pool-a").createXML(
        "<volume><name>tpl-data.img</name><capacity>1073741824</capacity><target><format type='qcow2'/></target>"
        "<backingStore><path>/etc/shadow</path><format type='raw'/></backingStore></volume>", 0)))
    with pytest.raises(PlanError, match=r"has a backing file \('/etc/shadow'\).*qemu-img convert"):
        run(services.templates.plan(TEMPLATE_URI, TPL_UUID, 1, "web-{n}"))
    assert not services.tasks.tasks
