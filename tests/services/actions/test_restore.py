"""Restore on the test driver: what should run is started, failures and dead hosts are
reported with their errors, and the desired state follows users and clean exits."""
import json
import subprocess
import sys

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.services.inventory import store
from ecp_desktop.services.actions.restore import restore_candidates
from ecp_desktop.services.setup.startup import open_inventory

from ...helpers import LAB_URI
from ...helpers.inventory import set_up, uuid_of

DEAD = "qemu+tcp://127.0.0.1:1/system"  # nothing listens on port 1: refused at once


def restore(db_url, *args):
    result = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "restore", "--json", *args],
                            capture_output=True, text=True, timeout=60)
    return result.returncode, json.loads(result.stdout), result.stderr


def outcomes(summary):
    return {m["name"]: m["outcome"] for m in summary["machines"]}


def test_without_setup_restore_tries_nothing_and_says_why(db_url):
    handle = open_inventory(db_url)  # the tables, and no local host record: setup has not run
    try:
        assert restore_candidates()[0] == "the local host record has not been written yet: run setup first"
        code, summary, _err = restore(db_url)
        assert code == 0 and summary["machines"] == [] and "run setup first" in summary["skipped"]
    finally:
        handle.close()


def test_machines_that_should_run_are_started_and_policies_are_honoured(db, db_url):
    set_up(db)
    # First sight: running ones should run. The user had started stopped01 last time.
    store.set_desired(LAB_URI, [uuid_of("stopped01")], "running")
    code, summary, err = restore(db_url, "--dry-run")
    assert code == 0, err
    # paused01 is paused for a reason libvirt does not know: by default it is resumed.
    assert outcomes(summary) == {"web01": "already running", "db01": "already running",
                                 "paused01": "would resume", "stopped01": "would start"}
    code, summary, err = restore(db_url)
    assert code == 0, err
    assert outcomes(summary)["stopped01"] == "started" and outcomes(summary)["paused01"] == "resumed"
    with database.connection_context():
        restored = schema.Task.get(schema.Task.title == "Restore stopped01")
        parent = schema.Task.get(schema.Task.title == "Restore running machines")
    assert restored.status == "succeeded" and restored.parent_id == parent.id
    store.set_restore_policy([(LAB_URI, uuid_of("stopped01"))], "never")
    store.set_restore_policy([(LAB_URI, uuid_of("db01"))], "always")
    store.set_desired(LAB_URI, [uuid_of("db01")], "shutoff")
    names = {c.name for c in restore_candidates()[1][LAB_URI]}
    assert names == {"web01", "db01", "paused01"}


def test_a_failing_machine_is_reported_with_its_error_and_the_others_still_start(db, db_url):
    set_up(db)
    store.set_desired(LAB_URI, [uuid_of("stopped01")], "running")
    host_id = schema.Host.get(schema.Host.uri == LAB_URI).id
    with database.connection_context():  # known to the inventory, gone from the host
        schema.Machine.create(host=host_id, uuid="99999999-9999-9999-9999-999999999999", name="vanished",
                              state="running", desired_state="running")
    code, summary, err = restore(db_url)
    assert code == 1
    assert outcomes(summary)["stopped01"] == "started" and outcomes(summary)["vanished"] == "failed"
    error = next(m for m in summary["machines"] if m["name"] == "vanished")["error"]
    assert error["code_name"] == "NO_DOMAIN" and error["domain_name"] and error["summary"]
    assert "vanished did not start" in err


def test_an_unreachable_host_is_reported_and_exits_3(db, db_url):
    set_up(db)
    host_id = store.ensure_host(DEAD, "", False)
    with database.connection_context():
        schema.Machine.create(host=host_id, uuid="88888888-8888-8888-8888-888888888888", name="far",
                              state="running", desired_state="running")
    code, summary, err = restore(db_url)
    assert code == 3 and outcomes(summary)["far"] == "host unreachable"
    assert DEAD in summary["unreachable"] and f"cannot connect to {DEAD}" in err


def test_desired_state_follows_user_actions_and_the_clean_exit(db, services, run, qtbot):
    set_up(db)
    host = services.inventory.add_host(LAB_URI)
    assert run(services.inventory.connect_host(host))
    qtbot.waitUntil(lambda: len(services.inventory.machines) == 4)
    by_name = {m.name: m for m in services.inventory.machines.values()}

    def desired(name, settle=True):
        if settle:
            services.executors.database.submit(lambda: None).result()  # pending writes are done
        with database.connection_context():
            return schema.Machine.get(schema.Machine.name == name).desired_state

    assert desired("stopped01") == "shutoff" and desired("web01") == "running"
    assert run(services.lifecycle.apply("start", by_name["stopped01"])).status == "succeeded"
    assert desired("stopped01") == "running"
    assert run(services.lifecycle.apply("force_off", by_name["web01"])).status == "succeeded"
    assert desired("web01") == "shutoff"
    # Outside the app db01 is stopped; a clean exit records what runs now.
    qtbot.waitUntil(lambda: services.inventory.machines[(LAB_URI, by_name["stopped01"].uuid)].state == "running")
    run(host.call(lambda conn: conn.lookupByName("db01").destroy()))
    qtbot.waitUntil(lambda: services.inventory.machines[(LAB_URI, by_name["db01"].uuid)].state == "shutoff")
    services.shutdown()
    assert desired("db01", settle=False) == "shutoff" and desired("stopped01", settle=False) == "running"


def paused_outcomes(services, run):
    """Restore in this process (the machines' states stay for the test to look at)."""
    reason, grouped = services.executors.database.submit(restore_candidates).result()
    assert not reason
    report = run(services.restore.run(grouped))
    return {r.candidate.name: (r.outcome, r.detail) for r in report.results}


