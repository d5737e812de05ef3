"""Rollbacks that can be finished, steps whose reply was lost, and fenced takeovers, on
libvirt's test driver and the real database (issue 18, points 1 and 5). The lab tier does
the same with real daemons stopped, hung and processes frozen (tests/lab/test_rollback_lab.py)."""
from __future__ import annotations

import libvirt
import pytest

from ecp_desktop.models import schema
from ecp_desktop.services.core.errors import HypervisorError, Refusal
from ecp_desktop.services.sharing.instance import INSTANCE_ID
from ecp_desktop.services.tasks import store
from ecp_desktop.services.tasks.operations import DefineDomain
from ecp_desktop.services.tasks.records import FAILED, REGULAR, ROLLBACK, ROLLBACK_FAILED, SUCCEEDED
from ecp_desktop.services.tasks.interrupted import InterruptedFlowWatch, finish_interrupted, retry_rollback
from ecp_desktop.services.tasks.tree import retries_by_itself

from ...helpers import TEMPLATE_URI, TPL_UUID


@pytest.fixture
def host(template_host):
    return template_host


def clone(services, run, count, *, listener=None):
    flow = run(services.templates.plan(TEMPLATE_URI, TPL_UUID, count, "web-{n}"))
    if listener:
        services.engine.listeners.append(listener)
    return run(services.templates.run(flow), timeout=30)


def volumes(run, host):
    return run(host.call(lambda c: {v.name() for v in c.storagePoolLookupByName("pool-a").listAllVolumes()}))


def domains(run, host):
    return run(host.call(lambda c: {d.name() for d in c.listAllDomains()}))


def row(db_id):
    with schema.database.connection_context():
        return schema.Task.select().where(schema.Task.id == db_id).dicts().get()


def walk(record):
    yield record
    for child in record.children:
        yield from walk(child)


def test_a_refused_undo_is_left_for_the_user_and_retried_by_hand_once_the_cause_is_gone(services, run, host):
    before = volumes(run, host)

    async def stop_pool_after_first_clone(record, what):  # someone stops the pool mid-flow
        if what == "done" and record.op == "clone_volume" and not getattr(host, "stopped", False):
            host.stopped = True
            await host.call(lambda c: c.storagePoolLookupByName("pool-a").destroy())
    root = clone(services, run, 1, listener=stop_pool_after_first_clone)
    assert root.status == ROLLBACK_FAILED and root.children[0].status == ROLLBACK_FAILED
    uuid = root.children[0].target_uuid  # the machine waits with the volume whose seal it carries
    assert root.summary == f"left behind: machine web-1 ({uuid}), volume pool-a/web-1-vda.qcow2"
    # The daemon refused the undo (pool not active): trying again by itself would repeat it.
    assert not retries_by_itself(root)
    assert run(finish_interrupted(services.engine)).finished == []

    # Still not fixed: the retry says what is left and why.
    outcome = run(retry_rollback(services.engine, root.db_id))
    volume_left = next(text for text in outcome.left if text.startswith("volume pool-a/web-1-vda.qcow2: "))
    assert "not active" in volume_left and any(text.startswith("machine web-1") for text in outcome.left)
    assert root.status == ROLLBACK_FAILED

    run(host.call(lambda c: c.storagePoolLookupByName("pool-a").create()))
    assert "web-1-vda.qcow2" in volumes(run, host)
    outcome = run(retry_rollback(services.engine, root.children[0].db_id))  # any task of the tree will do
    assert outcome.left == [] and outcome.unreachable == []
    # Root and group agree; the root's summary covers the whole tree.
    assert root.status == FAILED and root.children[0].status == FAILED
    assert root.summary == "undone: deleted volume pool-a/web-1-vda.qcow2, undefined web-1"
    assert "not active" in root.error_message  # the cause of the flow's failure is kept
    assert volumes(run, host) == before
    run(services.tasks.flush())
    assert (row(root.db_id)["status"], row(root.db_id)["summary"]) == (FAILED, root.summary)
    assert row(root.db_id)["generation"] == 2  # each retry took the flow (a fencing token each)
    with pytest.raises(Refusal, match="only a rollback that failed can be retried"):
        run(retry_rollback(services.engine, root.db_id))


