"""Issue 23: setup on virt-manager's test host. What went wrong is counted and listed (never
"finished" over a traceback); pool sizes past a 64-bit column are kept as unknown; the demo
host keeps its label; the headless answer to "which machines come back at start"."""
import io
import json
import os
import subprocess
import sys

import pytest

from ecp_desktop.cli import setup as cli_setup
from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.services.config import preferences
from ecp_desktop.services.hosts.probe import DEMO_LABEL, DEMO_URI
from ecp_desktop.services.inventory import store
from ecp_desktop.services.setup import steps
from ecp_desktop.services.setup.pipeline import DONE, FAILED, HookRegistry, SetupProblem, load_extension_hooks
from ecp_desktop.services.setup.steps import SetupOptions, run_setup

from ...helpers import VIRT_MANAGER_URI


def options(*uris, **kw):
    return SetupOptions(connections=list(uris), local_uri=DEMO_URI, **kw)


def hook_outcome(report, name):
    return next(o for o in report.outcomes if o.kind == "hook" and o.name == name)


def overflowing(_ctx):
    raise OverflowError("Python int too large to convert to SQLite INTEGER")


@pytest.fixture
def unanswered():
    preferences.set_restore_at_start("")
    yield
    preferences.set_restore_at_start("")


def test_virt_manager_host_sets_up_without_a_problem_and_keeps_odd_pool_sizes_as_unknown(fresh_db):
    from ecp_desktop.extensions.networks_pools import StoragePool
    report = run_setup(options(VIRT_MANAGER_URI), hooks=load_extension_hooks())
    hook = hook_outcome(report, "networks-and-pools")
    assert hook.status == DONE, hook.message
    assert f"{VIRT_MANAGER_URI}: 16 networks, 16 storage pools" in hook.message
    # libvirt's test driver reports pool-scsi's free space as 2**64 - 404 GiB (an over-full pool)
    assert "kept as unknown: pool-scsi available" in hook.message
    assert report.problems == [] and report.headline() == "Setup finished."
    with database.connection_context():
        scsi = StoragePool.get((StoragePool.host_uri == VIRT_MANAGER_URI) & (StoragePool.name == "pool-scsi"))
        sizes = {p.name: p.capacity for p in StoragePool.select().where(StoragePool.host_uri == VIRT_MANAGER_URI)}
    assert (scsi.capacity, scsi.allocation, scsi.available) == (107374182400, 512121028608, None)
    assert set(sizes.values()) == {107374182400}  # 100 GiB each, past any 32-bit column
    again = run_setup(options(VIRT_MANAGER_URI), hooks=load_extension_hooks())  # the upsert path too
    assert hook_outcome(again, "networks-and-pools").status == DONE and again.problems == []


def test_a_failing_extension_is_a_problem_counted_and_listed(fresh_db):
    hooks = HookRegistry()
    hooks.after("import", overflowing, name="networks-and-pools")
    hooks.after("import", lambda _ctx: (_ for _ in ()).throw(SetupProblem("lab: pools not read: gone")),
                name="reporter")
    report = run_setup(options(VIRT_MANAGER_URI), hooks=hooks)
    assert report.ok  # the core steps did their work: exit code 0
    assert report.headline() == "Setup finished with 2 problems."
    assert report.problems == [
        "Extension networks-and-pools (after import): raised an error: OverflowError: Python int too large to "
        "convert to SQLite INTEGER",
        "Extension reporter (after import): lab: pools not read: gone"]  # a reported problem, as written
    assert report.as_json()["problems"] == report.problems


def test_a_chosen_host_that_cannot_be_opened_is_a_problem(fresh_db, tmp_path):
    gone = f"test://{tmp_path}/gone.xml"
    report = run_setup(SetupOptions(chosen=[gone], local_uri=DEMO_URI), hooks=HookRegistry())
    assert report.ok and report.headline() == "Setup finished with 1 problem."
    assert report.problems[0].startswith(f"{gone}: cannot connect:")


