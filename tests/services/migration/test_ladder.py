"""The ladder of ways to migrate, on libvirt's test driver, whose refusals are real.

The test driver has no migration at all: each entry point refuses for real
(migrateToURI3/migrateToURI2: ARGUMENT_UNSUPPORTED "p2p migration is not supported by the
source host"; migrate3/migrate2: NO_SUPPORT "this function is not supported by the
connection driver"). Where a test needs the negotiation to let a migration start, the facts
read from the real hosts are edited to claim migration features (the test driver's
capabilities list none): the refusals that follow are libvirt's own. A fallback that
succeeds needs real QEMU hosts: tests/lab/test_migration.py.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from ecp_desktop.services.libvirt_xml.domain import Disk
from ecp_desktop.services.migration.checks import MigrationOptions, decide
from ecp_desktop.services.migration.ladder import LADDER, tried_rows
from ecp_desktop.services.migration.option_support import version
from ecp_desktop.services.migration.service import Negotiation

from ...helpers import TEMPLATE_URI

DEFAULT = "test:///default"
EVERY_LIVE_REFUSAL = [  # in the order tried, with libvirt's real answer on the test driver
    ("live peer-to-peer", "migrateToURI3", "ARGUMENT_UNSUPPORTED", "p2p migration is not supported"),
    ("live managed", "migrate3", "NO_SUPPORT", "virDomainMigrate3"),
    ("live peer-to-peer", "migrateToURI2", "ARGUMENT_UNSUPPORTED", "p2p migration is not supported"),
    ("live managed", "migrate2", "NO_SUPPORT", "virDomainMigrate2"),
]


@pytest.fixture
def hosts(services, run, qtbot):
    for uri in (DEFAULT, TEMPLATE_URI):
        host = services.inventory.add_host(uri)
        assert run(services.inventory.connect_host(host))
        if uri == DEFAULT:  # test:///default is one per process: an earlier test may have stopped "test"
            run(host.call(lambda c: c.lookupByName("test").isActive() or c.lookupByName("test").create()))
        run(services.inventory.load_host(host))
    return services


def claiming_migration(negotiation: Negotiation, options: MigrationOptions | None = None) -> Negotiation:
    """The negotiation re-decided as if both test-driver hosts listed migration features."""
    f = negotiation.facts
    able = dict(migrates=True, live=True, transports=["tcp"])
    f.source = replace(f.source, **able, host_uuid="11111111-1111-4111-8111-111111111111")
    f.destination = replace(f.destination, **able, host_uuid="22222222-2222-4222-8222-222222222222",
                            free_memory=64 * 2**30)
    f.machine.disks = [Disk(target="vda", kind="network", protocol="rbd")]  # shared storage
    f.options = options or MigrationOptions()
    negotiation.decision = decide(f)
    return negotiation


def migrate_step(root):
    return next(c for c in root.children if c.op == "migrate_domain")


def cli(*args, db):
    return subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db, *args],
                          capture_output=True, text=True, timeout=60)


def test_check_only_json_lists_every_method_in_order_with_its_verdict_and_reasons(db_url):
    done = cli("--connect", DEFAULT, "migrate", "test", TEMPLATE_URI, "--check-only", "--json", db=db_url)
    assert done.returncode == 4, done.stderr
    methods = json.loads(done.stdout)["negotiation"]["methods"]
    assert [(m["method"], m["api"]) for m in methods] == [(r.method, r.api) for r in LADDER]
    assert methods[0]["method"] == "live peer-to-peer" and methods[0]["api"] == "migrateToURI3"
    assert all(m["verdict"] == "ruled out" for m in methods)
    assert any("does not migrate machines" in reason for reason in methods[0]["reasons"])
    offline = next(m for m in methods if m["method"] == "offline")
    assert any("running" in reason for reason in offline["reasons"])  # the machine runs: not offline

    text = cli("--connect", DEFAULT, "migrate", "test", TEMPLATE_URI, "--check-only", db=db_url)
    assert text.returncode == 4
    assert "Method 1: live peer-to-peer via migrateToURI3" in text.stdout and "RULED OUT" in text.stdout


def test_each_method_libvirt_refuses_is_a_row_and_the_next_is_tried_until_none_is_left(hosts, run):
    negotiation = claiming_migration(run(hosts.migrations.negotiate(DEFAULT, "test", TEMPLATE_URI)))
    candidates = [(m.method, m.api) for m in negotiation.methods() if m.verdict == "candidate"]
    assert candidates == [(method, api) for method, api, _code, _words in EVERY_LIVE_REFUSAL]

    root = run(hosts.migrations.run(negotiation), timeout=30)
    assert root.status == "failed", root.outcome
    step = migrate_step(root)
    rows = tried_rows(step.params)
    assert [(r.method, r.api, r.verdict, r.code) for r in rows] == [
        (method, api, "refused", code) for method, api, code, _words in EVERY_LIVE_REFUSAL]
    for row, (_method, _api, _code, words) in zip(rows, EVERY_LIVE_REFUSAL, strict=True):
        assert words in row.message
    assert step.error.message.startswith("every way of migrating was refused: live peer-to-peer via migrateToURI3")
    assert "virDomainMigrate2" in step.error.message  # every reason, the last one too
    # Nothing moved: the machine still runs on its host and nowhere else.
    assert [m.name for m in hosts.inventory.machines_of(DEFAULT)] == ["test"]
    assert "test" not in [m.name for m in hosts.inventory.machines_of(TEMPLATE_URI)]


def test_a_shut_off_machine_climbs_the_offline_rungs(hosts, run):
    source = hosts.inventory.hosts[DEFAULT]
    run(source.call(lambda conn: conn.lookupByName("test").destroy(), operation="force off"))
    negotiation = claiming_migration(run(hosts.migrations.negotiate(DEFAULT, "test", TEMPLATE_URI)))
    assert negotiation.machine.state == "shutoff" and negotiation.decision.method == "offline"
    root = run(hosts.migrations.run(negotiation), timeout=30)
    rows = tried_rows(migrate_step(root).params)
    assert [(r.method, r.api) for r in rows] == [("offline", "migrateToURI3"), ("offline", "migrate3"),
                                                 ("offline", "migrateToURI2"), ("offline", "migrate2")]
    assert all(r.verdict == "refused" for r in rows)
    assert "offline migration is not supported" in rows[0].message


def test_options_an_older_host_cannot_honour_are_rows_naming_the_version_that_would(hosts, run):
    # libvirt 9.0 is the only libvirt here: an older host is the facts' versions edited.
    negotiation = claiming_migration(run(hosts.migrations.negotiate(DEFAULT, "test", TEMPLATE_URI)),
                                     MigrationOptions(postcopy=True, auto_converge=True))
    assert negotiation.decision.allowed  # both hosts run libvirt 9.0: every option is honoured
    f = negotiation.facts
    f.destination = replace(f.destination, libvirt_version=version(1, 2, 5))
    f.source = replace(f.source, driver="QEMU", hypervisor_version=version(2, 5, 0))
    f.destination.driver, f.destination.hypervisor_version = "QEMU", version(7, 2, 0)
    decision = decide(f)
    rows = {r.name: r for r in decision.results if r.name.startswith("Option: ")}
    assert set(rows) == {"Option: Post-copy"}
    assert not decision.allowed
    reason = decision.reason()
    assert "the destination runs libvirt 1.2.5, which cannot honour VIR_MIGRATE_POSTCOPY" in reason
    assert "libvirt 1.3.3 or later" in reason
    assert "the source runs QEMU 2.5.0" in reason and "QEMU 2.6.0 or later" in reason
    copy = next(r for r in decision.results if r.name == "Method: live with copy-storage")
    assert "has no VIR_MIGRATE_PARAM_MIGRATE_DISKS (it needs libvirt 1.2.17 or later)" in copy.note
    f.options = MigrationOptions(auto_converge=True, migration_address="10.0.0.2")
    f.destination = replace(f.destination, libvirt_version=version(1, 0, 0))
    names = {r.name for r in decide(f).results if r.verdict == "fail"}
    assert {"Option: Auto-converge", "Option: Migration address"} <= names
    # An older host still has the older APIs: the methods with parameters are ruled out, by version.
    f.options = MigrationOptions()
    methods = {(m.method, m.api): m for m in Negotiation(f, decide(f), 0).methods()}
    assert methods[("live peer-to-peer", "migrateToURI3")].verdict == "ruled out"
    assert "virDomainMigrateToURI3 needs libvirt 1.1.0 or later" in methods[
        ("live peer-to-peer", "migrateToURI3")].reasons[-1]
    assert methods[("live peer-to-peer", "migrateToURI2")].verdict == "candidate"


def test_the_dialog_shows_the_cli_rows_and_each_refusal_as_it_comes(hosts, run, qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from ecp_desktop.views.window.main_window import MainWindow
    from ecp_desktop.views.migration.migration_dialog import MigrationDialog
    window = MainWindow(hosts, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    machine = next(m for m in hosts.inventory.machines_of(DEFAULT) if m.name == "test")
    dialog = MigrationDialog(hosts.inventory, hosts.tasks, hosts.migrations, window.maintenance_marks,
                             machine, window.show_errors, window)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(dialog.checking.done, timeout=5000)

    def table():
        return {dialog.table.item(r, 0).text(): (dialog.table.item(r, 1).text(), dialog.table.item(r, 2).text(),
                                                 dialog.table.item(r, 3).text())
                for r in range(dialog.table.rowCount())}
    before = table()
    assert before["Method 1: live peer-to-peer via migrateToURI3"][2] == "RULED OUT"
    assert "does not migrate machines" in before["Method 1: live peer-to-peer via migrateToURI3"][1]

    shown = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    seen: list[list[str]] = []  # the verdict column each time the table changed while it ran
    hosts.tasks.task_changed.connect(lambda _r: seen.append([dialog.table.item(r, 3).text() for r in
                                                             range(dialog.table.rowCount())]))
    dialog.negotiations[TEMPLATE_URI] = claiming_migration(dialog.negotiations[TEMPLATE_URI])
    dialog._show_current()
    assert "if libvirt refuses it: live managed via migrate3" in dialog.plan.text()
    assert dialog.migrate_button.isEnabled()
    dialog.migrate_button.click()
    qtbot.waitUntil(lambda: dialog.running.done(), timeout=20000)
    after = table()
    assert [after[f"Method {n}: {m} via {a}"] for n, (m, a, _c, _w) in enumerate(EVERY_LIVE_REFUSAL, 1)] == [
        (code, after[f"Method {n}: {m} via {a}"][1], "REFUSED")
        for n, (m, a, code, _w) in enumerate(EVERY_LIVE_REFUSAL, 1)]
    assert "virDomainMigrate3" in after["Method 2: live managed via migrate3"][1]
    assert any("TRYING" in verdicts for verdicts in seen)  # live: each method shown while it was tried
    assert shown[0] == dialog.table.item(0, 0).text()
    cell = dialog.table.item(next(r for r in range(dialog.table.rowCount())
                                  if dialog.table.item(r, 0).text().startswith("Method 1")), 2)
    assert cell.toolTip().startswith("<qt>") and "<b>" not in cell.toolTip()  # libvirt's words, escaped
    window.close()
