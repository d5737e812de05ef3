"""A host's storage on a real libvirtd (issue 32), through the command line as a user runs it: a
directory pool made, a local file uploaded into a volume and downloaded back byte for byte
(libvirt streams), a resize QEMU's own tool sees, and an NFS pool that cannot be mounted
removed again."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import libvirt
import pytest

from .template_lab import app

pytestmark = pytest.mark.lab


def test_a_pool_is_made_and_a_file_goes_up_and_comes_back_byte_for_byte(lab_daemon, tmp_path, db_url):
    uri = lab_daemon.uri("qemu")
    folder = tmp_path / "images"
    made = app(db_url, "--connect", uri, "pool", "create", "images", "--path", str(folder), "--json")
    assert made.returncode == 0, made.stdout + made.stderr
    assert folder.is_dir()  # built by libvirt
    original = tmp_path / "disk.img"
    original.write_bytes(os.urandom(3 << 20) + b"the end")
    up = app(db_url, "--connect", uri, "volume", "upload", "images", "--file", str(original), "--json")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "uploaded disk.img to images/disk.img" in json.loads(up.stdout)[0]["outcome"]
    assert up.stderr == ""  # piped: no progress line
    back = tmp_path / "back.img"
    down = app(db_url, "--connect", uri, "volume", "download", "images", "disk.img", "--file", str(back))
    assert down.returncode == 0, down.stdout + down.stderr
    assert back.read_bytes() == original.read_bytes()
    assert back.stat().st_mode & 0o777 == 0o600  # a machine's disk: only its owner reads it
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]  # no partial file left
    again = app(db_url, "--connect", uri, "volume", "download", "images", "disk.img", "--file", str(back))
    assert again.returncode == 2 and "exists; choose a new file name" in again.stderr

    grown = app(db_url, "--connect", uri, "volume", "create", "images", "data.qcow2", "--size", "16M")
    assert grown.returncode == 0, grown.stdout + grown.stderr
    resized = app(db_url, "--connect", uri, "volume", "resize", "images", "data.qcow2", "--size", "32M")
    assert resized.returncode == 0, resized.stdout + resized.stderr
    info = subprocess.run([shutil.which("qemu-img") or "qemu-img", "info", "--output=json", "-U",
                           str(folder / "data.qcow2")], capture_output=True, text=True, timeout=60)
    assert json.loads(info.stdout)["virtual-size"] == 32 << 20, info.stderr
    shrink = app(db_url, "--connect", uri, "volume", "resize", "images", "data.qcow2", "--size", "8M")
    assert shrink.returncode == 2 and "qcow2" in shrink.stderr

    listed = app(db_url, "--connect", uri, "volume", "list", "images", "--json")
    assert sorted(v["name"] for v in json.loads(listed.stdout)) == ["data.qcow2", "disk.img"]


def test_an_nfs_pool_that_cannot_be_mounted_is_removed_again(lab_daemon, tmp_path, db_url):
    uri = lab_daemon.uri("qemu")
    made = app(db_url, "--connect", uri, "pool", "create", "nas", "--type", "netfs", "--path",
               str(tmp_path / "nas"), "--source-host", "127.0.0.1", "--source-dir", "/no-such-export")
    assert made.returncode == 1, made.stdout + made.stderr
    assert "pool nas could not be started" in made.stderr and "its definition removed" in made.stderr
    conn = libvirt.open(uri)
    try:
        assert "nas" not in [p.name() for p in conn.listAllStoragePools()]
    finally:
        conn.close()
