"""Restore after a simulated host reboot, on a real libvirtd with QEMU (TCG) guests."""
import json
import subprocess
import sys
from pathlib import Path

import libvirt
import pytest

from ..helpers import TINY_XML

pytestmark = pytest.mark.lab


def tiny(index: int, disk: Path | None = None) -> str:
    xml = TINY_XML.replace("tiny1", f"tiny{index}").replace("000000000001", f"00000000000{index}")
    if disk is not None:
        xml = xml.replace("<devices>", f"<devices><disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                                       f"<source file='{disk}'/><target dev='vda' bus='virtio'/></disk>")
    return xml


def app(db_url, *args):
    result = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, *args],
                            capture_output=True, text=True, timeout=120)
    return result


def active(uri):
    conn = libvirt.open(uri)
    try:
        return sorted(d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE))
    finally:
        conn.close()


def test_after_a_host_reboot_restore_starts_exactly_what_ran(lab_daemon, tmp_path, db_url):
    uri = lab_daemon.uri("qemu")
    disk = tmp_path / "tiny4.img"
    disk.write_bytes(b"\0" * 1024 * 1024)
    admin = libvirt.open(uri)
    try:
        for xml in (tiny(1), tiny(2), tiny(3), tiny(4, disk)):
            admin.defineXML(xml)
        for name in ("tiny1", "tiny2", "tiny4"):
            admin.lookupByName(name).create()
    finally:
        admin.close()
    setup = app(db_url, "--connect", uri, "setup", "--local", uri)
    assert setup.returncode == 0, setup.stdout + setup.stderr

    lab_daemon.crash_host()
    # The daemon is down: a clear error and exit 3, no traceback.
    down = app(db_url, "restore", "--json")
    assert down.returncode == 3 and "Traceback" not in down.stderr
    assert f"cannot connect to {uri}" in down.stderr
    lab_daemon.start()
    assert active(uri) == []  # nothing runs after the "reboot"

    disk.unlink()  # tiny4 cannot start any more
    result = app(db_url, "restore", "--json")
    summary = json.loads(result.stdout)
    outcomes = {m["name"]: m["outcome"] for m in summary["machines"]}
    assert result.returncode == 1, result.stderr
    assert outcomes == {"tiny1": "started", "tiny2": "started", "tiny4": "failed"}
    error = next(m for m in summary["machines"] if m["name"] == "tiny4")["error"]
    assert error["code"] and error["domain_name"] and str(disk) in error["message"]
    assert active(uri) == ["tiny1", "tiny2"]

    # Put the disk back: the rerun completes, and what runs already is left alone.
    disk.write_bytes(b"\0" * 1024 * 1024)
    again = app(db_url, "restore", "--json")
    assert again.returncode == 0, again.stderr
    assert {m["name"]: m["outcome"] for m in json.loads(again.stdout)["machines"]} == {
        "tiny1": "already running", "tiny2": "already running", "tiny4": "started"}
    assert active(uri) == ["tiny1", "tiny2", "tiny4"]
    conn = libvirt.open(uri)
    for dom in conn.listAllDomains():
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    conn.close()


def test_a_paused_guest_is_left_paused_when_a_user_paused_it_and_resumed_when_the_policy_says(
        lab_daemon, db_url):
    from ecp_desktop.services.inventory import store
    from ecp_desktop.services.setup.startup import open_inventory
    uri = lab_daemon.uri("qemu")
    admin = libvirt.open(uri)
    try:
        admin.defineXML(tiny(1))
        dom = admin.lookupByName("tiny1")
        dom.create()
        setup = app(db_url, "--connect", uri, "setup", "--local", uri)
        assert setup.returncode == 0, setup.stdout + setup.stderr
        dom.suspend()  # paused by a user (virsh suspend): libvirt's reason says so
        assert dom.state() == [libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_USER]

        result = app(db_url, "restore", "--json")
        assert result.returncode == 0, result.stderr
        (machine,) = json.loads(result.stdout)["machines"]
        assert (machine["outcome"], machine["detail"]) == ("left paused", "paused by a user")
        assert dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED

        handle = open_inventory(db_url)
        try:
            store.set_restore_policy([(uri, dom.UUIDString())], paused="resume-always")
        finally:
            handle.close()
        result = app(db_url, "restore", "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["machines"][0]["outcome"] == "resumed"
        assert dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        dom.destroy()
        dom.undefine()
    finally:
        admin.close()
