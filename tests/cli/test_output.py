"""What a newcomer reads (issue 23): `--connect` is for that command only, and the text output
has a header, the window's units and host labels, the newest task first, each migration
reason once and long values wrapped, never cut. JSON keeps its fields."""
import json
import os
import subprocess
import sys
from datetime import datetime, timezone

from ecp_desktop.cli.listing import machine_row, seen_column
from ecp_desktop.cli.migrate import table_lines
from ecp_desktop.cli.text import memory_text, table, terminal_text, width, wrapped_table
from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.services.config import approved_hosts
from ecp_desktop.services.inventory.machines import MachineInfo
from ecp_desktop.services.migration.checks import CheckResult
from ecp_desktop.services.migration.ladder import MethodRow
from ecp_desktop.testing.hostgen import write_host

from ..helpers import LAB_URI, TEMPLATE_URI

DOWN = "qemu+tcp://127.0.0.1:1/system"


def cli(*args, db_url):
    return subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, *args],
                          capture_output=True, text=True, timeout=60, env=dict(os.environ))


def host_rows(uri: str) -> list[tuple]:
    with database.connection_context():
        return [(h.uri, h.autoconnect) for h in schema.Host.select().where(schema.Host.uri == uri)]


# ----- --connect is for that command only ------------------------------------------------------

def test_a_typed_host_that_is_down_is_not_tried_again(db, db_url):
    first = cli("--connect", DOWN, "machines", db_url=db_url)
    assert first.returncode == 3 and DOWN in first.stderr
    for command in ("machines", "hosts"):
        later = cli(command, "--json", db_url=db_url)
        assert later.returncode == 0 and later.stderr == "", later.stderr
        assert DOWN not in later.stdout
    from ecp_desktop.services.setup.startup import initial_hosts
    assert DOWN not in {choice.uri for choice in initial_hosts()}  # nor does the window connect it


def test_a_typed_host_is_recorded_but_not_configured(db, db_url):
    assert cli("--connect", LAB_URI, "machines", db_url=db_url).returncode == 0
    assert host_rows(LAB_URI) == [(LAB_URI, False)]  # its machines are recorded under it
    later = json.loads(cli("machines", "--json", db_url=db_url).stdout)
    assert LAB_URI not in {row["host"] for row in later}
    assert LAB_URI not in {row["uri"] for row in json.loads(cli("hosts", "--json", db_url=db_url).stdout)}
    from ecp_desktop.services.setup.startup import initial_hosts
    assert LAB_URI not in {choice.uri for choice in initial_hosts()}


def test_a_configured_host_typed_with_connect_stays_configured(db, db_url):
    with database.connection_context():
        schema.Host.create(uri=LAB_URI, label="the lab", autoconnect=True)
    approved_hosts.approve([LAB_URI])
    assert cli("--connect", LAB_URI, "machines", db_url=db_url).returncode == 0
    assert host_rows(LAB_URI) == [(LAB_URI, True)]
    names = {row["name"] for row in json.loads(cli("machines", "--json", db_url=db_url).stdout)
             if row["host"] == LAB_URI}
    assert names == {"web01", "db01", "stopped01", "paused01"}


# ----- machines and hosts ----------------------------------------------------------------------

def test_machines_text_has_a_header_the_windows_units_and_host_labels(db, db_url):
    result = cli("--connect", LAB_URI, "machines", db_url=db_url)
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split() == ["NAME", "STATE", "HOST", "VCPUS", "MEMORY", "SEEN"]
    rows = {cells[0]: cells for cells in ([c.strip() for c in line.split("\t")] for line in lines)}
    assert rows["db01"] == ["db01", "running", "lab (test driver)", "2", "1.0 GiB", "live"]
    assert rows["stopped01"] == ["stopped01", "shut off", "lab (test driver)", "1", "256 MiB", "live"]
    # the columns line up: every line's columns start where the header's do
    starts = {tuple(len(part) for part in line.split("\t")[:-1]) for line in [header, *lines]}
    assert len(starts) == 1


