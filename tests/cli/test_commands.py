"""The headless CLI contract: JSON fields, exit codes, one-line reasons."""
import json
import re
import subprocess
import sys

import pytest

from ..helpers import LAB_URI, query

STATES = {"running", "paused", "shutoff", "crashed", "pmsuspended", "blocked", "shutdown", "nostate"}


def cli(*args, db_url, env_extra=None):
    import os
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, *args],
                          capture_output=True, text=True, timeout=60, env=env)


def test_machines_json_has_the_documented_fields(db, db_url):
    result = cli("--connect", LAB_URI, "--connect", "test:///default", "machines", "--json", db_url=db_url)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {r["name"] for r in rows} == {"web01", "db01", "stopped01", "paused01", "test"}
    for row in rows:
        assert {"name", "uuid", "host", "state", "persistent"} <= set(row)
        assert row["state"] in STATES and isinstance(row["persistent"], bool)
    web = next(r for r in rows if r["name"] == "web01")
    assert web["host"] == LAB_URI and web["uuid"] == "11111111-1111-1111-1111-000000000001"
    assert next(r for r in rows if r["name"] == "paused01")["state"] == "paused"
    assert result.stderr == ""


def test_hosts_json_reports_facts(db_url):
    result = cli("--connect", LAB_URI, "hosts", "--json", db_url=db_url)
    assert result.returncode == 0, result.stderr
    (host,) = json.loads(result.stdout)
    assert host["uri"] == LAB_URI and host["state"] == "connected"
    assert host["driver"] == "TEST" and host["machines"] == 4 and host["libvirt_version"]


def test_hosts_show_the_maintenance_mark_with_since_when_and_by_whom(db, db_url):
    (host,) = json.loads(cli("--connect", LAB_URI, "hosts", "--json", db_url=db_url).stdout)
    assert (host["maintenance"], host["maintenance_since"], host["maintenance_by"]) == (False, None, None)
    assert cli("maintenance", LAB_URI, "on", db_url=db_url).returncode == 0
    mark = json.loads(cli("maintenance", LAB_URI, "--json", db_url=db_url).stdout)
    listed = cli("--connect", LAB_URI, "hosts", "--json", db_url=db_url)
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr
    (host,) = json.loads(listed.stdout)
    assert (host["maintenance"], host["maintenance_since"], host["maintenance_by"]) == (True, mark["since"],
                                                                                       mark["by"])
    header, row = cli("--connect", LAB_URI, "hosts", db_url=db_url).stdout.splitlines()
    assert header.split("\t")[-1] == "MAINTENANCE"
    assert row.split("\t")[-1] == f"since {mark['since'].replace('T', ' ')} UTC (set by {mark['by']})"


DEMO_NOTE = "test:///default (the demo host) lives inside each process that opens it"


def test_acting_on_the_demo_host_says_its_state_stays_in_this_process(db, db_url):
    forced = cli("--connect", "test:///default", "force-off", "test", "--json", db_url=db_url)
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)[0]["status"] == "succeeded"  # stdout stays the JSON
    (note,) = forced.stderr.splitlines()
    assert DEMO_NOTE in note and "the window (another process) does not see them" in note
    again = cli("--connect", "test:///default", "force-off", "test", db_url=db_url)
    assert again.returncode == 0, "each process begins from the demo host's default state: test runs again"
    assert DEMO_NOTE in again.stderr
    for listing in (("machines", "--json"), ("hosts", "--json"), ("snapshot", "list", "test", "--json")):
        listed = cli("--connect", "test:///default", *listing, db_url=db_url)
        assert listed.returncode == 0 and listed.stderr == "", (listing, listed.stderr)
    lab = cli("--connect", LAB_URI, "pause", "web01", db_url=db_url)
    assert lab.returncode == 0 and lab.stderr == "", lab.stderr


def test_a_task_summary_counts_its_steps_in_words(db, db_url):
    one = cli("--connect", LAB_URI, "delete", "stopped01", "--disks", "none", "--yes", "--json", db_url=db_url)
    assert one.returncode == 0, one.stderr
    assert json.loads(one.stdout)[0]["outcome"] == "1 step done"
    two = cli("--connect", LAB_URI, "delete", "web01", "--force-off", "--disks", "none", "--yes", "--json",
              db_url=db_url)
    assert two.returncode == 0, two.stderr
    assert json.loads(two.stdout)[0]["outcome"] == "2 steps done"


def test_unreachable_host_exits_3_with_one_line_reason(db, db_url):
    result = cli("--connect", LAB_URI, "--connect", "qemu+tcp://127.0.0.1:1/system", "machines", "--json",
                 db_url=db_url)
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "qemu+tcp://127.0.0.1:1/system" in lines[0] and "Connection refused" in lines[0]
    assert {r["host"] for r in json.loads(result.stdout)} == {LAB_URI}, "reachable hosts are still listed"


@pytest.mark.parametrize("args", [
    ("--connect", "not-a-uri", "machines"),
    ("frobnicate",),
    ("machines", "--bogus"),
])
def test_usage_errors_exit_2(db_url, args):
    result = cli(*args, db_url=db_url)
    assert result.returncode == 2 and result.stderr


def test_bad_database_url_exits_2_in_plain_words(tmp_path):
    result = cli("machines", db_url="mysql://x@y/z")
    assert result.returncode == 2 and "unsupported database URL" in result.stderr