def test_an_undo_that_failed_while_the_host_was_away_is_retried_when_it_connects(services, run, host):
    async def host_goes_away_after_first_clone(record, what):
        if what == "done" and record.op == "clone_volume" and host.connected:
            await host.close()  # the host is away until the test connects it again
    root = clone(services, run, 1, listener=host_goes_away_after_first_clone)
    assert root.status == ROLLBACK_FAILED
    undo = next(r for r in walk(root) if r.role == ROLLBACK)
    assert undo.status == FAILED and undo.error.code == libvirt.VIR_ERR_INVALID_CONN
    assert retries_by_itself(root)
    # Not connected: a retry by hand says so (the CLI's exit 3) and changes nothing.
    outcome = run(retry_rollback(services.engine, root.db_id))
    assert outcome.unreachable == [TEMPLATE_URI]
    assert any(text.startswith("volume pool-a/web-1-vda.qcow2") for text in outcome.left)
    assert run(finish_interrupted(services.engine)).waiting == [root.title]

    reports = []
    InterruptedFlowWatch(services.engine, services.inventory.host_changed, reports.append)
    assert run(services.inventory.connect_host(host))
    run(_until(lambda: reports), timeout=20)
    [report] = reports
    assert [(r.title, r.retried) for r in report.finished] == [(root.title, True)]
    assert root.status == FAILED and root.children[0].status == FAILED
    # A test:///FILE host starts afresh on a new connection, so the clone is gone already; the
    # lab test (a real daemon stopped and started) finds it there and deletes it.
    assert root.summary == "undone: volume web-1-vda.qcow2 already gone, web-1 already undefined"
    assert "web-1-vda.qcow2" not in volumes(run, host)


async def _until(condition, step: float = 0.05):
    import asyncio
    while not condition():
        await asyncio.sleep(step)


def _reply_lost(*, after_acting: bool):
    """A fake, and the only one here: a reply lost on the wire after the request was sent
    cannot be provoked on the in-process test driver (it has no wire). The real call runs
    (or not), then the error libvirt's RPC layer gives when the connection breaks under it.
    tests/lab/test_rollback_lab.py loses a real reply with a hung daemon."""
    real = DefineDomain.execute

    def execute(self, conn, params):
        if after_acting:
            real(self, conn, params)
        raise HypervisorError("End of file while reading data: Input/output error", code=libvirt.VIR_ERR_SYSTEM_ERROR,
                              domain=libvirt.VIR_FROM_RPC, operation="define_domain")
    return execute


@pytest.mark.parametrize("after_acting, checked", [
    (True, "its reply was lost; checked: undefined web-1"),
    (False, "its reply was lost; checked: web-1 already undefined"),
])
def test_a_step_whose_reply_was_lost_is_checked_and_undone_if_it_took_effect(services, run, host, monkeypatch,
                                                                             after_acting, checked):
    monkeypatch.setattr(DefineDomain, "execute", _reply_lost(after_acting=after_acting))
    before = (domains(run, host), volumes(run, host))
    root = clone(services, run, 1)
    assert root.status == FAILED and "End of file" in root.error_message
    define = next(r for r in walk(root) if r.op == "define_domain" and r.role == REGULAR)
    undo = next(r for r in walk(root) if r.role == ROLLBACK and r.compensates is define)
    assert undo.title.startswith("Check and undo: ") and undo.status == SUCCEEDED
    assert undo.summary.startswith(checked)
    assert define.status == FAILED and root.children[0].status == FAILED  # it failed; its undo says the rest
    assert (domains(run, host), volumes(run, host)) == before


