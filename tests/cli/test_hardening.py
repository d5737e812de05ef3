"""The command line against hostile input: names and texts that try to steer the terminal,
a damaged settings file, and database URLs that are wrong or carry a password."""
import json
import os
import re
import subprocess
import sys

import pytest

from ecp_desktop.models import schema, upgrades
from ecp_desktop.models.db import database
from ecp_desktop.services.config import app_config
from ecp_desktop.testing.hostgen import domain_xml

from ..helpers import query

# What must never reach a terminal raw: C0, DEL, C1, bidi controls, line/paragraph separators.
RAW = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
# machine name -> how the text output shows it (a raw ESC cannot be in a libvirt name: XML 1.0
# refuses it, so the 8-bit escapes CSI U+009B and OSC U+009D stand in for ESC [ and ESC ])
HOSTILE = {
    "tab\there": "tab\\there",
    "new\nline": "new\\nline",
    "cr\rreturn": "cr\\rreturn",
    "csi\x9b2Jclear": "csi\\x9b2Jclear",
    "osc\x9d0;retitled\x9c": "osc\\x9d0;retitled\\x9c",
    "del\x7fete": "del\\x7fete",
    "rlo\u202eevil.exe": "rlo\\u202eevil.exe",
    "iso\u2066late\u2069 lrm\u200e rlm\u200f alm\u061c": "iso\\u2066late\\u2069 lrm\\u200e rlm\\u200f alm\\u061c",
    "ls\u2028ps\u2029end": "ls\\u2028ps\\u2029end",
    "plain-vm": "plain-vm",
    "Ünïcode 名前": "Ünïcode 名前",
}
ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[31m\u202eevil\r\nfake line\tcolumn"
ESCAPES_SHOWN = "\\x1b]0;pwned\\x07\\x1b[2J\\x1b[31m\\u202eevil\\r\\nfake line\\tcolumn"


def cli(*args, db_url=None, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    database_args = ["--database", db_url] if db_url else []
    return subprocess.run([sys.executable, "-m", "ecp_desktop", *database_args, *args],
                          capture_output=True, text=True, timeout=60, env=env)


def hostile_host(tmp_path) -> str:
    """A test-driver host whose machines (all shut off) have the names of HOSTILE."""
    parts = []
    for index, name in enumerate(HOSTILE):
        xml = domain_xml(name, f"44444444-4444-4444-4444-{index:012d}", 5, 2, 512, index)
        parts.append(xml.replace("\r", "&#13;"))  # a raw CR would be read as a line end
    path = tmp_path / "hostile.xml"
    path.write_text("<node>\n" + "".join(parts) + "</node>\n", encoding="utf-8")
    return f"test://{path}"


def lines_of(text: str) -> list[str]:
    """The lines as a terminal shows them (only \\n ends one; splitlines() knows more)."""
    assert text.endswith("\n"), repr(text)
    return text[:-1].split("\n")


def test_machines_prints_one_line_per_machine_with_its_columns(db_url, tmp_path):
    uri = hostile_host(tmp_path)
    result = cli("--connect", uri, "machines", db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert not RAW.findall(result.stdout.replace("\t", "").replace("\n", ""))
    header, *lines = lines_of(result.stdout)
    assert header.split() == ["NAME", "STATE", "HOST", "VCPUS", "MEMORY", "SEEN"]
    assert len(lines) == len(HOSTILE)
    for line in lines:
        assert len(line.split("\t")) == 6, repr(line)  # name, state, host, vCPUs, memory, live or last seen
    assert {line.split("\t")[0].rstrip(" ") for line in lines} == set(HOSTILE.values())
    assert {line.split("\t")[2].rstrip() for line in lines} == {"hostile (test driver)"}  # the host's label
    # JSON stays exact
    rows = json.loads(cli("--connect", uri, "machines", "--json", db_url=db_url).stdout)
    assert {r["name"] for r in rows} == set(HOSTILE)


def test_task_trees_and_history_keep_their_columns(db_url, tmp_path):
    uri = hostile_host(tmp_path)
    hostile = ["tab\there", "new\nline", "rlo\u202eevil.exe", "osc\x9d0;retitled\x9c"]
    result = cli("--connect", uri, "start", *hostile, db_url=db_url)
    assert result.returncode == 0, result.stderr
    for output in (result.stdout, cli("tasks", db_url=db_url).stdout):
        assert not RAW.findall(output.replace("\t", "").replace("\n", ""))
        lines = lines_of(output)
        assert lines[0].split() == ["TASK", "STATUS", "STARTED", "OUTCOME"]
        assert len(lines) == 2 + len(hostile)  # the header, the task and a step per machine
        assert all(line.count("\t") == 3 for line in lines), lines
        assert any("rlo\\u202eevil.exe" in line for line in lines)


def test_notes_are_printed_escaped_and_exact_in_json(db, db_url, tmp_path):
    uri = hostile_host(tmp_path)
    assert cli("--connect", uri, "machines", "--json", db_url=db_url).returncode == 0  # now in the inventory
    saved = cli("notes", "plain-vm", "--set", ESCAPES, db_url=db_url)
    assert saved.returncode == 0, saved.stderr
    shown = cli("notes", "plain-vm", db_url=db_url)
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout and not RAW.findall(shown.stdout[:-1])
    assert lines_of(shown.stdout) == [f"plain-vm (version 1): {ESCAPES_SHOWN}"]
    assert json.loads(cli("notes", "plain-vm", "--json", db_url=db_url).stdout)["notes"] == ESCAPES
    named = cli("notes", "tab\there", "--set", "x", db_url=db_url)
    assert named.returncode == 0 and lines_of(named.stdout) == ["tab\\there (version 1): x"]


def test_host_labels_and_errors_on_stderr_are_escaped(db, db_url, tmp_path):
    uri = hostile_host(tmp_path)
    down = "test:///nowhere/\x1b]0;pwned\x07\x1b[2J.xml"
    with database.connection_context():
        schema.Host.create(uri=uri, label="lab\x1b[8m\u202ehidden\tcol", autoconnect=True)
        schema.Host.create(uri=down, label="down", autoconnect=True)
    from ecp_desktop.services.config import approved_hosts
    approved_hosts.approve([uri, down])  # this user's own hosts: connected to (the second fails)
    result = cli("hosts", db_url=db_url)
    assert result.returncode == 3
    for output in (result.stdout, result.stderr):
        assert "\x1b" not in output and not RAW.findall(output.replace("\t", "").replace("\n", ""))
    header, *lines = lines_of(result.stdout)
    assert header.split() == ["HOST", "STATE", "URI", "HYPERVISOR", "CPUS", "MEMORY", "MACHINES", "MAINTENANCE"]
    assert len(lines) == 2 and all(line.count("\t") == 7 for line in lines)
    assert lines[0].startswith("lab\\x1b[8m\\u202ehidden\\tcol\t")
    (error,) = lines_of(result.stderr)
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in error


def test_the_escaping_function():
    from ecp_desktop.cli.common import terminal_text
    assert terminal_text("a\tb\nc\rd\x1b[0m\x00\x7f\x85\x9b\u202e\u2066\u200e\u061c\u2028\u2029") == (
        "a\\tb\\nc\\rd\\x1b[0m\\x00\\x7f\\x85\\x9b\\u202e\\u2066\\u200e\\u061c\\u2028\\u2029")
    assert terminal_text("Ünïcode 名前 машина \\ 'q'") == "Ünïcode 名前 машина \\ 'q'"
    assert terminal_text(42) == "42"


# ----- a damaged settings file ---------------------------------------------------------------

@pytest.fixture
def private_dirs(tmp_path, monkeypatch):
    """Settings and data directories of this test alone; no database named anywhere."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("ECP_DESKTOP_DATABASE", raising=False)
    return tmp_path


DAMAGED = ["{\"database_url\": \"postgresql://op@db/inv\"",  # cut short
           "\x00\x00\x00\x00", "[\"postgresql://op@db/inv\"]", "{\"database_url\": 42}",
           "{\"database_url\": \"\"}"]


@pytest.mark.parametrize("command", [("restore", "--dry-run"), ("machines",)])
@pytest.mark.parametrize("content", DAMAGED)
def test_a_damaged_settings_file_stops_the_commands(private_dirs, command, content):
    from ecp_desktop.services.setup.startup import data_dir
    config = app_config.config_path()
    config.parent.mkdir(parents=True)
    config.write_text(content, encoding="utf-8")
    result = cli(*command)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    (kept,) = config.parent.glob("config.json.broken-*")
    assert kept.read_text(encoding="utf-8") == content and not config.exists()
    (line,) = lines_of(result.stderr)
    assert str(kept) in line and "settings file" in line
    assert not (data_dir() / "inventory.sqlite3").exists(), "another database was picked"
    assert not data_dir().exists()


def test_the_damage_is_raised_once_and_a_save_keeps_the_kept_copy(private_dirs):
    config = app_config.config_path()
    config.parent.mkdir(parents=True)
    config.write_text("{oops", encoding="utf-8")
    with pytest.raises(app_config.ConfigDamaged) as damaged:
        app_config.saved_database_url()
    assert damaged.value.kept.read_text() == "{oops" and damaged.value.path == config
    assert "not valid JSON" in damaged.value.reason and str(damaged.value.kept) in str(damaged.value)
    assert app_config.load() == {}  # kept aside: the next start is a first start
    config.write_text("[]", encoding="utf-8")
    app_config.save(database_url="sqlite:////tmp/x.sqlite3")  # a save keeps the damaged file aside too
    assert app_config.saved_database_url() == "sqlite:////tmp/x.sqlite3"
    assert sorted(p.read_text() for p in config.parent.glob("config.json.broken-*")) == ["[]", "{oops"]


# ----- bad database URLs and files -----------------------------------------------------------

@pytest.mark.parametrize("url, secrets, words", [
    ("postgresql://alice:se/cret@host/db", ["se/cret", "cret"], "percent-encoded"),
    ("postgresql://alice:se#cret@127.0.0.1:1/db", ["se#cret", "cret"], "percent-encoded"),
    ("postgresql://alice:se?cret@127.0.0.1:1/db", ["se?cret", "cret"], "percent-encoded"),
    ("postgresql://u@127.0.0.1:99999/db", [], "port"),
    ("postgresql://alice:p%40ss%2Fw0rd@127.0.0.1:1/db", ["p%40ss", "p@ss", "w0rd"], "cannot use the database"),
    ("postgresql://alice:a@b:c@127.0.0.1:1/db", ["a@b:c", "b:c"], "cannot use the database"),
    ("postgresql://127.0.0.1:1/db?user=alice&password=hunter2", ["hunter2"], "cannot use the database"),
    ("sqlite:////proc/self/x.db", [], "cannot create the database file"),
])
@pytest.mark.parametrize("command", ["machines", "setup"])
def test_bad_database_urls_exit_2_in_one_line_without_the_password(url, secrets, words, command):
    result = cli(command, "--no-import" if command == "setup" else "--json", db_url=url)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    for secret in secrets:
        assert secret not in result.stderr and secret not in result.stdout
    (line,) = lines_of(result.stderr)
    assert line.startswith("ecp-desktop: ") and words in line


@pytest.mark.parametrize("command", ["machines", "setup"])
def test_a_file_that_is_not_sqlite_exits_2(tmp_path, command):
    notes = tmp_path / "notes.db"
    notes.write_bytes(b"my precious notes\n" * 100 + bytes(range(256)))
    result = cli(command, db_url=f"sqlite:///{notes}")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    (line,) = lines_of(result.stderr)
    assert "cannot use the database" in line and "not a database" in line
    assert notes.read_bytes().startswith(b"my precious notes")


@pytest.mark.parametrize("command", ["machines", "setup"])
def test_a_database_of_a_newer_schema_exits_2_naming_both_versions(db, db_url, command):
    newer = upgrades.LATEST_VERSION + 1
    query(db_url, f"INSERT INTO schema_version (version, name, applied_at) "
                  f"VALUES ({newer}, 'from the future', '2030-01-01 00:00:00')")
    result = cli(command, db_url=db_url)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    (line,) = lines_of(result.stderr)
    assert f"schema version {newer}" in line and f"knows ({upgrades.LATEST_VERSION})" in line
    assert query(db_url, "SELECT max(version) FROM schema_version") == [(newer,)]  # nothing was changed


def test_a_password_parameter_is_not_saved_either(private_dirs):
    app_config.save(database_url="postgresql://op@db.example/inv?sslmode=require&password=hunter2")
    text = app_config.config_path().read_text()
    assert "hunter2" not in text
    assert app_config.saved_database_url() == "postgresql://op@db.example/inv?sslmode=require"


def test_a_closed_output_pipe_ends_the_command_quietly_without_a_signal(db_url):
    """`| head` closing the pipe ends the command quietly; no SIGPIPE kills it (libvirt's socket
    shares that signal: a daemon restart mid-command must give an error, not a silent death)."""

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    try:
        done = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect",
                               "test:///default", "machines"], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=60)
    finally:
        os.close(write_end)
    assert done.returncode == 0 and "Traceback" not in done.stderr, (done.returncode, done.stderr)