def test_database_from_environment_and_listing_is_recorded(db, db_url):
    import os
    env = {**os.environ, "ECP_DESKTOP_DATABASE": db_url}
    result = subprocess.run([sys.executable, "-m", "ecp_desktop", "--connect", LAB_URI, "machines"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert "web01" in result.stdout
    assert query(db_url, "select count(*) from machine") == [(4,)]


def test_first_run_without_local_hypervisor_uses_the_demo_host(db_url):
    result = cli("machines", "--json", db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert [(r["name"], r["host"]) for r in json.loads(result.stdout)] == [("test", "test:///default")]
    hosts = json.loads(cli("hosts", "--json", db_url=db_url).stdout)
    assert hosts[0]["demo"] is True and hosts[0]["label"].startswith("Demo host")


def test_setup_remembers_database_and_connections_so_machines_needs_no_connect(tmp_path, db_url):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    result = cli("--connect", LAB_URI, "setup", "--local", "test:///default", db_url=db_url, env_extra=env)
    assert result.returncode == 0, result.stderr
    assert "[ok] Import existing machines: 4 added" in result.stdout
    assert f"{LAB_URI}: 4 found; 4 added" in result.stdout
    # Later, with neither --database nor --connect: the same database and host.
    import os
    later = subprocess.run([sys.executable, "-m", "ecp_desktop", "machines", "--json"], capture_output=True,
                           text=True, timeout=60, env={**os.environ, **env})
    assert later.returncode == 0, later.stderr
    assert sorted(r["name"] for r in json.loads(later.stdout)) == ["db01", "paused01", "stopped01", "web01"]


def test_setup_json_summary_and_exit_code_when_a_core_step_fails(tmp_path, db_url):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    broken = tmp_path / "broken.xml"
    broken.write_text("<node><domain>half-written")
    result = cli("--connect", LAB_URI, "setup", "--json", "--local", f"test://{broken}",
                 db_url=db_url, env_extra=env)
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    steps = {s["name"]: s for s in summary["steps"]}
    assert summary["ok"] is False and steps["local-host"]["status"] == "failed"
    assert "not well-formed" in steps["local-host"]["message"] and "broken.xml" in steps["local-host"]["message"]
    assert steps["import"]["status"] == "skipped" and "local host record" in steps["import"]["message"]
    assert steps["schema"]["status"] == "done" and steps["connections"]["status"] == "done"
    assert not (tmp_path / "config" / "ecp-desktop" / "config.json").exists()  # a failed setup chooses nothing


def test_import_before_setup_says_what_is_missing_and_exits_zero(db_url):
    result = cli("--connect", LAB_URI, "import", db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert "[skipped] Import existing machines: the local host record has not been written yet" in result.stdout
    after = cli("--connect", LAB_URI, "setup", "--local", "test:///default", "--no-import", db_url=db_url)
    assert "[skipped] Import existing machines: import was not asked for" in after.stdout
    imported = cli("--connect", LAB_URI, "import", "--json", db_url=db_url)
    assert imported.returncode == 0
    assert json.loads(imported.stdout)["import"]["totals"]["added"] == 4


def test_clone_template_and_tasks_commands(db_url):
    from ..helpers import TEMPLATE_URI
    ok = cli("--connect", TEMPLATE_URI, "clone-template", "tpl", "--count", "2", "--name-pattern", "web-{n}",
             "--start", "--json", db_url=db_url)
    assert ok.returncode == 0, ok.stderr
    (tree,) = json.loads(ok.stdout)
    assert tree["status"] == "succeeded" and [c["title"] for c in tree["children"]] == ["Create web-1", "Create web-2"]
    assert [s["title"] for s in tree["children"][0]["children"]] == [
        "Define web-1", "Clone tpl-root.qcow2 to web-1-vda.qcow2", "Clone tpl-data.img to web-1-vdb.img",
        "Start web-1"]

    # The test driver's file host starts afresh in each process; 5 machines do not fit its pool.
    full = cli("--connect", TEMPLATE_URI, "clone-template", "tpl", "--count", "5", "--name-pattern", "db-{n}",
               db_url=db_url)
    assert full.returncode == 1 and re.match(r"TASK +\tSTATUS +\tSTARTED +\tOUTCOME\n"
                                            r"#\d+ Create 5 machines from tpl +\tfailed +\t", full.stdout)
    assert "Not enough free space in pool" in full.stdout and re.search(r"\[rollback\] *\tsucceeded", full.stdout)

    for args, words in ((("tpl", "--count", "2", "--name-pattern", "x"), "must contain {n}"),
                        (("busy", "--count", "1", "--name-pattern", "b-{n}"), "busy is running"),
                        (("nosuch", "--count", "1", "--name-pattern", "b-{n}"), "no machine named 'nosuch'")):
        bad = cli("--connect", TEMPLATE_URI, "clone-template", *args, db_url=db_url)
        assert bad.returncode == 2 and words in bad.stderr and "Traceback" not in bad.stderr

    history = cli("tasks", "--json", "--limit", "2", db_url=db_url)
    assert history.returncode == 0, history.stderr
    titles = [(t["title"], t["status"]) for t in json.loads(history.stdout)]
    assert titles == [("Create 2 machines from tpl", "succeeded"), ("Create 5 machines from tpl", "failed")]
    failed_step = next(s for m in json.loads(history.stdout)[1]["children"] for s in m["children"]
                       if s["status"] == "failed")
    assert failed_step["error"]["Error code"] == "1 (INTERNAL_ERROR)"  # the structured error, kept
