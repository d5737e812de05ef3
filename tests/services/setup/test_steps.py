"""Setup as ordered steps with preconditions and hooks, on a fresh database and on re-runs."""
import json
import sys
import time


from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.models.dialect import dialect
from ecp_desktop.services.setup.pipeline import DONE, FAILED, SKIPPED, HookRegistry, load_extension_hooks
from ecp_desktop.services.setup.steps import SETUP_DONE_KEY, SetupOptions, core_steps, run_setup
from ecp_desktop.services.inventory import store

from ...helpers import LAB_URI




def options(*uris, **kw):
    return SetupOptions(connections=list(uris), local_uri=kw.pop("local_uri", "test:///default"), **kw)


def status(report, name, kind="step"):
    return next(o for o in report.outcomes if o.name == name and o.kind == kind)


def machine_names(uri):
    with database.connection_context():
        return sorted(m.name for m in schema.Machine.select().join(schema.Host).where(
            (schema.Host.uri == uri) & (schema.Machine.missing == False)))  # noqa: E712


def test_fresh_database_is_set_up_in_order_and_every_machine_imported(fresh_db):
    report = run_setup(options(LAB_URI), hooks=HookRegistry())
    assert report.ok
    assert [o.name for o in report.outcomes] == ["schema", "local-host", "connections", "import"]
    assert all(o.status == DONE for o in report.outcomes), report.outcomes
    assert "applied steps 1, 2" in status(report, "schema").message
    # the demo host's facts are made up: it is named for what it is, not as a computer
    assert status(report, "local-host").message == (
        "the demo host (libvirt's test driver; nothing in it is real) via test:///default")
    assert machine_names(LAB_URI) == ["db01", "paused01", "stopped01", "web01"]
    with database.connection_context():
        local = schema.Host.get(schema.Host.is_local == True)  # noqa: E712
        offered = json.loads(local.guest_types)
        assert local.uri == "test:///default" and local.cpu_arch == "i686" and local.cpus > 0
        assert {"os_type": "hvm", "arch": "i686", "domain_types": ["test"], "machines": []} in offered
        assert local.hostname and local.libvirt_version and local.capabilities_at
        # The connection given to setup is remembered for later starts.
        assert schema.Host.get(schema.Host.uri == LAB_URI).autoconnect
        assert store.get_setting(SETUP_DONE_KEY)


def test_a_name_given_in_setup_labels_the_host_and_a_rerun_without_one_keeps_it(fresh_db):
    run_setup(options(LAB_URI, chosen=[LAB_URI], labels={LAB_URI: "Rack 3"}), hooks=HookRegistry())
    run_setup(options(LAB_URI, chosen=[LAB_URI]), hooks=HookRegistry())
    with database.connection_context():
        assert schema.Host.get(schema.Host.uri == LAB_URI).label == "Rack 3"


def test_running_setup_twice_duplicates_nothing(fresh_db):
    run_setup(options(LAB_URI), hooks=HookRegistry())
    with database.connection_context():
        before = (schema.Machine.select().count(), schema.Host.select().count())
    again = run_setup(options(LAB_URI), hooks=HookRegistry())
    assert again.ok and again.imports[0].added == 0 and again.imports[0].unchanged == 4
    with database.connection_context():
        assert (schema.Machine.select().count(), schema.Host.select().count()) == before


def test_import_without_a_local_host_record_skips_with_the_reason_and_a_later_run_imports(fresh_db):
    # Import alone before the local host was ever recorded (e.g. `ecp-desktop import` first).
    steps = [s for s in core_steps() if s.name in ("schema", "connections", "import")]
    first = run_setup(options(LAB_URI), hooks=HookRegistry(), steps=steps)
    skipped = status(first, "import")
    assert skipped.status == SKIPPED and "local host record has not been written" in skipped.message
    assert first.ok  # a skipped precondition is not a failure
    assert machine_names(LAB_URI) == []
    later = run_setup(options(LAB_URI), hooks=HookRegistry())
    assert status(later, "import").status == DONE
    assert machine_names(LAB_URI) == ["db01", "paused01", "stopped01", "web01"]


def test_a_hook_that_deletes_the_host_record_makes_import_skip_until_the_next_run(fresh_db):
    hooks = HookRegistry()
    hooks.before("import", lambda _ctx: schema.Host.update(is_local=False).execute() and "cleared",
                 name="forgetful-extension")
    report = run_setup(options(LAB_URI), hooks=hooks)
    assert status(report, "forgetful-extension", "hook").status == DONE
    assert "local host record has not been written" in status(report, "import").message
    assert machine_names(LAB_URI) == []
    assert run_setup(options(LAB_URI), hooks=HookRegistry()).imports[0].added == 4