def test_the_command_says_finished_with_problems_and_lists_them(fresh_db, db_url, monkeypatch):
    def hooks():
        registry = HookRegistry()
        registry.after("import", overflowing, name="networks-and-pools")
        return registry
    monkeypatch.setattr(steps, "load_extension_hooks", hooks)
    out = io.StringIO()
    code = cli_setup.run("setup", db_url, [VIRT_MANAGER_URI], local=DEMO_URI, remember_database=False, out=out)
    text = out.getvalue()
    assert code == 0
    assert text.splitlines()[-2:] == [
        "setup finished with 1 problem.",
        "  - Extension networks-and-pools (after import): raised an error: OverflowError: Python int too large "
        "to convert to SQLite INTEGER"]
    assert "[FAILED] hook networks-and-pools (after import)" in text and "setup finished.\n" not in text


def test_the_demo_host_is_demo_host_on_every_run(fresh_db):
    # A command's --connect test:///default recorded it first with the URI's automatic label.
    run_setup(SetupOptions(connections=[], chosen=[], local_uri=DEMO_URI), hooks=HookRegistry(),
              steps=[s for s in steps.core_steps() if s.name == "schema"])
    store.ensure_host(DEMO_URI, "Test: default", False)
    for _run in range(2):
        assert run_setup(options(DEMO_URI), hooks=HookRegistry()).ok
        with database.connection_context():
            demo = schema.Host.get(schema.Host.uri == DEMO_URI)
        assert (demo.label, demo.is_demo) == (DEMO_LABEL, True)
    with database.connection_context():  # a label someone chose is theirs
        schema.Host.update(label="sandbox").where(schema.Host.uri == DEMO_URI).execute()
    run_setup(options(DEMO_URI), hooks=HookRegistry())
    with database.connection_context():
        assert schema.Host.get(schema.Host.uri == DEMO_URI).label == "sandbox"


def test_setup_saves_the_restore_answer_only_when_given(fresh_db, unanswered):
    report = run_setup(options(DEMO_URI), hooks=HookRegistry())
    assert preferences.current().restore_at_start == ""  # not asked: the first window asks
    assert "restore-at-start" not in [o.name for o in report.outcomes]
    report = run_setup(options(DEMO_URI, restore_at_start="always"), hooks=HookRegistry())
    saved = next(o for o in report.outcomes if o.name == "restore-at-start")
    assert (saved.status, saved.message) == (DONE, "Only those marked Always On")
    assert preferences.current().restore_at_start == "always"


def test_a_restore_answer_that_cannot_be_saved_is_a_problem(fresh_db, unanswered, monkeypatch):
    def read_only(_choice):
        raise PermissionError(13, "Permission denied", "config.json")
    monkeypatch.setattr(preferences, "set_restore_at_start", read_only)
    report = run_setup(options(DEMO_URI, restore_at_start="never"), hooks=HookRegistry())
    saved = next(o for o in report.outcomes if o.name == "restore-at-start")
    assert saved.status == FAILED and report.problems == [f"{saved.title}: {saved.message}"]
    assert "Permission denied" in saved.message


def test_setup_command_restore_at_start_option(tmp_path, db_url):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    config = tmp_path / "config" / "ecp-desktop" / "config.json"

    def setup(*extra):
        return subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "setup",
                               "--local", DEMO_URI, *extra], capture_output=True, text=True, timeout=60, env=env)
    first = setup()
    assert first.returncode == 0, first.stderr
    assert json.loads(config.read_text()).get("preferences", {}).get("restore_at_start", "") == ""  # left as it is
    answered = setup("--restore-at-start", "always")
    assert answered.returncode == 0, answered.stderr
    assert "[ok] Machines started when the window opens: Only those marked Always On" in answered.stdout
    assert json.loads(config.read_text())["preferences"]["restore_at_start"] == "always"
    assert setup().returncode == 0  # absent: the answer stays
    assert json.loads(config.read_text())["preferences"]["restore_at_start"] == "always"
    wrong = setup("--restore-at-start", "sometimes")
    assert wrong.returncode == 2 and "invalid choice: 'sometimes'" in wrong.stderr
