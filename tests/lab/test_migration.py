"""Migration between two real libvirt daemons (QEMU, TCG) in their own network namespaces.

Every test ends with the machine on exactly one host and the inventory agreeing with
libvirt. The slow cases (abort, stall, faults) use the small Linux guest with 64 MiB of
random data in RAM and a bandwidth limit, which leaves seconds to act mid-migration.
"""
from __future__ import annotations

import os
import time
import uuid as uuidlib
from pathlib import Path

import libvirt
import pytest

from ecp_desktop.services.migration.checks import COPY_STORAGE, MANAGED, OFFLINE, P2P, MigrationOptions
from ecp_desktop.services.migration.ladder import tried_rows

from ..helpers import query
from .linux_guest import linux_guest_xml, wait_for_console
from ..helpers import TINY_XML

pytestmark = pytest.mark.lab
TINY_UUID = "c0ffee00-0000-4000-8000-000000000001"
IMAGES = "/var/lib/libvirt/images"  # private to each lab host (a bind mount per daemon)


def open_admin(uri):
    libvirt.registerErrorHandler(lambda *_: None, None)
    return libvirt.open(uri)


def where_is(uuid, *uris):
    """{uri: state} of the hosts that know the machine (state: running, paused, shutoff)."""
    found = {}
    for uri in uris:
        try:
            conn = open_admin(uri)
        except libvirt.libvirtError:  # e.g. just after a partition heals: not known yet, ask again
            found[uri] = "unreachable"
            continue
        try:
            dom = conn.lookupByUUIDString(uuid)
            found[uri] = {1: "running", 3: "paused", 5: "shutoff"}.get(dom.state()[0], str(dom.state()))
        except libvirt.libvirtError:
            pass
        finally:
            conn.close()
    return found


@pytest.fixture
def hosts(lab_pair, services, run, qtbot):
    a, b = lab_pair
    for uri in (a.tcp_uri, b.tcp_uri):
        _clear(uri)
    connected = []
    for uri in (a.tcp_uri, b.tcp_uri):
        host = services.inventory.add_host(uri)
        assert run(services.inventory.connect_host(host)), host.reason
        connected.append(host)
    yield a, b
    for uri in (a.tcp_uri, b.tcp_uri):
        _clear(uri)


def _clear(uri):
    conn = open_admin(uri)
    try:
        for dom in conn.listAllDomains():
            if dom.isActive():
                dom.destroy()
            try:
                dom.undefine()
            except libvirt.libvirtError:
                pass
        for pool in conn.listAllStoragePools():
            for vol in pool.listAllVolumes() if pool.isActive() else []:
                vol.delete(0)
            if pool.isActive():
                pool.destroy()
            pool.undefine()
    finally:
        conn.close()


def agrees(services, db_url, uuid, expected_uri):
    """The inventory lists the machine on exactly ``expected_uri`` (memory and database)."""
    listed = {uri for (uri, u) in services.inventory.machines if u == uuid}
    rows = query(db_url, "SELECT h.uri FROM machine m JOIN host h ON h.id = m.host_id "
                         f"WHERE m.uuid = '{uuid}' AND m.missing = {'FALSE' if 'postgres' in db_url else '0'}")
    return listed == {expected_uri} and {r[0] for r in rows} == {expected_uri}


def tiny_running_on(lab_host, services, qtbot):
    """The tiny guest defined and started on ``lab_host``, once the inventory lists it."""
    admin = open_admin(lab_host.tcp_uri)
    admin.defineXML(TINY_XML).create()
    admin.close()
    qtbot.waitUntil(lambda: (lab_host.tcp_uri, TINY_UUID) in services.inventory.machines, timeout=5000)