def test_a_failure_the_daemon_answered_is_not_undone(services, run, host):
    """A refusal (the daemon said it did nothing) needs no check: no undo task for it."""
    def squat(conn):  # the name the flow will define, taken after planning
        conn.defineXML("<domain type='test'><name>web-1</name><memory>1024</memory><os><type>hvm</type></os>"
                       "</domain>")
    flow = run(services.templates.plan(TEMPLATE_URI, TPL_UUID, 1, "web-{n}"))
    run(host.call(squat))
    root = run(services.templates.run(flow), timeout=30)
    define = next(r for r in walk(root) if r.op == "define_domain" and r.role == REGULAR)
    assert define.status == FAILED
    assert not [r for r in walk(root) if r.role == ROLLBACK and r.compensates is define]


def test_a_flow_taken_over_by_another_instance_stops_at_its_next_write(services, run, host):
    """The takeover is the real write another instance makes (``store.claim``); this one
    finds the newer generation at its next write and stops without touching libvirt."""
    before = volumes(run, host)
    taken = []

    async def taken_over_after_first_clone(record, what):
        if what == "done" and record.op == "clone_volume" and not taken:
            taken.append("taking")
            await services.tasks.flush()
            ids = [r.db_id for r in walk(record.root())]
            loop = __import__("asyncio").get_running_loop()
            rows = await loop.run_in_executor(services.executors.database, store.claim, ids,
                                              INSTANCE_ID, "far-box:4711:99")
            taken[0] = rows[0]["generation"] if rows else 0
    before_domains = domains(run, host)
    root = clone(services, run, 1, listener=taken_over_after_first_clone)
    assert taken == [1]
    assert root.status == FAILED and "another instance took this task over" in root.error_message
    # The define and the first clone ran; the second disk's clone found the flow taken and never
    # called libvirt; nothing was undone here (the new owner undoes it).
    assert volumes(run, host) - before == {"web-1-vda.qcow2"}
    assert set(domains(run, host)) - set(before_domains) == {"web-1"}
    assert not [r for r in walk(root) if r.role == ROLLBACK]
    run(services.tasks.flush())
    stored = row(root.db_id)
    assert (stored["owner"], stored["generation"], stored["status"]) == ("far-box:4711:99", 1, "running")
    with schema.database.connection_context():
        rows = list(schema.Task.select().where(schema.Task.id.in_([r.db_id for r in walk(root)])).dicts())
    assert {r["owner"] for r in rows} == {"far-box:4711:99"}


def test_the_heartbeat_beats_while_the_database_thread_is_busy(services, run):
    """A long inventory job must not make other instances take this one for dead."""
    import threading

    from ecp_desktop.services.core.aio import spawn
    from ecp_desktop.services.sharing import heartbeat
    release = threading.Event()
    services.executors.database.submit(release.wait, 30)  # the database thread is busy
    beating = spawn(heartbeat.keep_beating(interval=0.2))
    try:
        run(_until(lambda: heartbeat.live_owners([INSTANCE_ID])), timeout=10)
    finally:
        release.set()
        beating.cancel()
    assert heartbeat.live_owners([INSTANCE_ID]) == {INSTANCE_ID}