def test_an_extension_dropping_the_machine_table_out_of_order_is_survived(fresh_db):
    hooks = HookRegistry()
    # (a PostgreSQL server drops a table others refer to, the definition history, only with CASCADE)
    drop = "DROP TABLE machine" + (" CASCADE" if dialect().shared_server else "")
    hooks.after("connections", lambda _ctx: database.execute_sql(drop) and "dropped", name="out-of-order")
    report = run_setup(options(LAB_URI), hooks=hooks)
    imported = status(report, "import")
    assert imported.status == SKIPPED and "the machine table does not exist yet" in imported.message
    assert report.ok
    # The next run: the schema step puts the table back, and import completes.
    again = run_setup(options(LAB_URI), hooks=HookRegistry())
    assert "recreated missing tables: machine" in status(again, "schema").message
    assert machine_names(LAB_URI) == ["db01", "paused01", "stopped01", "web01"]


def test_hooks_run_in_place_and_failing_or_slow_ones_cannot_stop_the_core_steps(fresh_db):
    seen = []
    hooks = HookRegistry()
    hooks.before("schema", lambda _ctx: seen.append("before schema"), name="first")
    hooks.after("local-host", lambda _ctx: 1 / 0, name="divides-by-zero")
    hooks.before("import", lambda _ctx: time.sleep(3), name="sleepy", timeout=0.3)
    hooks.after("import", lambda _ctx: sys.exit(4), name="exits")
    hooks.after("import", lambda ctx: seen.append([o.name for o in ctx.outcomes if o.kind == "step"]), name="last")
    hooks.after("no-such-step", lambda _ctx: None, name="lost")
    report = run_setup(options(LAB_URI), hooks=hooks, hook_timeout=5)
    assert report.ok and all(status(report, s).status == DONE for s in ("schema", "local-host", "connections",
                                                                        "import"))
    assert seen == ["before schema", ["schema", "local-host", "connections", "import"]]
    assert "ZeroDivisionError" in status(report, "divides-by-zero", "hook").message
    assert status(report, "divides-by-zero", "hook").status == FAILED
    assert "still running after 0.3 s" in status(report, "sleepy", "hook").message
    assert status(report, "exits", "hook").status == FAILED
    assert "no-such-step" in status(report, "lost", "hook").message
    assert machine_names(LAB_URI) == ["db01", "paused01", "stopped01", "web01"]


def test_a_failing_core_step_makes_the_run_fail_and_says_why(fresh_db, tmp_path):
    report = run_setup(options(LAB_URI, local_uri=f"test://{tmp_path}/absent.xml"), hooks=HookRegistry())
    assert not report.ok
    failed = status(report, "local-host")
    assert failed.status == FAILED and "absent.xml" in failed.message
    # The other steps went on; import waits for the host record.
    assert status(report, "import").status == SKIPPED
    with database.connection_context():
        assert not store.get_setting(SETUP_DONE_KEY)


def test_the_shipped_extension_is_found_by_entry_point_and_imports_networks_and_pools(fresh_db):
    from ecp_desktop.extensions.networks_pools import Network, StoragePool
    registry = load_extension_hooks()
    assert "networks-and-pools" in [h.name for h in registry.hooks] and not registry.problems
    report = run_setup(options("test:///default"), hooks=registry)
    hook = status(report, "networks-and-pools", "hook")
    assert hook.status == DONE and "test:///default: 1 network, 1 storage pool" in hook.message
    with database.connection_context():
        net = Network.get(Network.host_uri == "test:///default")
        pool = StoragePool.get(StoragePool.host_uri == "test:///default")
    assert (net.name, net.active, net.forward_mode, net.bridge) == ("default", True, "nat", "virbr0")
    assert (pool.name, pool.pool_type, pool.target_path) == ("default-pool", "dir", "/default-pool")
    assert pool.capacity > 0


def test_the_shipped_extension_skips_when_no_connection_is_open(fresh_db):
    from ecp_desktop.extensions.networks_pools import import_networks_and_pools
    registry = HookRegistry()
    registry.before("schema", import_networks_and_pools, name="too-early")
    report = run_setup(options(LAB_URI), hooks=registry)
    assert "skipped: no connection is open" in status(report, "too-early", "hook").message