def test_live_p2p_then_managed_back_and_the_inventory_follows(hosts, services, run, qtbot, db_url):
    a, b = hosts
    tiny_running_on(a, services, qtbot)

    there = run(services.migrations.negotiate(a.tcp_uri, "tiny1", b.tcp_uri))
    assert there.decision.method == P2P, there.decision.reason()
    assert there.elapsed_ms < 1000
    root = run(services.migrations.run(there), timeout=60)
    assert root.status == "succeeded", root.outcome
    assert "downtime" in root.children[-1].summary
    assert where_is(TINY_UUID, a.tcp_uri, b.tcp_uri) == {b.tcp_uri: "running"}
    qtbot.waitUntil(lambda: agrees(services, db_url, TINY_UUID, b.tcp_uri), timeout=5000)

    back = run(services.migrations.negotiate(b.tcp_uri, TINY_UUID, a.tcp_uri, MigrationOptions(method=MANAGED)))
    assert back.decision.method == MANAGED
    root = run(services.migrations.run(back), timeout=60)
    assert root.status == "succeeded", root.outcome
    assert where_is(TINY_UUID, a.tcp_uri, b.tcp_uri) == {a.tcp_uri: "running"}
    qtbot.waitUntil(lambda: agrees(services, db_url, TINY_UUID, a.tcp_uri), timeout=5000)


def test_offline_migration_moves_a_shut_off_definition(hosts, services, run, qtbot, db_url):
    a, b = hosts
    admin = open_admin(a.tcp_uri)
    admin.defineXML(TINY_XML)
    admin.close()
    qtbot.waitUntil(lambda: (a.tcp_uri, TINY_UUID) in services.inventory.machines, timeout=5000)
    plan = run(services.migrations.negotiate(a.tcp_uri, "tiny1", b.tcp_uri))
    assert plan.decision.method == OFFLINE
    root = run(services.migrations.run(plan), timeout=60)
    assert root.status == "succeeded", root.outcome
    assert where_is(TINY_UUID, a.tcp_uri, b.tcp_uri) == {b.tcp_uri: "shutoff"}
    qtbot.waitUntil(lambda: agrees(services, db_url, TINY_UUID, b.tcp_uri), timeout=5000)


def _images_pool(uri):
    conn = open_admin(uri)
    try:
        pool = conn.storagePoolDefineXML(f"<pool type='dir'><name>images</name><target><path>{IMAGES}</path>"
                                         "</target></pool>")
        pool.build(0)
        pool.create()
        return pool.name()
    finally:
        conn.close()