def test_retry_rollback_in_the_tasks_pane(qtbot, services, run, host):
    """The user selects the flow whose rollback failed, fixes the cause and clicks Retry Rollback."""
    from PySide6.QtCore import Qt

    from ecp_desktop.views.tasks.tasks_pane import TasksPane
    pane = TasksPane(services.tasks)
    qtbot.addWidget(pane)
    assert not pane.retry_button.isVisible() and pane.retry_button.isHidden()  # nothing to offer yet
    pane.offer_retry(lambda task_id: retry_rollback(services.engine, task_id))
    pane.show()

    async def stop_pool_after_first_clone(record, what):
        if what == "done" and record.op == "clone_volume" and not getattr(host, "stopped", False):
            host.stopped = True
            await host.call(lambda c: c.storagePoolLookupByName("pool-a").destroy())
    root = clone(services, run, 1, listener=stop_pool_after_first_clone)
    assert root.status == ROLLBACK_FAILED
    run(services.tasks.flush())
    qtbot.waitUntil(lambda: pane.model.rowCount() == 1)
    pane.view.setCurrentIndex(pane.proxy.index(0, 0))
    assert pane.retry_button.isVisible() and pane.retry_button.isEnabled()

    qtbot.mouseClick(pane.retry_button, Qt.MouseButton.LeftButton)  # the pool is still stopped
    qtbot.waitUntil(lambda: getattr(pane, "last_message", None) is not None, timeout=10000)
    assert "Still left behind" in pane.last_message.text() and "not active" in pane.last_message.text()
    assert pane.last_message.textFormat() == Qt.TextFormat.PlainText

    run(host.call(lambda c: c.storagePoolLookupByName("pool-a").create()))
    qtbot.waitUntil(pane.retry_button.isEnabled)
    qtbot.mouseClick(pane.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: root.status == FAILED, timeout=10000)
    assert "web-1-vda.qcow2" not in volumes(run, host)
    assert not pane.retry_button.isEnabled()  # nothing left to retry


def test_a_crashed_flow_whose_host_is_away_is_left_unclaimed_and_recovered_when_it_connects(services, run, host,
                                                                                              db_url):
    """Another machine's instance died in the middle of a flow (its rows say "running" under
    its name: the state such a crash leaves, written here). While the host is away nobody
    claims it; when the host connects, this instance's watch takes it and undoes it."""
    from ...helpers import query
    dead = "far-box:4711:99"
    root = clone(services, run, 1)
    assert root.status == SUCCEEDED
    run(services.tasks.flush())
    ids = ",".join(str(r.db_id) for r in walk(root))
    query(db_url, f"UPDATE task SET status = 'running', owner = '{dead}' WHERE id IN ({ids})")
    run(host.close())
    report = run(finish_interrupted(services.engine))
    assert report.waiting == [root.title] and not report.finished
    assert {owner for (owner,) in query(db_url, f"SELECT owner FROM task WHERE id IN ({ids})")} == {dead}

    reports = []
    InterruptedFlowWatch(services.engine, services.inventory.host_changed, reports.append)
    assert run(services.inventory.connect_host(host))
    run(_until(lambda: reports), timeout=20)
    [recovered] = reports[0].finished
    assert recovered.title == root.title and recovered.status == FAILED
    assert query(db_url, f"SELECT status FROM task WHERE id = {root.db_id}") == [(FAILED,)]


def test_the_lease_holds_while_the_heartbeat_beats_and_not_after_a_gap():
    """A busy host (calls waiting minutes for a slot) never makes a flow's lease run out while
    the heartbeat beats; a freeze (no beat for longer than the lease) does."""
    from types import SimpleNamespace

    from ecp_desktop.services.sharing.heartbeat import Continuity
    from ecp_desktop.services.tasks import fencing
    lease = fencing.LEASE_SECONDS
    beats = Continuity()
    for t in range(0, 600, 10):  # ten minutes of beats every 10 s
        beats.beaten(1000.0 + t)
    assert beats.covers(1000.0 + 5, 1000.0 + 600)  # a write 10 minutes ago is still covered
    beats.beaten(1000.0 + 600 + lease + 1)  # a freeze: the next beat came too late
    assert not beats.covers(1000.0 + 5, 1000.0 + 600 + lease + 2)  # the old write is not covered now
    assert beats.covers(1000.0 + 600 + lease + 1, 1000.0 + 600 + lease + 2)  # a write after it is
    root = SimpleNamespace(written_at=None)
    assert not fencing.holds(root)  # never written as ours: write first
    root.written_at = fencing.now()
    assert fencing.holds(root)
