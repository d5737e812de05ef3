"""Migration negotiation on libvirt's test driver (which cannot migrate) and its decision table.

Real migrations run in the lab tier (tests/lab/test_migration.py). Here: the report on
hosts that cannot migrate names the reason, nothing is touched, the command line's
--check-only answers with the table and exit 4; and the decision table, fed the facts
read from real (test-driver) hosts, edited where the test driver cannot be what a
check needs (a driver that migrates, shared storage, a CPU it cannot run).
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import libvirt
from PySide6.QtCore import Qt
import pytest

from ecp_desktop.services.core.errors import HypervisorError
from ecp_desktop.services.migration.ladder import API_P2P, Rung, flags_for
from ecp_desktop.services.migration.service import refusal_check
from ecp_desktop.services.migration.checks import COPY_STORAGE, MANAGED, OFFLINE, P2P, MigrationOptions, decide
from ecp_desktop.services.libvirt_xml.domain import Disk

from ...helpers import TEMPLATE_URI

DEFAULT = "test:///default"


@pytest.fixture
def two_hosts(services, run, qtbot):
    for uri in (DEFAULT, TEMPLATE_URI):
        host = services.inventory.add_host(uri)
        assert run(services.inventory.connect_host(host))
        run(services.inventory.load_host(host))
    return services


def test_hosts_that_cannot_migrate_are_refused_with_the_reason_and_nothing_moves(two_hosts, run):
    negotiation = run(two_hosts.migrations.negotiate(DEFAULT, "test", TEMPLATE_URI))
    decision = negotiation.decision
    assert not decision.allowed and decision.method == ""
    features = next(r for r in decision.refused_because if r.name == "Migration features")
    assert features.verdict == "fail"
    assert "TEST driver does not migrate machines" in features.note
    assert "QEMU/KVM" in features.remedy
    assert {r.name for r in decision.results} >= {"Same host", "CPU", "Memory", "Disks", "Running job"}
    # Nothing was touched: the machine still runs on its host and nowhere else.
    assert [m.name for m in two_hosts.inventory.machines_of(DEFAULT)] == ["test"]
    assert "test" not in [m.name for m in two_hosts.inventory.machines_of(TEMPLATE_URI)]
    with pytest.raises(ValueError, match="migration refused: Migration features"):
        two_hosts.migrations.plan(negotiation)


def test_the_same_connection_is_the_same_host(two_hosts, run):
    same = run(two_hosts.migrations.negotiate(DEFAULT, "test", DEFAULT)).decision
    assert "Same host" in [r.name for r in same.refused_because]
    assert "this machine already runs on the destination" in same.reason()


def test_libvirt_own_refusal_maps_to_a_row_of_the_same_table():
    conn = libvirt.open(TEMPLATE_URI)
    other = libvirt.open(TEMPLATE_URI)
    try:
        with pytest.raises(libvirt.libvirtError) as refused:
            conn.lookupByName("busy").migrate3(other, {}, libvirt.VIR_MIGRATE_LIVE)
        error = HypervisorError.from_libvirt(refused.value, operation="migrate")
    finally:
        conn.close()
        other.close()
    row = refusal_check(error)
    assert error.code_name == "NO_SUPPORT" and row is not None
    assert row.name == "Migration features" and "virDomainMigrate3" in row.note
    same = refusal_check(HypervisorError("internal error: Attempt to migrate guest to the same host 1234",
                                         code=libvirt.VIR_ERR_INTERNAL_ERROR))
    assert same is not None and same.name == "Same host"


@pytest.fixture
def facts(two_hosts, run):
    """Facts read from two real hosts, then made into hosts that migrate (the test driver does not)."""
    negotiation = run(two_hosts.migrations.negotiate(DEFAULT, "test", TEMPLATE_URI))
    f = negotiation.facts
    able = dict(migrates=True, live=True, transports=["tcp"])
    f.source = replace(f.source, **able, host_uuid="11111111-1111-4111-8111-111111111111")
    f.destination = replace(f.destination, **able, host_uuid="22222222-2222-4222-8222-222222222222",
                            free_memory=64 * 2**30)
    f.machine.disks = [Disk(target="vda", kind="network", protocol="rbd")]
    return f


def test_the_best_shared_method_wins_in_order_of_preference(facts):
    assert decide(facts).method == P2P
    facts.options = MigrationOptions(tunnelled=True)
    assert decide(facts).method == P2P and flags_for(Rung(P2P, API_P2P), facts.options) & libvirt.VIR_MIGRATE_TUNNELLED
    facts.options = MigrationOptions(method=MANAGED, tunnelled=True)
    refused = decide(facts)
    assert not refused.allowed and [r.name for r in refused.refused_because] == ["Options"]
    facts.options = MigrationOptions()
    facts.destination.transports = ["rdma"]
    assert decide(facts).method == P2P  # p2p can tunnel; the others need a tcp stream


def test_a_shut_off_machine_moves_offline_and_a_running_one_never_does(facts):
    facts.options = MigrationOptions(method=OFFLINE)
    refused = decide(facts)
    assert not refused.allowed and "offline migration would only copy its definition" in refused.reason()
    facts.options = MigrationOptions()
    facts.machine.state = "shutoff"
    decision = decide(facts)
    assert decision.method == OFFLINE
    assert flags_for(Rung(OFFLINE, API_P2P), facts.options) & libvirt.VIR_MIGRATE_OFFLINE


def test_local_disks_need_copy_storage_and_a_pool_at_the_same_path(facts):
    facts.machine.disks = [Disk(target="vda", path="/pool-a/web.qcow2", pool="pool-a", pool_type="dir",
                                volume="web.qcow2", format="qcow2", capacity=2**30)]
    decision = decide(facts)
    assert decision.method == COPY_STORAGE  # the destination has pool-a at /pool-a
    facts.destination.existing_volumes = ["/pool-a/web.qcow2"]
    refused = decide(facts)
    assert not refused.allowed
    assert "/pool-a/web.qcow2 already exists on the destination" in refused.reason()
    facts.destination.existing_volumes = []
    facts.destination.pool_paths = {}
    assert "no storage pool at /pool-a on the destination" in decide(facts).reason()


def test_the_storage_row_names_the_pool_each_disk_is_in_never_another(facts):
    from ecp_desktop.services.migration.checks import CHECKS
    row = next(c for c in CHECKS if c.name == "Storage on destination")
    facts.machine.disks = [Disk(target="vda", path="/guest/disk.img", pool="", pool_type="", volume="",
                                format="raw", capacity=2**30)]
    source_side, _destination = row.probe(facts)
    assert source_side == "vda: in no storage pool (/guest)"  # not the host's other pools
    facts.machine.disks[0].pool, facts.machine.disks[0].path = "pool-a", "/pool-a/web.qcow2"
    assert row.probe(facts)[0] == "vda: pool pool-a (/pool-a)"


def test_cpu_memory_name_and_job_each_stop_a_live_migration(facts):
    for change, words in [
        (lambda f: setattr(f.destination, "cpu_verdict", "incompatible"), "cannot run this machine's CPU"),
        (lambda f: setattr(f.destination, "free_memory", 2**20), "the destination has 1 MiB free"),
        (lambda f: setattr(f.destination, "same_name_uuid", "0000"), "another machine named test"),
        (lambda f: setattr(f.destination, "same_uuid", ("test", "running")), "already runs on the destination"),
        (lambda f: setattr(f.machine, "job", "a bounded job (migration, save, dump)"), "busy with a bounded job"),
        (lambda f: (setattr(f.machine, "machine_type", "pc-q35-99"),
                    f.destination.guests.update({(f.machine.arch, f.machine.domain_type): {"pc-i440fx-7.2"}})),
         "no machine type pc-q35-99"),
    ]:
        original = (replace(facts.destination, guests=dict(facts.destination.guests)), replace(facts.machine))
        change(facts)
        decision = decide(facts)
        assert not decision.allowed and words in decision.reason(), (words, decision.reason())
        facts.destination, facts.machine = original


def cli(*args, db):
    return subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db, *args],
                          capture_output=True, text=True, timeout=60)


def test_check_only_prints_the_table_and_exits_4_when_refused(db_url):
    done = cli("--connect", DEFAULT, "migrate", "test", TEMPLATE_URI, "--check-only", db=db_url)
    assert done.returncode == 4, done.stderr
    assert done.stdout.startswith("CHECK")
    assert "Migration features" in done.stdout and "FAIL" in done.stdout
    assert "refused:" in done.stdout and "TEST driver does not migrate machines" in done.stdout

    as_json = cli("--connect", DEFAULT, "migrate", "test", TEMPLATE_URI, "--check-only", "--json", db=db_url)
    report = json.loads(as_json.stdout)["negotiation"]
    assert as_json.returncode == 4 and report["allowed"] is False and report["method"] == ""
    assert {c["name"]: c["verdict"] for c in report["checks"]}["Migration features"] == "fail"

    unknown = cli("--connect", DEFAULT, "migrate", "nope", TEMPLATE_URI, "--check-only", db=db_url)
    assert unknown.returncode == 2 and "no machine named 'nope'" in unknown.stderr
    down = cli("--connect", DEFAULT, "migrate", "test", "qemu+tcp://127.0.0.1:1/system", "--check-only", db=db_url)
    assert down.returncode == 3 and "cannot reach the destination" in down.stderr
    bad = cli("migrate", "test", "not a uri", db=db_url)
    assert bad.returncode == 2


def test_the_dialog_greys_out_a_destination_that_cannot_take_the_machine_and_says_why(two_hosts, qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from ecp_desktop.views.window.main_window import MainWindow
    from ecp_desktop.views.migration.migration_dialog import MigrationDialog
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(two_hosts, settings)
    qtbot.addWidget(window)
    machine = next(m for m in two_hosts.inventory.machines_of(DEFAULT) if m.name == "test")
    offline = two_hosts.inventory.add_host("qemu+tcp://127.0.0.1:1/system")  # configured, never connected
    assert not offline.connected
    dialog = MigrationDialog(two_hosts.inventory, two_hosts.tasks, two_hosts.migrations, window.maintenance_marks,
                             machine, window.show_errors, window)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(dialog.checking.done, timeout=5000)
    items = {dialog.destinations.item(i).data(Qt.ItemDataRole.UserRole): dialog.destinations.item(i)
             for i in range(dialog.destinations.count())}
    assert set(items) == {TEMPLATE_URI, offline.uri}  # never the machine's own host
    assert not items[offline.uri].flags() & Qt.ItemFlag.ItemIsEnabled
    assert items[TEMPLATE_URI].text().endswith("cannot migrate")
    assert "does not migrate machines" in items[TEMPLATE_URI].toolTip()
    assert dialog.destinations.currentItem() is items[TEMPLATE_URI]
    checks = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    verdicts = {dialog.table.item(r, 0).text(): dialog.table.item(r, 3).text() for r in range(dialog.table.rowCount())}
    assert "CPU" in checks and verdicts["Migration features"] == "FAIL"
    assert "Cannot migrate" in dialog.plan.text() and not dialog.migrate_button.isEnabled()
    dialog.tunnelled.setChecked(True)  # options re-decide on the facts read, without asking the hosts again
    sources = {dialog.table.item(r, 0).text(): dialog.table.item(r, 1).text() for r in range(dialog.table.rowCount())}
    assert sources["Options"] == "tunnelled"
    assert window.menu_actions.migrate.isEnabled() is False  # nothing selected in the window
