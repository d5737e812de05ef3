"""Every libvirt error in the log: one line per error, every field, from every path, safe
to read; and ``restore --json`` carries the same fields. Real errors from libvirt's test
driver (and one refused TCP connection), no mocks."""
import errno
import json
import logging
import os
import subprocess
import sys

import libvirt
import pytest

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.services.config import app_log
from ecp_desktop.services.core.errors import LOGGER_NAME, HypervisorError
from ecp_desktop.services.hosts import probe
from ecp_desktop.services.hosts.connection import connected_host
from ecp_desktop.services.hosts.facts import version_text
from ecp_desktop.services.hosts.opening import open_connection
from ecp_desktop.services.inventory import store

from ...helpers import LAB_URI
from ...helpers.inventory import set_up, uuid_of

REFUSED = "qemu+tcp://127.0.0.1:1/system"  # nothing listens on port 1: refused at once
HOSTILE_XML = "<domain type='test'><name>\u202eevil\x1b[2J\u2028</name>"
FIELDS = {"error_id", "when", "code", "code_name", "domain", "domain_name", "level", "level_name", "message",
          "str1", "str2", "str3", "int1", "int2", "operation", "machine", "host_uri", "libvirt_version",
          "hypervisor_version"}


@pytest.fixture
def log_file(tmp_path):
    """The app's own file handler and format, on a private file, for this test only."""
    path = tmp_path / "ecp-desktop.log"
    handler = app_log.file_handler(path)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()


def entries(path, error: HypervisorError) -> list[dict]:
    """The log lines of ``error``, each read back: (the line, its JSON)."""
    lines = app_log.find_entries(path, [error.error_id])
    return [json.loads(line.split(f" id={error.error_id} ", 1)[1]) for line in lines]


def lab_versions() -> tuple[str, str]:
    conn = libvirt.open(LAB_URI)
    try:
        return version_text(conn.getLibVersion()), version_text(conn.getVersion())
    finally:
        conn.close()


def test_a_failed_action_is_one_log_line_with_every_field_and_the_hosts_versions(services, run, log_file, tmp_path):
    host = services.inventory.add_host(LAB_URI)
    assert run(services.inventory.connect_host(host))
    target = str(tmp_path / "no-such-dir" / "web01.save")
    with pytest.raises(HypervisorError) as caught:
        run(host.call(lambda conn: conn.lookupByName("web01").save(target), operation="save", machine="web01"))
    error = caught.value
    # libvirt's own fields carry values for this error: errno in int1, the format and the text in str1/str2
    assert error.code_name == "SYSTEM_ERROR" and error.int1 == errno.ENOENT and error.str1 == "%s"
    assert target in error.str2 and error.int2 == -1 and error.str3 is None
    (line,) = app_log.find_entries(log_file, [error.error_id])
    assert f" ERROR {LOGGER_NAME}: SYSTEM_ERROR id={error.error_id} " in line
    (logged,) = entries(log_file, error)
    assert set(logged) == FIELDS
    libvirt_version, hypervisor_version = lab_versions()
    assert logged == {
        "error_id": error.error_id, "when": error.when.isoformat(), "code": libvirt.VIR_ERR_SYSTEM_ERROR,
        "code_name": "SYSTEM_ERROR", "domain": libvirt.VIR_FROM_TEST, "domain_name": "TEST",
        "level": libvirt.VIR_ERR_ERROR, "level_name": "error", "message": error.message, "str1": "%s",
        "str2": error.str2, "str3": None, "int1": errno.ENOENT, "int2": -1, "operation": "save",
        "machine": "web01", "host_uri": LAB_URI, "libvirt_version": libvirt_version,
        "hypervisor_version": hypervisor_version}
    assert libvirt_version and error.libvirt_version == libvirt_version
    assert error.hypervisor_version == hypervisor_version


def test_libvirts_untrusted_words_stay_on_their_line_and_read_back_exactly(services, run, log_file):
    host = services.inventory.add_host(LAB_URI)
    assert run(services.inventory.connect_host(host))
    with pytest.raises(HypervisorError) as caught:
        run(host.call(lambda conn: conn.defineXML(HOSTILE_XML), operation="define"))
    error = caught.value
    assert error.code_name == "XML_DETAIL"
    assert all(c in error.message for c in ("\n", "\x1b", "\u202e", "\u2028")), "libvirt quotes the XML"
    text = log_file.read_text(encoding="utf-8")
    assert not any(c in text for c in ("\x1b", "\u202e", "\u2028", "\r"))
    # every line is a record (a time first) or an indented traceback line under one: nothing forged
    assert all(line[:4].isdigit() or line.startswith("  ") for line in text.split("\n")[:-1])
    (logged,) = entries(log_file, error)
    assert logged["message"] == error.message and logged["str2"] == error.str2


def test_the_same_libvirt_error_read_twice_is_logged_once(log_file):
    conn = libvirt.open(LAB_URI)
    try:
        conn.lookupByName("ghost")
    except libvirt.libvirtError as exc:
        first = HypervisorError.from_libvirt(exc, operation="look up", host_uri=LAB_URI)
        again = HypervisorError.from_libvirt(exc, operation="look up", host_uri=LAB_URI)
    finally:
        conn.close()
    assert again.error_id == first.error_id
    assert len(entries(log_file, first)) == 1 and first.str1 == "Domain not found"