def _machine_with_disk(uri, name="disky"):
    conn = open_admin(uri)
    try:
        pool = conn.storagePoolLookupByName("images")
        pool.createXML(f"<volume><name>{name}.qcow2</name><capacity unit='MiB'>16</capacity>"
                       "<target><format type='qcow2'/></target></volume>", 0)
        uuid = str(uuidlib.uuid4())
        xml = TINY_XML.replace("tiny1", name).replace(TINY_UUID, uuid).replace(
            "<devices>", f"<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                         f"<source file='{IMAGES}/{name}.qcow2'/><target dev='vda' bus='virtio'/></disk>")
        conn.defineXML(xml).create()
        return uuid
    finally:
        conn.close()


def _volumes(uri):
    conn = open_admin(uri)
    try:
        return sorted(v.name() for p in conn.listAllStoragePools() if p.isActive() for v in p.listAllVolumes())
    finally:
        conn.close()


def test_copy_storage_refused_without_a_pool_then_copied_and_undone_on_failure(hosts, services, run, qtbot,
                                                                              db_url):
    a, b = hosts
    _images_pool(a.tcp_uri)
    uuid = _machine_with_disk(a.tcp_uri)
    qtbot.waitUntil(lambda: (a.tcp_uri, uuid) in services.inventory.machines, timeout=5000)

    refused = run(services.migrations.negotiate(a.tcp_uri, uuid, b.tcp_uri))
    assert not refused.decision.allowed
    reasons = {r.name: r.note for r in refused.decision.refused_because}
    assert "not on shared storage" in reasons["Disks"]
    assert f"no storage pool at {IMAGES} on the destination" in reasons["Storage on destination"]

    _images_pool(b.tcp_uri)
    plan = run(services.migrations.negotiate(a.tcp_uri, uuid, b.tcp_uri))
    assert plan.decision.method == COPY_STORAGE, plan.decision.reason()

    # Someone defines another machine of that name on the destination after the check: libvirt
    # refuses the migration, and the volume we created there is deleted by the rollback.
    clash = open_admin(b.tcp_uri)
    clash.defineXML(TINY_XML.replace("tiny1", "disky").replace(TINY_UUID, str(uuidlib.uuid4())))
    clash.close()
    failed = run(services.migrations.run(plan), timeout=60)
    assert failed.status == "failed", failed.outcome
    # A name clash is no rung's fault: the ladder stops at once, the next rung is never tried.
    rows = tried_rows(next(c for c in failed.children if c.op == "migrate_domain").params)
    assert [(r.api, r.verdict) for r in rows] == [("migrateToURI3", "failed"), ("migrate3", "not tried")]
    assert "domain 'disky' already exists" in rows[0].message
    assert "deleted volume images/disky.qcow2 on the destination" in failed.summary
    assert _volumes(b.tcp_uri) == []
    assert where_is(uuid, a.tcp_uri, b.tcp_uri) == {a.tcp_uri: "running"}
    _clear_name(b.tcp_uri, "disky")

    root = run(services.migrations.run(run(services.migrations.negotiate(a.tcp_uri, uuid, b.tcp_uri))), timeout=60)
    assert root.status == "succeeded", root.outcome
    assert [c.op for c in root.children] == ["precreate_volume", "migrate_domain"]
    assert where_is(uuid, a.tcp_uri, b.tcp_uri) == {b.tcp_uri: "running"}
    assert _volumes(b.tcp_uri) == ["disky.qcow2"]
    qtbot.waitUntil(lambda: agrees(services, db_url, uuid, b.tcp_uri), timeout=5000)


def _clear_name(uri, name):
    conn = open_admin(uri)
    try:
        conn.lookupByName(name).undefine()
    finally:
        conn.close()


def test_refusals_name_the_reason_before_anything_is_touched(hosts, services, run, qtbot, lab_pair):
    a, b = hosts
    tiny_running_on(a, services, qtbot)

    # The name is taken on the destination by another machine.
    other = open_admin(b.tcp_uri)
    other.defineXML(TINY_XML.replace(TINY_UUID, str(uuidlib.uuid4())))
    other.close()
    taken = run(services.migrations.negotiate(a.tcp_uri, "tiny1", b.tcp_uri))
    assert not taken.decision.allowed
    assert "another machine named tiny1" in taken.decision.reason()
    _clear_name(b.tcp_uri, "tiny1")

    # The destination's driver offers no QEMU machine at all (the test driver, served by b).
    test_uri = f"test+tcp://{b.address}/default"
    host = services.inventory.add_host(test_uri)
    assert run(services.migrations.inventory.connect_host(host))
    wrong = run(services.migrations.negotiate(a.tcp_uri, "tiny1", test_uri))
    reasons = {r.name for r in wrong.decision.refused_because}
    assert {"Hypervisor driver", "Domain type", "Migration features"} <= reasons, wrong.decision.reason()
    assert "cannot run a 'qemu' x86_64 machine" in wrong.decision.reason()

    # A third daemon that claims a's host UUID: libvirt would say "same host"; we say it first.
    twin = type(a)("mc", a.env["ECP_LAB_DIR"], "10.98.0.3", host_uuid=services.inventory.hosts[a.tcp_uri]
                   .facts.host_uuid)
    twin.start()
    try:
        host = services.inventory.add_host(twin.tcp_uri)
        assert run(services.inventory.connect_host(host))
        same = run(services.migrations.negotiate(a.tcp_uri, "tiny1", twin.tcp_uri))
        assert [r.name for r in same.decision.refused_because] == ["Same host"]
    finally:
        run(services.inventory.remove_host(twin.tcp_uri))
        twin.crash_host()
        twin.net_down()
    assert where_is(TINY_UUID, a.tcp_uri, b.tcp_uri) == {a.tcp_uri: "running"}


# ----- slow migrations: the Linux guest with random data in RAM ------------------------------

@pytest.fixture
def busy_guest(hosts, guest_dir, tmp_path, services, qtbot):
    a, b = hosts
    console = str(tmp_path / "console.log")
    admin = open_admin(a.tcp_uri)
    dom = admin.defineXML(linux_guest_xml("lin1", guest_dir, console))
    dom.create()
    uuid = dom.UUIDString()
    admin.close()
    wait_for_console(console, "GUEST-FILLED")
    qtbot.waitUntil(lambda: (a.tcp_uri, uuid) in services.inventory.machines, timeout=5000)
    return a, b, uuid, console


def _start_migration(services, run, a, b, uuid, **options):
    from ecp_desktop.services.core.aio import spawn
    plan = run(services.migrations.negotiate(a.tcp_uri, uuid, b.tcp_uri, MigrationOptions(**options)))
    assert plan.decision.method == P2P or options.get("method"), plan.decision.reason()
    flow = services.engine.run(services.migrations.plan(plan))
    return spawn(flow)


def _step(services, uuid):
    return next((c for t in reversed(services.tasks.tasks) for c in t.children
                 if c.op == "migrate_domain" and c.target_uuid == uuid), None)


def _moving(services, uuid):
    step = _step(services, uuid)
    return step is not None and "MiB/s" in step.summary


def _still_ticking(console):
    """The guest's clock still prints: it kept running through it all."""
    def ticks():
        with open(console, errors="replace") as text:
            return text.read().count("tick")
    before = ticks()
    time.sleep(2.5)
    return ticks() > before


def test_a_throttled_migration_reports_progress_and_cancel_aborts_it(busy_guest, services, run, qtbot, db_url):
    a, b, uuid, console = busy_guest
    task = _start_migration(services, run, a, b, uuid, bandwidth_mib=2)
    qtbot.waitUntil(lambda: _moving(services, uuid), timeout=10000)
    step = _step(services, uuid)
    assert 0 <= step.progress < 100 and "MiB left" in step.summary
    step.root().cancel()
    qtbot.waitUntil(task.done, timeout=30000)
    root = task.result()
    assert root.status == "cancelled", root.outcome
    assert step.error.code_name == "OPERATION_ABORTED"
    assert where_is(uuid, a.tcp_uri, b.tcp_uri) == {a.tcp_uri: "running"}
    assert _still_ticking(console)
    qtbot.waitUntil(lambda: agrees(services, db_url, uuid, a.tcp_uri), timeout=5000)


def test_destination_daemon_killed_mid_migration(busy_guest, services, run, qtbot, db_url):
    a, b, uuid, console = busy_guest
    task = _start_migration(services, run, a, b, uuid, bandwidth_mib=2)
    qtbot.waitUntil(lambda: _moving(services, uuid), timeout=10000)
    b.kill()
    qtbot.waitUntil(task.done, timeout=60000)
    assert task.result().status == "failed"
    assert where_is(uuid, a.tcp_uri) == {a.tcp_uri: "running"}
    assert _still_ticking(console)
    b.start()  # libvirtd kills the orphaned incoming QEMU when it starts again
    qtbot.waitUntil(lambda: where_is(uuid, a.tcp_uri, b.tcp_uri) == {a.tcp_uri: "running"}, timeout=20000)
    qtbot.waitUntil(lambda: agrees(services, db_url, uuid, a.tcp_uri), timeout=20000)


def test_destination_qemu_killed_mid_migration(busy_guest, services, run, qtbot, db_url):
    a, b, uuid, console = busy_guest
    task = _start_migration(services, run, a, b, uuid, bandwidth_mib=2)
    qtbot.waitUntil(lambda: _moving(services, uuid), timeout=10000)
    pid_file = os.path.join(a.env["ECP_LAB_DIR"], "mb", "run", "qemu", "lin1.pid")
    os.kill(int(Path(pid_file).read_text()), 9)
    qtbot.waitUntil(task.done, timeout=60000)
    root = task.result()
    assert root.status == "failed"
    # libvirt words it by timing: "job 'migration out' failed: Unable to write to socket" or
    # "qemu unexpectedly closed the monitor"; both come from the QEMU driver.
    error = root.children[-1].error
    assert error.code_name in ("OPERATION_FAILED", "INTERNAL_ERROR") and error.domain_name == "QEMU", error
    assert where_is(uuid, a.tcp_uri, b.tcp_uri) == {a.tcp_uri: "running"}
    assert _still_ticking(console)
    qtbot.waitUntil(lambda: agrees(services, db_url, uuid, a.tcp_uri), timeout=5000)


def test_network_cut_on_a_managed_migration_ends_by_the_stall_timeout(busy_guest, services, run, qtbot, db_url):
    a, b, uuid, console = busy_guest
    task = _start_migration(services, run, a, b, uuid, bandwidth_mib=2, method=MANAGED, stall_timeout_s=3)
    qtbot.waitUntil(lambda: _moving(services, uuid), timeout=10000)
    step = _step(services, uuid)
    b.net_cut()
    try:
        qtbot.waitUntil(task.done, timeout=90000)
    finally:
        b.net_restore()
    root = task.result()
    assert root.status == "failed", root.outcome
    assert "stalled: no data moved for 3 s" in step.error.message
    qtbot.waitUntil(lambda: where_is(uuid, a.tcp_uri, b.tcp_uri) == {a.tcp_uri: "running"}, timeout=30000)
    assert _still_ticking(console)
    qtbot.waitUntil(lambda: agrees(services, db_url, uuid, a.tcp_uri), timeout=30000)


def test_the_dialog_migrates_with_progress_and_the_window_follows(hosts, services, run, qtbot, db_url, tmp_path):
    from PySide6.QtCore import QSettings

    from ecp_desktop.views.window.main_window import MainWindow
    from ecp_desktop.views.migration.migration_dialog import MigrationDialog
    a, b = hosts
    tiny_running_on(a, services, qtbot)
    window = MainWindow(services, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    dialog = MigrationDialog(services.inventory, services.tasks, services.migrations, window.maintenance_marks,
                             services.inventory.machines[(a.tcp_uri, TINY_UUID)], window.show_errors, window)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(dialog.checking.done, timeout=10000)
    assert dialog.destinations.currentItem().text().endswith(P2P)
    assert "Plan:</b> live peer-to-peer" in dialog.plan.text() and dialog.migrate_button.isEnabled()
    dialog.migrate_button.click()
    qtbot.waitUntil(lambda: dialog.progress.value() == 100, timeout=30000)
    assert "moved to" in dialog.progress_text.text() and "downtime" in dialog.progress_text.text()
    verdicts = {dialog.table.item(r, 0).text(): dialog.table.item(r, 3).text() for r in range(dialog.table.rowCount())}
    assert verdicts["Method 1: live peer-to-peer via migrateToURI3"] == "SUCCEEDED"
    assert verdicts["Method 2: live managed via migrate3"] == "NOT TRIED"
    assert where_is(TINY_UUID, a.tcp_uri, b.tcp_uri) == {b.tcp_uri: "running"}
    qtbot.waitUntil(lambda: agrees(services, db_url, TINY_UUID, b.tcp_uri), timeout=5000)


def test_the_app_killed_mid_migration_is_recovered_to_one_host(busy_guest, db_url):
    """A `migrate` process killed with SIGKILL while the stream runs; `recover` settles it."""
    import json
    import signal
    import subprocess
    import sys
    a, b, uuid, console = busy_guest
    base = [sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", a.tcp_uri,
            "--connect", b.tcp_uri]
    migrating = subprocess.Popen(base + ["migrate", "lin1", b.tcp_uri, "--bandwidth", "2"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while b.tcp_uri not in where_is(uuid, b.tcp_uri):  # the incoming copy exists: mid-stream
            assert time.monotonic() < deadline and migrating.poll() is None, migrating.communicate()
            time.sleep(0.2)
        time.sleep(1)
        migrating.send_signal(signal.SIGKILL)
    finally:
        migrating.communicate(timeout=30)
    recovered = subprocess.run(base + ["finish-interrupted", "--json"], capture_output=True, text=True, timeout=120)
    assert recovered.returncode == 0, recovered.stderr
    report = json.loads(recovered.stdout)
    assert report["finished"], "the interrupted migration was not finished"
    placed = where_is(uuid, a.tcp_uri, b.tcp_uri)
    running = [uri for uri, state in placed.items() if state == "running"]
    assert len(running) == 1, placed  # exactly one host runs it, whichever the daemons settled on
    side = "destination" if running == [b.tcp_uri] else "source"
    assert f"lin1 is on the {side}" in report["finished"][0]["outcome"], report
    print(f"after the crash: {report['finished'][0]['outcome']}")
    assert _still_ticking(console)
    unfinished = query(db_url, "SELECT id FROM task WHERE status IN ('pending', 'running', 'rolling back')")
    assert unfinished == []
    again = subprocess.run(base + ["finish-interrupted"], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "nothing to finish" in again.stdout


# ----- the ladder: a way of migrating refused by libvirt, then the next ----------------------

class Relay:
    """A TCP relay on this process's loopback to b's libvirtd, as an SSH tunnel would be: the
    client reaches b through it, but a's daemon, in its own network namespace, cannot (its
    127.0.0.1 is its own). So libvirt refuses peer-to-peer for real: a's daemon cannot open
    the destination URI it is given; a client-managed migration uses our connection instead."""

    def __init__(self, target: tuple[str, int]) -> None:
        import socket
        import threading
        self.target, self.server = target, socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.open: list = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import socket
        import threading
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self.target)
            self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source, sink) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            try:
                sink.shutdown(2)
            except OSError:
                pass

    def close(self) -> None:
        self.server.close()
        for sock in self.open:
            sock.close()


@pytest.fixture
def b_through_a_tunnel(hosts, services, run):
    a, b = hosts
    relay = Relay((b.address, 16509))
    uri = f"qemu+tcp://127.0.0.1:{relay.port}/system"
    host = services.inventory.add_host(uri)
    assert run(services.inventory.connect_host(host)), host.reason
    yield uri
    run(services.inventory.remove_host(uri))
    relay.close()


def test_peer_to_peer_refused_by_the_destination_falls_back_to_managed_and_succeeds(
        hosts, services, run, qtbot, b_through_a_tunnel):
    a, b = hosts
    tiny_running_on(a, services, qtbot)
    negotiation = run(services.migrations.negotiate(a.tcp_uri, "tiny1", b_through_a_tunnel))
    ladder = [(m.method, m.api) for m in negotiation.methods() if m.verdict == "candidate"]
    assert ladder[:2] == [(P2P, "migrateToURI3"), (MANAGED, "migrate3")], negotiation.decision.reason()

    root = run(services.migrations.run(negotiation), timeout=60)
    assert root.status == "succeeded", root.outcome
    step = next(c for c in root.children if c.op == "migrate_domain")
    rows = tried_rows(step.params)
    assert [(r.method, r.api, r.verdict) for r in rows[:2]] == [
        (P2P, "migrateToURI3", "refused"), (MANAGED, "migrate3", "succeeded")]
    # libvirt's words: "unable to connect to server at '127.0.0.1:PORT': Connection refused"
    assert rows[0].code == "SYSTEM_ERROR" and "unable to connect to server at '127.0.0.1:" in rows[0].message, rows[0]
    assert all(r.verdict == "not tried" for r in rows[2:])
    assert "moved to" in step.summary
    assert where_is(TINY_UUID, a.tcp_uri, b.tcp_uri) == {b.tcp_uri: "running"}


def test_every_way_refused_by_libvirt_exits_4_with_every_row(hosts, services, qtbot, db_url):
    """The stream's URI has a scheme QEMU's driver refuses whatever the API: libvirt refuses
    every rung with ARGUMENT_UNSUPPORTED, each is tried, and the command says why, each time."""
    import json
    import subprocess
    import sys
    a, b = hosts
    tiny_running_on(a, services, qtbot)
    done = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", a.tcp_uri,
                           "--connect", b.tcp_uri, "migrate", "tiny1", b.tcp_uri, "--json",
                           "--migration-address", "ftp://10.98.0.2"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 4, (done.stdout, done.stderr)
    methods = json.loads(done.stdout)["methods"]
    assert [(m["method"], m["api"], m["verdict"], m["code"]) for m in methods] == [
        (method, api, "refused", "ARGUMENT_UNSUPPORTED") for method, api in (
            (P2P, "migrateToURI3"), (MANAGED, "migrate3"), (P2P, "migrateToURI2"), (MANAGED, "migrate2"))]
    assert all("unsupported scheme ftp in migration URI" in m["message"] for m in methods)
    assert where_is(TINY_UUID, a.tcp_uri, b.tcp_uri) == {a.tcp_uri: "running"}

    text = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", a.tcp_uri,
                           "--connect", b.tcp_uri, "migrate", "tiny1", b.tcp_uri,
                           "--migration-address", "ftp://10.98.0.2"], capture_output=True, text=True, timeout=120)
    assert text.returncode == 4
    for number, label in enumerate(("live peer-to-peer via migrateToURI3", "live managed via migrate3",
                                    "live peer-to-peer via migrateToURI2", "live managed via migrate2"), 1):
        assert f"Method {number}: {label}" in text.stdout
    assert text.stdout.count("libvirt: ARGUMENT_UNSUPPORTED: argument unsupported: unsupported scheme ftp") == 4
    assert "refused: libvirt refused every way of migrating" in text.stdout
    assert where_is(TINY_UUID, a.tcp_uri, b.tcp_uri) == {a.tcp_uri: "running"}
