"""The inventory's disk fills up in the middle of a bulk action, then is freed (issue 24).

Before: 18 machine-row and desired-state writes failed during such an outage and were
never written again, so machines the user had started stayed "shutoff, desired shutoff"
in the inventory (a restore after a crash would have started none of them), and the status
bar said "cannot rollback - no transaction is active". Now the status bar names the full
disk, the writes wait, and once there is room again the inventory equals libvirt and the
user's intents.

All real: the SQLite file on a small tmpfs mounted for the test, filled by a file written
until the kernel says ENOSPC, and libvirt's test driver. In this tier because it mounts a
file system (root, and a change to the machine's mounts, which the fast tier never makes);
CI runs as root, and there a missing root or mount is a failure, not a skip.
"""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import libvirt
import pytest

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.services.composition import build_services
from ecp_desktop.services.core import database_faults as faults
from ecp_desktop.testing.hostgen import write_host
from ecp_desktop.testing.inventory import set_up_inventory

pytestmark = pytest.mark.sqlite_only  # the SQLite file's own disk


def _mount_available() -> None:
    problem = None
    if os.geteuid() != 0:
        problem = "mounting a tmpfs needs root"
    elif not shutil.which("mount") or not shutil.which("umount"):
        problem = "mount and umount are not installed"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"full-disk test unavailable in CI: {problem}")
        pytest.skip(problem)


@pytest.fixture
def small_disk():
    """A 4 MiB tmpfs of our own, unmounted at the end (lazily if a file is still open)."""
    _mount_available()
    where = Path(tempfile.mkdtemp(prefix="ecp-full-disk-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        where.rmdir()
        if os.environ.get("CI"):
            pytest.fail(f"cannot mount a tmpfs in CI: {mounted.stderr}")
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(where)], check=True)
        where.rmdir()


def fill(disk: Path) -> Path:
    """Write a file until the kernel refuses: the disk is full, for real."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    try:
        while True:  # the last pages, a little at a time
            os.write(fd, b"\0" * 512)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def recorded(uri: str) -> dict[str, tuple[str, str]]:
    """uuid -> (state, desired state), as the inventory has them."""
    M = schema.Machine
    with database.connection_context():
        query = M.select(M.uuid, M.state, M.desired_state).join(schema.Host).where(schema.Host.uri == uri).tuples()
        return {uuid: (state, desired) for uuid, state, desired in query}


def test_a_full_disk_mid_bulk_action_loses_no_machine_state(qtbot, run, small_disk, tmp_path):
    from PySide6.QtCore import QSettings

    from ecp_desktop.views.window.main_window import MainWindow
    url = f"sqlite:///{small_disk / 'inventory.sqlite3'}"
    handle = set_up_inventory(url)
    services = build_services()
    window = MainWindow(services, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    inventory = services.inventory
    inventory.writes.retry_seconds = 0.5
    try:
        uri = write_host(tmp_path / "fleet.xml", 60, seed=24, prefix="disk-")
        host = inventory.add_host(uri)
        assert run(inventory.connect_host(host))
        run(inventory.load_host(host))
        run(inventory.writes.written())
        stopped = [m for m in inventory.machines_of(uri) if m.state == "shutoff"]
        assert len(stopped) >= 15
        assert {recorded(uri)[m.uuid] for m in stopped} == {("shutoff", "shutoff")}
        done, filler = [], []

        def halfway(record) -> None:
            if record.parent is not None and record.status == "succeeded":
                done.append(record)
                if len(done) == 5:
                    # Every write from here needs new pages: the write-ahead log starts empty
                    # (as after any checkpoint), then the disk fills.
                    services.executors.database.submit(
                        database.execute_sql, "PRAGMA wal_checkpoint(TRUNCATE)").result(timeout=10)
                    filler.append(fill(small_disk))
        services.tasks.task_changed.connect(halfway)
        try:
            steps = run(services.lifecycle.apply_many("start", stopped), timeout=60)
        finally:
            services.tasks.task_changed.disconnect(halfway)
        assert filler and {s.status for s in steps} == {"succeeded"}  # libvirt started them all

        qtbot.waitUntil(lambda: inventory.database_away != "", timeout=10000)
        assert inventory.writes.fault.kind == faults.DISK_FULL, inventory.database_away
        assert "Inventory database away (disk full)" in window.health.text()
        assert "database or disk is full" in window.health.toolTip()
        assert "cannot rollback" not in window.health.text()
        assert run(services.lifecycle.apply("pause", stopped[0])).status == "succeeded"  # one more, while full
        assert inventory.writes.waiting() > 0

        filler[0].unlink()  # room again
        qtbot.waitUntil(lambda: inventory.database_away == "", timeout=15000)
        qtbot.waitUntil(lambda: services.tasks.database_away == "", timeout=20000)
        run(inventory.writes.written())
        run(services.tasks.flush())
        assert "Inventory database away" not in window.health.text()

        states = {libvirt.VIR_DOMAIN_RUNNING: "running", libvirt.VIR_DOMAIN_PAUSED: "paused",
                  libvirt.VIR_DOMAIN_SHUTOFF: "shutoff"}
        truth = run(host.call(lambda conn: {d.UUIDString(): states[d.state()[0]] for d in conn.listAllDomains()}))
        rows = recorded(uri)
        assert {uuid: state for uuid, (state, _desired) in rows.items()} == truth  # the inventory equals libvirt
        assert truth[stopped[0].uuid] == "paused"
        assert {rows[m.uuid][1] for m in stopped} == {"running"}  # and what the user asked for
        with database.connection_context():
            statuses = [t.status for t in schema.Task.select().where(schema.Task.parent_id.is_null(False))]
        assert len(statuses) >= len(stopped) and set(statuses) == {"succeeded"}  # the task history too
    finally:
        services.shutdown()
        handle.close()