def test_errors_from_short_lived_connections_carry_the_versions_learnt_at_the_open(log_file):
    """Setup, import and migration open their own connections: the open teaches the versions."""
    conn = open_connection("test:///default", read_only=True, operation="list machines")
    try:
        conn.lookupByUUIDString("99999999-9999-9999-9999-999999999999")
    except libvirt.libvirtError as exc:
        error = HypervisorError.from_libvirt(exc, operation="read machine", host_uri="test:///default")
    finally:
        conn.close()
    (logged,) = entries(log_file, error)
    assert logged["code_name"] == "NO_DOMAIN" and logged["libvirt_version"] and logged["hypervisor_version"]
    assert logged["operation"] == "read machine" and logged["host_uri"] == "test:///default"


def test_a_probe_that_is_refused_is_logged_with_errno(log_file):
    result = probe.probe(REFUSED, timeout=10)
    assert not result.reachable and "Connection refused" in result.reason
    ours = [line.split(f" {LOGGER_NAME}: ", 1)[1] for line in log_file.read_text().splitlines()
            if f" {LOGGER_NAME}: " in line]
    records = [json.loads(line.split(" ", 2)[2]) for line in ours]  # "<CODE> id=<id> {json}"
    (refused,) = [r for r in records if r["host_uri"] == REFUSED]
    assert refused["code_name"] == "SYSTEM_ERROR" and refused["domain_name"] == "RPC"
    assert refused["int1"] == errno.ECONNREFUSED and refused["str2"] and refused["operation"] == "connect"


def test_the_apps_own_not_connected_error_is_logged_the_same_way(log_file):
    with pytest.raises(HypervisorError) as caught:
        connected_host(None, "test:///nowhere", operation="start", machine="web01")
    (logged,) = entries(log_file, caught.value)
    assert logged["code_name"] == "INVALID_CONN" and logged["machine"] == "web01" and logged["operation"] == "start"


def test_history_rows_written_before_read_back_without_an_id():
    old = json.dumps({"message": "boom", "code": 42, "level": 2, "str1": "Domain not found", "int1": -1,
                      "when": "2025-01-01T00:00:00+00:00"})
    error = HypervisorError.from_json(old)
    assert error.error_id == "" and error.str1 == "Domain not found" and error.code_name == "NO_DOMAIN"
    again = HypervisorError.from_json(HypervisorError("x", code=1, str3="three", int2=7).to_json())
    assert again.str3 == "three" and again.int2 == 7 and len(again.error_id) == 12


def test_restore_json_and_the_headless_log_carry_every_field(db, db_url, tmp_path, monkeypatch):
    set_up(db)
    store.set_desired(LAB_URI, [uuid_of("stopped01")], "running")
    host_id = schema.Host.get(schema.Host.uri == LAB_URI).id
    with database.connection_context():  # known to the inventory, gone from the host
        schema.Machine.create(host=host_id, uuid="99999999-9999-9999-9999-999999999999", name="vanished",
                              state="running", desired_state="running")
    state = tmp_path / "state"
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    result = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "restore", "--json"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 1, result.stderr
    machines = json.loads(result.stdout)["machines"]
    error = next(m for m in machines if m["name"] == "vanished")["error"]
    assert FIELDS <= set(error) and error["summary"] and error["remedy"]
    libvirt_version, hypervisor_version = lab_versions()
    assert error["code_name"] == "NO_DOMAIN" and error["level"] == libvirt.VIR_ERR_ERROR
    assert error["level_name"] == "error" and error["str1"] == "Domain not found"
    assert error["str2"] is None and error["str3"] is None and error["int1"] == -1 and error["int2"] == -1
    assert error["host_uri"] == LAB_URI and error["machine"] and error["operation"]
    assert error["libvirt_version"] == libvirt_version and error["hypervisor_version"] == hypervisor_version
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    log = app_log.log_path()
    assert log.is_relative_to(state)
    (line,) = app_log.find_entries(log, [error["error_id"]])
    logged = json.loads(line.split(f" id={error['error_id']} ", 1)[1])
    assert logged == {k: error[k] for k in FIELDS}
    assert "vanished did not start" in result.stderr and LOGGER_NAME not in result.stderr


def test_a_task_failure_is_logged_and_its_history_row_points_at_the_line(services, run, log_file, qtbot):
    from ecp_desktop.services.inventory.machines import MachineInfo
    host = services.inventory.add_host(LAB_URI)
    assert run(services.inventory.connect_host(host))
    qtbot.waitUntil(lambda: len(services.inventory.machines) == 4)
    ghost = MachineInfo(LAB_URI, "00000000-0000-0000-0000-000000000009", "ghost9", "shutoff")
    record = run(services.lifecycle.apply("start", ghost))
    assert record.status == "failed" and record.error is not None
    (logged,) = entries(log_file, record.error)
    assert logged["code_name"] == "NO_DOMAIN" and logged["operation"] == "start" and logged["machine"] == "ghost9"
    assert logged["str1"] == "Domain not found" and logged["libvirt_version"]
    services.executors.database.submit(lambda: None).result()  # the history reached the database
    with database.connection_context():
        row = schema.Task.get(schema.Task.id == record.db_id)
    assert HypervisorError.from_json(row.error_json).error_id == record.error.error_id