def test_machines_text_of_a_host_that_is_down_says_last_known_with_its_label(db, db_url, tmp_path):
    uri = write_host(tmp_path / "far.xml", 3, seed=5, prefix="far-")
    with database.connection_context():
        schema.Host.create(uri=uri, label="Far rack", autoconnect=True)
    approved_hosts.approve([uri])
    assert cli("machines", db_url=db_url).returncode == 0  # listed and recorded
    (tmp_path / "far.xml").rename(tmp_path / "far.moved")
    result = cli("machines", db_url=db_url)
    assert result.returncode == 3 and "cannot connect to" in result.stderr
    far = [[c.strip() for c in line.split("\t")] for line in result.stdout.splitlines() if "far-" in line]
    assert len(far) == 3
    for cells in far:
        assert cells[2] == "Far rack" and cells[5].startswith("last known, seen 20"), cells


def test_hosts_text_has_a_header_and_the_windows_units(db_url):
    result = cli("--connect", LAB_URI, "--connect", DOWN, "hosts", db_url=db_url)
    assert result.returncode == 3
    header, *lines = result.stdout.splitlines()
    assert header.split("\t")[0].strip() == "HOST" and "MEMORY" in header
    rows = [[c.strip() for c in line.split("\t")] for line in lines]
    assert rows[0] == ["lab (test driver)", "connected", LAB_URI, "TEST 0.0.2", "2", "8.0 GiB", "4", "no"]
    assert rows[1][:3] == ["127.0.0.1 over unencrypted TCP", "disconnected", DOWN]
    assert rows[1][3:] == ["-", "-", "-", "0", "no"]


def test_json_keeps_uris_and_kib(db_url):
    rows = json.loads(cli("--connect", LAB_URI, "machines", "--json", db_url=db_url).stdout)
    db01 = next(r for r in rows if r["name"] == "db01")
    assert db01["host"] == LAB_URI and db01["memory_kib"] == 1048576 and db01["state"] == "running"


def test_seen_column_and_row():
    when = datetime(2026, 5, 4, 3, 2, tzinfo=timezone.utc)
    known = MachineInfo("test:///x", "u", "vm", "shutoff", 2, 3 * 1024 * 1024, live=False, last_seen=when)
    assert seen_column(known) == f"last known, seen {when.astimezone().strftime('%Y-%m-%d %H:%M %Z')}"
    assert seen_column(MachineInfo("test:///x", "u", "vm", "running")) == "live"
    assert machine_row(known, {})[1:5] == ("shut off", "test:///x", 2, "3.0 GiB")  # no host: its URI


def test_memory_reads_as_in_the_window():
    from ecp_desktop.views.machines.machine_model import memory_text as window_memory_text
    for kib in (0, 1024, 262144, 524288, 1048575, 1048576, 1572864, 3 * 1024 ** 3):
        assert memory_text(kib) == window_memory_text(kib), kib


# ----- tables ------------------------------------------------------------------------------------

def test_tables_escape_every_cell_and_line_up_wide_characters():
    lines = table(("NAME", "NOTE"), [("名前", "a\tb"), ("x\x1b[2J", "\u202eevil")])
    assert lines == ["NAME    \tNOTE", "名前    \ta\\tb", "x\\x1b[2J\t\\u202eevil"]
    assert {width(line.split("\t")[0]) for line in lines} == {8}


def test_wrapped_table_wraps_long_values_in_their_column():
    long = "a value far longer than its column, " * 3
    lines = wrapped_table(("A", "B", "C"), [("short", long.strip(), "OK")], (10, 20))
    assert lines[0].startswith("A      B")
    assert all(len(line) <= 10 + 2 + 20 + 2 + 2 for line in lines)
    column = " ".join(line[7:27].strip() for line in lines[1:])
    assert column == long.strip() and lines[1].endswith("OK")


