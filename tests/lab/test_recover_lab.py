"""A dead host's machines brought up on another (recover-host), two real daemons (QEMU, TCG):
a guest whose disk is on a directory pool both hosts have (the same folder: shared storage)
is defined and started on the other host from the inventory's last known definition; a guest
whose disk only the dead host had is listed with that reason and not touched."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .guests import clear_host, open_admin, tiny_guest_xml, where_is

pytestmark = pytest.mark.lab
SHARED = ("rec-shared", "c0ffee00-0000-4000-8000-0000000000d1")
LOCAL = ("rec-local", "c0ffee00-0000-4000-8000-0000000000d2")


def with_disk(xml: str, path: str) -> str:
    return xml.replace("<memballoon", f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                                      f"<source file='{path}'/><target dev='vda' bus='virtio'/></disk><memballoon")


def pool(conn, name: str, path) -> None:
    path.mkdir(exist_ok=True)
    made = conn.storagePoolDefineXML(f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>")
    made.create()


def cli(db_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, *args], capture_output=True,
                          text=True, timeout=300)


def _clean(uri: str) -> None:
    clear_host(uri)
    conn = open_admin(uri)
    try:
        for p in conn.listAllStoragePools():
            if p.isActive():
                for v in p.listAllVolumes():
                    v.delete()
                p.destroy()
            p.undefine()
    finally:
        conn.close()


def test_a_dead_hosts_guest_on_shared_storage_starts_on_the_other_host(lab_pair, db_url, tmp_path):
    a, b = lab_pair
    for host in (a, b):
        host.start()
        _clean(host.tcp_uri)
    shared = tmp_path / "shared"
    on_a, on_b = open_admin(a.tcp_uri), open_admin(b.tcp_uri)
    try:
        pool(on_a, "shared", shared)
        pool(on_b, "shared", shared)  # the same folder: what NFS or a cluster file system gives two hosts
        pool(on_a, "alocal", tmp_path / "alocal")
        for name, where in ((SHARED[0], "shared"), (LOCAL[0], "alocal")):
            on_a.storagePoolLookupByName(where).createXML(
                f"<volume><name>{name}.qcow2</name><capacity unit='MiB'>16</capacity>"
                "<target><format type='qcow2'/></target></volume>", 0)
        for (name, uuid), folder in ((SHARED, shared), (LOCAL, tmp_path / "alocal")):
            on_a.defineXML(with_disk(tiny_guest_xml(name, uuid), f"{folder}/{name}.qcow2")).create()
    finally:
        on_a.close()
        on_b.close()
    both = ("--connect", a.tcp_uri, "--connect", b.tcp_uri)
    imported = cli(db_url, *both, "setup", "--json")  # setup imports: the inventory keeps each definition
    assert imported.returncode == 0, imported.stderr

    a.crash_host()  # the host dies: its daemon and guests
    a.net_cut()     # and its network: nothing answers there
    try:
        refused = cli(db_url, *both, "recover-host", a.tcp_uri, "--to", b.tcp_uri)
        assert refused.returncode == 2 and "--confirm-down" in refused.stderr  # nothing without the confirmation
        done = cli(db_url, *both, "recover-host", a.tcp_uri, "--confirm-down", "--to", b.tcp_uri, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert where_is(SHARED[1], b.tcp_uri) == {b.tcp_uri: "running"}
        assert where_is(LOCAL[1], b.tcp_uri) == {}
        text = json.dumps(report)
        assert LOCAL[0] in text and "dead host only" in text, text
    finally:
        a.net_restore()
        a.start()
        _clean(a.tcp_uri)
        _clean(b.tcp_uri)
