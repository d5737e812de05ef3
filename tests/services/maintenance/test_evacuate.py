"""Host maintenance on the test driver: the evacuation plan, the maintenance mark (schema
version 8) shared by every instance, restore skipping a host in maintenance, and the
command line's exit codes and JSON.

The test driver cannot migrate, so the plan's bookkeeping is fed the migration service's
real negotiations (three test hosts), edited where the test driver cannot be what a plan
needs (hosts that migrate, free memory), and decided again by the same check table.
Real evacuations run in the lab tier (tests/lab/test_evacuate_lab.py).
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from ecp_desktop.models import schema, upgrades
from ecp_desktop.services.actions.restore import restore_candidates
from ecp_desktop.services.libvirt_xml.domain import Disk
from ecp_desktop.services.inventory import store
from ecp_desktop.services.maintenance import mark
from ecp_desktop.services.maintenance.evacuate import EvacuationService
from ecp_desktop.services.maintenance.return_home import ReturnHome
from ecp_desktop.services.maintenance.plan import LEAVE, DestinationCapacity, Machine, make_plan, order
from ecp_desktop.services.migration.checks import LIVE, OFFLINE, P2P, decide
from ecp_desktop.services.migration.service import Negotiation

from ...helpers import LAB_URI, TEMPLATE_URI, query
from ...helpers.gui import select_machine
from ...helpers.inventory import set_up, uuid_of

DEFAULT = "test:///default"
DEAD = "qemu+tcp://127.0.0.1:1/system"  # nothing listens on port 1: refused at once
GIB = 2**30
HOST_UUIDS = {LAB_URI: "11111111-1111-4111-8111-111111111111", DEFAULT: "22222222-2222-4222-8222-222222222222",
              TEMPLATE_URI: "33333333-3333-4333-8333-333333333333"}


@pytest.fixture
def three(services, run, qtbot):
    for uri in (LAB_URI, DEFAULT, TEMPLATE_URI):
        host = services.inventory.add_host(uri)
        assert run(services.inventory.connect_host(host))
        run(services.inventory.load_host(host))
    return services


def migrating(negotiation: Negotiation, free: int, **machine) -> Negotiation:
    """The same negotiation between hosts that migrate, with ``free`` bytes on the destination."""
    f = negotiation.facts
    able = dict(migrates=True, live=True, transports=["tcp"])
    f.source = replace(f.source, **able, host_uuid=HOST_UUIDS[f.source.uri])
    f.destination = replace(f.destination, **able, host_uuid=HOST_UUIDS[f.destination.uri], free_memory=free,
                            same_uuid=None, same_name_uuid="")
    arch, domain_type = next(iter(f.destination.guests))  # the test host offers i686 only
    f.machine = replace(f.machine, disks=[Disk(target="vda", kind="network", protocol="rbd")], arch=arch,
                        domain_type=domain_type, machine_type="", **machine)
    return Negotiation(f, decide(f), 0.0)


def negotiated(services, run, free: dict[str, int], sizes: dict[str, int], states: dict[str, str] | None = None,
               persistent: dict[str, bool] | None = None):
    """Machines of the lab host (memory in GiB from ``sizes``), each negotiated with each destination."""
    states, persistent = states or {}, persistent or {}
    machines, negotiations = [], {}
    for info in services.inventory.machines_of(LAB_URI):
        if info.name not in sizes:
            continue
        changes = dict(memory_kib=sizes[info.name] * 2**20, state=states.get(info.name, "running"),
                       persistent=persistent.get(info.name, True))
        for dest in free:
            real = run(services.migrations.negotiate(LAB_URI, info.uuid, dest))
            negotiations[(info.uuid, dest)] = migrating(real, free[dest], **changes)
        machines.append(Machine(info.uuid, info.name, changes["state"], changes["persistent"],
                                changes["memory_kib"], info.vcpus))
    capacities = {uri: DestinationCapacity(uri, uri, size, cpus=8) for uri, size in free.items()}
    return machines, negotiations, capacities


def test_largest_memory_first_and_destinations_balanced_by_what_the_plan_promised(three, run):
    machines, negotiations, capacities = negotiated(
        three, run, {DEFAULT: 10 * GIB, TEMPLATE_URI: 10 * GIB}, {"db01": 4, "web01": 3, "paused01": 2,
                                                                 "stopped01": 1})
    plan = make_plan(LAB_URI, machines, negotiations, capacities)
    assert plan.possible, [m.reason for m in plan.moves]
    assert [m.machine.name for m in plan.moves] == ["db01", "web01", "paused01", "stopped01"]
    assert all(m.method == P2P for m in plan.moves)
    where = {m.machine.name: m.destination for m in plan.moves}
    assert where["db01"] != where["web01"]  # the second-largest goes to the emptier host
    assert where["paused01"] == where["web01"] and where["stopped01"] == where["db01"]
    for capacity in capacities.values():
        assert capacity.promised_memory == 5 * GIB <= capacity.free_memory
    assert plan.as_json()["moves"][0]["checks"]  # the checks table, one click away


def test_a_destination_never_gets_more_than_it_can_hold_and_a_refusal_names_every_destination(three, run):
    machines, negotiations, capacities = negotiated(
        three, run, {DEFAULT: 3 * GIB, TEMPLATE_URI: 3 * GIB}, {"db01": 2, "web01": 2, "paused01": 2})
    plan = make_plan(LAB_URI, machines, negotiations, capacities)
    assert not plan.possible
    placed = [m for m in plan.moves if m.moves]
    assert len(placed) == 2 and {m.destination for m in placed} == {DEFAULT, TEMPLATE_URI}
    [refused] = plan.refused
    assert set(refused.refusals) == {DEFAULT, TEMPLATE_URI}
    assert "not enough memory left: 1024 MiB free after this plan's earlier moves" in refused.reason
    assert all(r.promised_memory <= r.free_memory for r in capacities.values())


def test_a_small_host_is_not_filled_first_and_vcpus_break_ties():
    a, b = Machine("a", "a", "running", True, 2**20, 4), Machine("b", "b", "running", True, 2**20, 1)
    assert [m.name for m in order([b, a])] == ["a", "b"]  # same memory: more vCPUs first
    big = DestinationCapacity("big", "big", 64 * GIB, cpus=8)
    small = DestinationCapacity("small", "small", 2 * GIB, cpus=8)

    class Fake:  # a negotiation that allowed live peer-to-peer (the plan reads only this)
        decision = type("D", (), {"allowed": True, "method": P2P, "reason": lambda self: ""})()
    plan = make_plan("src", [a, b], {(m.uuid, r): Fake() for m in (a, b) for r in ("big", "small")},
                     {"big": big, "small": small})
    assert [m.destination for m in plan.moves] == ["big", "big"]
    big.promised_memory = small.promised_memory = 0
    even = {"x": DestinationCapacity("x", "x", 8 * GIB, cpus=4, promised_vcpus=4),
            "y": DestinationCapacity("y", "y", 8 * GIB, cpus=4)}
    plan = make_plan("src", [b], {(b.uuid, r): Fake() for r in even}, even)
    assert plan.moves[0].destination == "y"  # the same memory left: the host with fewer vCPUs promised


def test_shut_off_machines_move_offline_or_are_left_and_transient_ones_need_live(three, run):
    free = {DEFAULT: 8 * GIB}
    machines, negotiations, capacities = negotiated(three, run, free, {"stopped01": 6, "db01": 6},
                                               states={"stopped01": "shutoff"})
    plan = make_plan(LAB_URI, machines, negotiations, capacities)
    moves = {m.machine.name: m for m in plan.moves}
    assert moves["stopped01"].method == OFFLINE and moves["db01"].method in LIVE
    assert capacities[DEFAULT].promised_memory == 6 * GIB  # a definition takes no memory
    capacities[DEFAULT].promised_memory = capacities[DEFAULT].promised_vcpus = 0
    left = make_plan(LAB_URI, machines, negotiations, capacities, shut_off=LEAVE)
    assert {m.machine.name: m.left for m in left.moves} == {"db01": False, "stopped01": True} and left.possible

    machines, negotiations, capacities = negotiated(three, run, free, {"web01": 1}, persistent={"web01": False})
    for key, negotiation in negotiations.items():  # a destination without live migration
        negotiation.facts.destination.live = False
        negotiations[key] = Negotiation(negotiation.facts, decide(negotiation.facts), 0.0)
    plan = make_plan(LAB_URI, machines, negotiations, capacities)
    assert not plan.possible and "no live migration" in plan.refused[0].reason


def test_on_the_test_driver_the_plan_is_refused_with_every_reason_and_a_host_in_maintenance_is_no_destination(
        three, run):
    evacuation = EvacuationService(three.migrations)
    assert three.executors.database.submit(mark.set_maintenance, TEMPLATE_URI, True).result()
    plan = run(evacuation.plan(LAB_URI))
    assert list(plan.capacities) == [DEFAULT]
    assert f"{TEMPLATE_URI}: in maintenance, no destination" in plan.notes
    assert not plan.possible and len(plan.refused) == 4
    assert all("TEST driver does not migrate machines" in m.reason for m in plan.refused)
    # Nothing moved, and the flow for what could move is the migration service's plan per machine.
    assert {m.name for m in three.inventory.machines_of(LAB_URI)} == {"web01", "db01", "paused01", "stopped01"}


def test_the_flow_is_one_task_with_a_group_per_destination_and_the_migration_step_per_machine(three, run):
    machines, negotiations, capacities = negotiated(three, run, {DEFAULT: 10 * GIB, TEMPLATE_URI: 10 * GIB},
                                               {"db01": 4, "web01": 3, "paused01": 2})
    plan = make_plan(LAB_URI, machines, negotiations, capacities)
    flow = EvacuationService(three.migrations).flow(plan, policy="keep-going", parallel=3)
    assert flow.kind == "evacuate" and flow.concurrent and len(flow.children) == 2
    for group in flow.children:
        assert group.concurrent and group.limit == 3
        for machine_flow in group.children:
            [step] = [s for s in machine_flow.children if s.op == "evacuate_domain"]
            assert step.params["policy"] == "keep-going" and step.params["dest_uri"] == group.host_uri
            assert step.host_uri == LAB_URI and step.params["ladder"]
    with pytest.raises(ValueError, match="unknown policy"):
        EvacuationService(three.migrations).flow(plan, policy="shrug")


def cli(db_url, *args):
    return subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, *args],
                          capture_output=True, text=True, timeout=60)


def test_the_mark_is_seen_by_every_instance_and_restore_starts_nothing_on_that_host(db, db_url):
    set_up(db)
    store.set_desired(LAB_URI, [uuid_of("stopped01")], "running")
    on = cli(db_url, "maintenance", LAB_URI, "on")  # another process: another instance
    assert on.returncode == 0 and "in maintenance since" in on.stdout, on.stderr
    marks = mark.in_maintenance()  # this instance sees it
    assert list(marks) == [LAB_URI] and marks[LAB_URI].by.count(":") == 2
    assert query(db_url, "SELECT maintenance_by FROM host WHERE maintenance_by <> ''")[0][0] == marks[LAB_URI].by
    _reason, grouped = restore_candidates()
    assert all(c.skip.startswith("its host is in maintenance since") for c in grouped[LAB_URI])
    done = cli(db_url, "restore", "--json")
    summary = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    assert {m["outcome"] for m in summary["machines"]} == {"in maintenance"}
    assert "in maintenance" in summary["machines"][0]["detail"]
    shown = json.loads(cli(db_url, "maintenance", LAB_URI, "--json").stdout)
    assert shown["maintenance"] is True and shown["by"] == marks[LAB_URI].by

    off = cli(db_url, "maintenance", LAB_URI, "off")
    assert off.returncode == 0 and "not in maintenance" in off.stdout
    summary = json.loads(cli(db_url, "restore", "--json").stdout)
    assert {m["name"]: m["outcome"] for m in summary["machines"]}["stopped01"] == "started"
    unknown = cli(db_url, "maintenance", DEAD, "on")
    assert unknown.returncode == 2 and "no host" in unknown.stderr
    assert cli(db_url, "maintenance", "not a uri", "on").returncode == 2


def test_version_7_is_upgraded_to_8_and_keeps_its_hosts(fresh_db):
    with fresh_db.connection_context():
        fresh_db.create_tables([schema.SchemaVersion])
        for version, name, step in upgrades.STEPS:
            if version <= 7:
                with fresh_db.atomic():
                    step(fresh_db)
                    schema.SchemaVersion.create(version=version, name=name)
        assert upgrades.current_version(fresh_db) == 7
        assert "maintenance_by" not in {c.name for c in fresh_db.get_columns("host")}
        fresh_db.execute_sql("INSERT INTO host (uri, label, is_demo, autoconnect, hostname, driver_type, "
                             "libvirt_version, hypervisor_version, cpu_model, cpus, memory_mib, created_at, is_local, "
                             "cpu_arch, guest_types) VALUES ('qemu:///old', 'old', FALSE, TRUE, '', '', 0, 0, '', 0, "
                             "0, '2026-01-01 00:00:00', FALSE, '', '[]')")
        assert upgrades.upgrade(fresh_db) == list(range(8, upgrades.LATEST_VERSION + 1))  # 8, and any later
        old = schema.Host.get(schema.Host.uri == "qemu:///old")
        assert (old.maintenance_by, old.maintenance_since) == ("", None)
    assert mark.set_maintenance("qemu:///old", True, by="operator-2") and mark.mark_of("qemu:///old").by == "operator-2"
    assert mark.set_maintenance("qemu:///old", True, by="operator-3")
    assert mark.mark_of("qemu:///old").by == "operator-2"  # the first mark stays
    assert mark.set_maintenance("qemu:///old", False) and mark.mark_of("qemu:///old") is None


def test_evacuate_exit_codes_and_json(db_url):
    refused = cli(db_url, "--connect", LAB_URI, "evacuate", LAB_URI, "--to", TEMPLATE_URI, "--check-only")
    assert refused.returncode == 4, refused.stderr
    assert refused.stdout.startswith("MACHINE") and "web01" in refused.stdout
    assert "web01 cannot move" in refused.stderr and "does not migrate machines" in refused.stderr
    as_json = cli(db_url, "evacuate", LAB_URI, "--to", TEMPLATE_URI, "--check-only", "--json")
    report = json.loads(as_json.stdout)
    assert as_json.returncode == 4 and report["exit"] == 4 and report["plan"]["possible"] is False
    assert {m["machine"] for m in report["plan"]["moves"]} == {"web01", "db01", "paused01", "stopped01"}
    assert [m["memory_mib"] for m in report["plan"]["moves"]] == [1024, 512, 256, 256]
    # Refused before anything moves: the host is not put in maintenance.
    assert cli(db_url, "evacuate", LAB_URI, "--to", TEMPLATE_URI).returncode == 4
    assert json.loads(cli(db_url, "maintenance", LAB_URI, "--json").stdout)["maintenance"] is False
    down = cli(db_url, "evacuate", LAB_URI, "--to", DEAD, "--check-only")
    assert down.returncode == 3 and DEAD in down.stderr
    source_down = cli(db_url, "evacuate", DEAD, "--to", TEMPLATE_URI, "--check-only")
    assert source_down.returncode == 3
    assert cli(db_url, "evacuate", "not a uri").returncode == 2
    assert cli(db_url, "evacuate", LAB_URI, "--parallel", "0").returncode == 2


def test_the_dialog_shows_the_plan_greys_a_host_in_maintenance_and_refuses_to_run_an_impossible_plan(three, qtbot):
    from PySide6.QtCore import Qt

    from ecp_desktop.views.maintenance.maintenance_dialog import MaintenanceDialog
    dialog = MaintenanceDialog(three.inventory, EvacuationService(three.migrations), LAB_URI, {TEMPLATE_URI})
    qtbot.addWidget(dialog)
    items = {dialog.destinations.item(i).data(Qt.ItemDataRole.UserRole): dialog.destinations.item(i)
             for i in range(dialog.destinations.count())}
    greyed = items[TEMPLATE_URI]
    assert not greyed.flags() & Qt.ItemFlag.ItemIsEnabled and "in maintenance" in greyed.text()
    assert dialog.chosen() == [DEFAULT]
    dialog.make_plan()
    qtbot.waitUntil(dialog.job.done, timeout=10000)
    assert dialog.table.rowCount() == 4 and dialog.table.item(0, 0).text() == "db01"  # largest memory first
    assert "does not migrate machines" in dialog.table.item(0, 5).text()
    tip = dialog.table.item(0, 5).toolTip()  # every destination's reason, escaped (names are data)
    assert f"{DEFAULT}: Migration features: the source&#x27;s TEST driver" in tip
    assert not dialog.run_button.isEnabled() and "4 machine(s) cannot move" in dialog.status.text()


def test_host_enter_maintenance_opens_the_plan_for_the_selected_host(qtbot, window, run, services):
    """Host → Enter Maintenance… with one host selected shows its plan (the marks read off
    the GUI thread); with none selected it says what to select."""
    window.hosts_view.clearSelection()
    assert run(window.open_maintenance_dialog()) is None
    assert "select one host" in window.statusBar().currentMessage()
    window.hosts_view.selectRow(0)
    dialog = run(window.open_maintenance_dialog())
    assert dialog is not None and dialog.isVisible()
    assert dialog.host_uri == window.selected_hosts()[0].uri
    dialog.close()


def test_a_host_in_maintenance_is_greyed_in_the_hosts_pane_and_no_destination_or_template_host(
        qtbot, window, run, services):
    """Another operator's mark reaches the window (read off the GUI thread); Exit Maintenance
    clears it, with the plan of the way back."""
    from PySide6.QtCore import Qt

    from ecp_desktop.views.hosts.host_model import STATE
    for uri in (DEFAULT, TEMPLATE_URI):
        host = services.inventory.add_host(uri)
        assert run(services.inventory.connect_host(host))
        run(services.inventory.load_host(host))
    row = next(r for r in range(window.host_model.rowCount()) if window.host_model.host(r).uri == DEFAULT)
    services.executors.database.submit(mark.set_maintenance, DEFAULT, True, "operator-2").result()
    run(window.maintenance_marks.refresh())
    state = window.host_model.index(row, STATE)
    assert state.data().endswith(" · in maintenance") and state.data(Qt.ItemDataRole.ForegroundRole) is not None
    assert "set by operator-2" in state.data(Qt.ItemDataRole.ToolTipRole)

    machine = next(m for m in services.inventory.machines_of(LAB_URI) if m.state == "running")
    select_machine(window, machine)
    migration = window.open_migration_dialog()
    item = next(migration.destinations.item(i) for i in range(migration.destinations.count())
                if migration.destinations.item(i).data(Qt.ItemDataRole.UserRole) == DEFAULT)
    assert item.text().endswith("in maintenance") and not item.flags() & Qt.ItemFlag.ItemIsEnabled
    migration.close()
    on_default = next(m for m in services.inventory.machines_of(DEFAULT))
    select_machine(window, on_default)
    template = window.open_template_dialog()
    assert template.problem_of(on_default)[0] == "host in maintenance"
    template.close()

    window.hosts_view.selectRow(row)
    dialog = run(window.open_exit_maintenance_dialog())
    assert not dialog.exit_button.isEnabled() or dialog.plan is not None  # nothing to press before the plan
    qtbot.waitUntil(lambda: "No machine to bring back" in dialog.status.text())
    assert dialog.exit_button.isEnabled()
    assert not dialog.bring_back.isChecked()
    dialog.exit_button.click()
    qtbot.waitUntil(lambda: "out of maintenance" in dialog.status.text())
    dialog.close()
    qtbot.waitUntil(lambda: not state.data().endswith("in maintenance"))



def _evacuation_history(host_uri: str, steps: list[tuple[str, str, str, dict]]) -> None:
    """Task rows as an evacuation of ``host_uri`` leaves them: (name, uuid, status, extra params);
    a status of "moved back" is a succeeded step with a succeeded rollback task beside it."""
    T = schema.Task
    root = T.create(kind="evacuate", title=f"Evacuate {host_uri}", host_uri=host_uri, status="failed")
    for name, uuid, status, extra in steps:
        row = T.create(kind="evacuate_domain", title=f"Migrate {name}", parent_id=root.id, op="evacuate_domain",
                       target_name=name, target_uuid=uuid, status="succeeded" if status == "moved back" else status,
                       params=json.dumps({"uuid": uuid, "name": name, **extra}))
        if status == "moved back":
            T.create(kind="undo evacuate_domain", title=f"Move {name} back", parent_id=root.id, op="evacuate_domain",
                     reason="rollback", compensates_id=row.id, status="succeeded", params=row.params)


def test_exit_maintenance_plans_only_the_machines_its_last_evacuation_moved_away(three, run, db, db_url):
    from ecp_desktop.services.libvirt_xml.marks import clear_home_mark, set_home_mark
    default_uuid = next(m.uuid for m in three.inventory.machines_of(DEFAULT))
    web01 = next(m.uuid for m in three.inventory.machines_of(LAB_URI) if m.name == "web01")
    default = three.inventory.hosts[DEFAULT]
    _evacuation_history(LAB_URI, [
        ("test", default_uuid, "succeeded", {"outcome": "moved"}),     # now on another host: goes home
        ("web01", web01, "succeeded", {"outcome": "moved"}),           # already back on this host
        ("gone", "c0ffee00-0000-4000-8000-00000000dead", "succeeded", {}),  # no connected host has it
        ("undone", "c0ffee00-0000-4000-8000-00000000beef", "moved back", {}),  # the rollback brought it back
        ("stayed", "c0ffee00-0000-4000-8000-00000000cafe", "succeeded", {"outcome": "stayed"}),  # never left
        ("failed", "c0ffee00-0000-4000-8000-00000000f00d", "failed", {}),
        ("forged", "'; DROP TABLE task; --", "succeeded", {}),  # not a UUID: nothing to look for
    ])
    return_home = ReturnHome(EvacuationService(three.migrations))
    # A forged history alone moves nothing: "test" carries no mark saying it came from there.
    plan = run(return_home.plan(LAB_URI))
    assert "does not carry this host's evacuation mark" in plan.returns[0].reason and not plan.moving
    # As the evacuation left it: libvirt says where it came from.
    run(default.call(lambda conn: set_home_mark(conn.lookupByUUIDString(default_uuid), LAB_URI)))
    plan = run(return_home.plan(LAB_URI))
    run(default.call(lambda conn: clear_home_mark(conn.lookupByUUIDString(default_uuid))))
    reasons = {r.name: r.reason for r in plan.returns}
    assert set(reasons) == {"test", "web01", "gone"}, reasons
    assert reasons["web01"] == "already on this host" and reasons["gone"] == "not on any connected host"
    assert "does not migrate machines" in reasons["test"]  # the test driver's refusal, from the negotiation
    assert plan.returns[0].now_on == DEFAULT and not plan.moving
    mark.set_maintenance(LAB_URI, True)
    assert run(return_home.leave(LAB_URI, plan)) is None  # nothing can move: only the mark is cleared
    assert mark.mark_of(LAB_URI) is None

    checked = cli(db_url, "--connect", LAB_URI, "--connect", DEFAULT, "maintenance", LAB_URI, "off", "--return",
                  "--check-only", "--json")
    assert checked.returncode == 0, checked.stderr
    assert {m["machine"] for m in json.loads(checked.stdout)["plan"]["machines"]} == {"test", "web01", "gone"}
    assert cli(db_url, "maintenance", LAB_URI, "on", "--return").returncode == 2