# ----- tasks and migrate ---------------------------------------------------------------------

def test_tasks_text_lists_the_newest_first_and_json_the_oldest(db_url):
    for count in ("1", "2"):
        done = cli("--connect", TEMPLATE_URI, "clone-template", "tpl", "--count", count, "--name-pattern",
                   f"n{count}-{{n}}", db_url=db_url)
        assert done.returncode == 0, done.stderr
    text = cli("tasks", db_url=db_url).stdout.splitlines()
    tops = [line.split("\t")[0].strip() for line in text if line.startswith("#")]
    assert text[0].startswith("TASK") and [t.split(" ", 1)[1] for t in tops] == [
        "Create 2 machines from tpl", "Create 1 machine from tpl"]
    titles = [t["title"] for t in json.loads(cli("tasks", "--json", db_url=db_url).stdout)]
    assert titles == ["Create 1 machine from tpl", "Create 2 machines from tpl"]


def test_migration_table_says_each_reason_once_and_wraps_long_values():
    long_path = "/srv/" + "/".join(f"directory-{n}" for n in range(12)) + "/disk.qcow2"
    results = [
        CheckResult("Migration features", "none", "none", "fail", note="the driver does not migrate",
                    remedy="Use QEMU/KVM."),
        CheckResult("Storage on destination", long_path, "pool-a (/pool-a)", "fail", note="no pool for it"),
        CheckResult("Method for this state", "running", "live methods", "ok", note="an offline one would not"),
        CheckResult("CPU", "default", "identical", "ok"),
    ]
    methods = [
        MethodRow("live", "migrateToURI3", "ruled out", ["Migration features: the driver does not migrate",
                                                         "Storage on destination: no pool for it"]),
        MethodRow("offline", "migrate3", "ruled out", ["Method for this state: an offline one would not",
                                                       "only live asked"]),
        MethodRow("live", "migrate3", "refused", code="ARGUMENT_UNSUPPORTED", message="unsupported scheme ftp"),
    ]
    text = "\n".join(table_lines(results, methods))
    for words in ("the driver does not migrate", "no pool for it", "an offline one would not",
                  "only live asked", "libvirt: ARGUMENT_UNSUPPORTED: unsupported scheme ftp", "Use QEMU/KVM."):
        assert text.count(words) == 1, (words, text)
    lines = text.splitlines()
    source, destination = lines[0].index("SOURCE"), lines[0].index("DESTINATION")
    row = next(n for n, line in enumerate(lines) if line.startswith("Storage on destination"))
    end = next(n for n in range(row + 1, len(lines)) if lines[n][:source].strip())
    pieces = [line[source:destination].strip() for line in lines[row:end]]
    assert "".join(pieces) == long_path and all(pieces)  # wrapped in its column, not cut
    assert max(len(line) for line in text.splitlines()[:8]) < 160
    assert "CPU" in text and all(terminal_text(line) == line for line in lines)


def test_check_only_prints_each_reason_once(db_url):
    done = cli("--connect", "test:///default", "migrate", "test", TEMPLATE_URI, "--check-only", db_url=db_url)
    assert done.returncode == 4, done.stderr
    assert done.stdout.count("does not migrate machines") == 1
    assert done.stdout.count("the destination has 0 MiB free") == 1
    assert done.stdout.splitlines()[-1].startswith("refused: Migration features, Memory")


def test_machines_json_gives_each_running_machines_addresses_and_their_source(db, db_url):
    rows = {row["name"]: row for row in json.loads(cli("--connect", LAB_URI, "machines", "--json",
                                                       db_url=db_url).stdout)}
    [nic] = rows["web01"]["addresses"]
    assert nic["source"] == "guest agent" and nic["addresses"][0].endswith("/24") and nic["mac"]
    assert rows["stopped01"]["addresses"] == []  # not running: none
    assert rows["paused01"]["reason"]  # why it is in its state
