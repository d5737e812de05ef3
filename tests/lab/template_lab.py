"""The lab's template host: a dir storage pool with the template's qcow2 disk and the
shut-off template ``tpl`` on a real libvirtd with QEMU, set up by the app's own ``setup``;
and the app run as a separate process, as a user runs it."""
import os
import subprocess
import sys

import libvirt

from ..helpers import TINY_XML

TEMPLATE_VOLUME = "tpl-root.qcow2"


def app(db_url, *args, crash_at=None, timeout=180):
    env = {**os.environ}
    env.pop("ECP_DESKTOP_CRASH_AT", None)
    if crash_at:
        env["ECP_DESKTOP_CRASH_AT"] = crash_at
    return subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def make_template(lab_daemon, tmp_path, db_url):
    """A dir pool holding the template's qcow2 disk, and the shut-off template."""
    uri = lab_daemon.uri("qemu")
    pool_dir = tmp_path / "pool"
    pool_dir.mkdir()
    conn = libvirt.open(uri)
    try:
        pool = conn.storagePoolDefineXML(f"<pool type='dir'><name>lab-pool</name><target><path>{pool_dir}"
                                         "</path></target></pool>")
        pool.create()
        pool.createXML(f"<volume><name>{TEMPLATE_VOLUME}</name><capacity unit='MiB'>16</capacity>"
                       "<target><format type='qcow2'/></target></volume>", 0)
        xml = TINY_XML.replace("tiny1", "tpl").replace(
            "<devices>", f"<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                         f"<source file='{pool_dir / TEMPLATE_VOLUME}'/><target dev='vda' bus='virtio'/></disk>"
                         "<interface type='user'><mac address='52:54:00:00:00:01'/></interface>")
        conn.defineXML(xml)
    finally:
        conn.close()
    setup = app(db_url, "--connect", uri, "setup", "--local", uri)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    return uri, db_url, db_url


def libvirt_now(uri):
    conn = libvirt.open(uri)
    try:
        pool = conn.storagePoolLookupByName("lab-pool")
        pool.refresh(0)
        return (sorted(d.name() for d in conn.listAllDomains()),
                sorted(v.name() for v in pool.listAllVolumes()))
    finally:
        conn.close()