def test_paused_machines_are_resumed_by_the_one_path_or_left_paused_as_the_policy_says(db, services, run, qtbot):
    set_up(db)
    host = services.inventory.add_host(LAB_URI)
    assert run(services.inventory.connect_host(host))
    qtbot.waitUntil(lambda: len(services.inventory.machines) == 4)

    def state(name):
        return run(host.call(lambda conn: conn.lookupByName(name).state()))

    run(host.call(lambda conn: conn.lookupByName("web01").suspend()))  # paused by a user, on purpose
    assert state("web01") == [3, 1] and state("paused01") == [3, 0]  # paused, reason USER / UNKNOWN
    # Default: resume what a fault (or an unknown cause) paused; leave what a user paused.
    found = paused_outcomes(services, run)
    assert found["paused01"] == ("resumed", "paused for a reason libvirt does not know")
    assert found["web01"] == ("left paused", "paused by a user")
    assert state("paused01")[0] == 1 and state("web01")[0] == 3
    resumed = next(t for t in services.tasks.tasks if t.title == "Resume paused01")
    assert resumed.status == "succeeded" and resumed.parent.title == "Restore running machines"

    # Per machine: "resume even if paused on purpose" for web01, "leave paused" for paused01.
    run(host.call(lambda conn: conn.lookupByName("paused01").suspend()))
    store.set_restore_policy([(LAB_URI, uuid_of("web01"))], paused="resume-always")
    store.set_restore_policy([(LAB_URI, uuid_of("paused01"))], paused="keep-paused")
    store.set_restore_policy([(LAB_URI, uuid_of("paused01"))], "always")  # the other half is kept
    with database.connection_context():
        row = schema.Machine.get(schema.Machine.name == "paused01")
        assert (row.restore_policy, row.paused_policy) == ("always", "keep-paused")
    found = paused_outcomes(services, run)
    assert found["web01"] == ("resumed", "paused by a user") and found["paused01"][0] == "left paused"
    assert state("web01")[0] == 1 and state("paused01")[0] == 3


def test_a_pause_a_job_holds_or_a_crash_made_is_never_resumed_whatever_the_policy():
    import libvirt

    from ecp_desktop.services.actions.restore import paused_decision
    for reason in (libvirt.VIR_DOMAIN_PAUSED_MIGRATION, libvirt.VIR_DOMAIN_PAUSED_SAVE,
                   libvirt.VIR_DOMAIN_PAUSED_SNAPSHOT, libvirt.VIR_DOMAIN_PAUSED_POSTCOPY_FAILED,
                   libvirt.VIR_DOMAIN_PAUSED_CRASHED):
        assert paused_decision("resume-always", reason)[0] is False
    assert paused_decision("resume-after-fault", libvirt.VIR_DOMAIN_PAUSED_IOERROR) == (True, "paused by an I/O error")
    assert paused_decision("keep-paused", libvirt.VIR_DOMAIN_PAUSED_IOERROR)[0] is False
    assert paused_decision("resume-after-fault", 99)[0] is False  # a reason from a newer libvirt: not guessed


def test_restore_reads_the_states_of_a_whole_host_in_one_call(run, services, fleet_uri):
    """A far host, a 10,000-machine host: what runs already costs one call in all, not one
    each. The host's calls are counted by wrapping its one call method (an observation only;
    every call still reaches libvirt)."""
    from ecp_desktop.services.config import approved_hosts
    approved_hosts.approve([fleet_uri])
    inventory = services.inventory
    host = inventory.add_host(fleet_uri)
    assert run(inventory.connect_host(host))
    run(inventory.load_host(host))
    run(inventory.writes.written())
    machines = inventory.machines_of(fleet_uri)
    running = {m.name for m in machines if m.state == "running"}
    paused = {m.name for m in machines if m.state == "paused"}
    operations = []
    real_call = host.call

    def counted(fn, **kwargs):
        operations.append(kwargs.get("operation", ""))
        return real_call(fn, **kwargs)
    host.call = counted
    _reason, grouped = restore_candidates([fleet_uri])
    report = run(services.restore.run(grouped), timeout=60)
    outcome = {r.candidate.name: r.outcome for r in report.results}
    assert {name for name, o in outcome.items() if o == "already running"} == running and len(running) > 100
    assert operations.count("read states") == 1
    assert operations.count("read state") == len(paused)  # each found paused: why it was paused


def test_same_name_new_uuid_is_reported_as_such_and_a_dry_run_leaves_no_failed_task(db, db_url):
    """A host that gives a machine a new UUID (redefined; or a test host that makes them up at
    every open): restore says so, starts nothing, and is not a failure."""
    set_up(db)
    host_id = schema.Host.get(schema.Host.uri == LAB_URI).id
    with database.connection_context():
        schema.Machine.create(host=host_id, uuid="99999999-9999-9999-9999-999999999999", name="stopped01",
                              state="running", desired_state="running")
        schema.Machine.create(host=host_id, uuid="99999999-9999-9999-9999-999999999998", name="vanished",
                              state="running", desired_state="running")
    code, summary, err = restore(db_url, "--dry-run")
    assert code == 1 and "vanished did not start" in err and "stopped01" not in err  # the gone one only
    by_uuid = {m["uuid"]: m for m in summary["machines"]}
    renamed = by_uuid["99999999-9999-9999-9999-999999999999"]
    assert renamed["outcome"] == "new UUID"
    assert "same name, new UUID" in renamed["detail"] and uuid_of("stopped01") in renamed["detail"]
    assert by_uuid["99999999-9999-9999-9999-999999999998"]["outcome"] == "failed"  # really gone
    with database.connection_context():
        dry = schema.Task.get(schema.Task.title == "Restore running machines (dry run)")
    assert dry.status == "succeeded"  # a dry run changed nothing: no red task in the history
