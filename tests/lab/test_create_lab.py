"""New Machine on real QEMU (TCG): an installer ISO on this computer is uploaded into a pool
(a libvirt stream), a machine is made from it by `ecp-desktop create`, and it boots: the
lab's small Linux guest, packed as a bootable ISO (isolinux), answers on the new machine's
serial console. A creation that fails in the middle leaves nothing on the host."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import libvirt
import pycdlib
import pytest

from .guests import open_admin

pytestmark = pytest.mark.lab
ISOLINUX = Path("/usr/lib/ISOLINUX/isolinux.bin")
LDLINUX = Path("/usr/lib/syslinux/modules/bios/ldlinux.c32")


def bootable_iso(guest_dir: str, out: Path) -> Path:
    """The lab guest's kernel and initramfs on an El Torito ISO that isolinux boots, its
    console on the first serial port."""
    if not ISOLINUX.exists() or not LDLINUX.exists():
        pytest.fail("isolinux and syslinux-common are not installed (scripts/setup.sh test installs them)")
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident="ECPLAB")
    config = (b"DEFAULT linux\nPROMPT 0\nTIMEOUT 1\nLABEL linux\n  KERNEL /vmlinuz\n"
              b"  APPEND initrd=/initrd.gz console=ttyS0\n")
    files = {"/ISOLINUX.BIN;1": ISOLINUX.read_bytes(), "/LDLINUX.C32;1": LDLINUX.read_bytes(),
             "/ISOLINUX.CFG;1": config, "/VMLINUZ.;1": (Path(guest_dir) / "vmlinuz").read_bytes(),
             "/INITRD.GZ;1": (Path(guest_dir) / "initrd.gz").read_bytes()}
    names = {"/ISOLINUX.BIN;1": "isolinux.bin", "/LDLINUX.C32;1": "ldlinux.c32", "/ISOLINUX.CFG;1": "isolinux.cfg",
             "/VMLINUZ.;1": "vmlinuz", "/INITRD.GZ;1": "initrd.gz"}
    for path, data in files.items():
        iso.add_fp(io.BytesIO(data), len(data), path, rr_name=names[path], joliet_path="/" + names[path])
    iso.add_eltorito("/ISOLINUX.BIN;1", bootcatfile="/BOOT.CAT;1", boot_load_size=4, boot_info_table=True)
    iso.write(str(out))
    iso.close()
    return out


def console_text(dom: libvirt.virDomain, wanted: str, timeout: float) -> str:
    """What the machine's serial console says, read through libvirt's console stream until
    ``wanted`` appears (or ``timeout``)."""
    conn = dom.connect()
    stream = conn.newStream(0)
    dom.openConsole(None, stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
    seen = bytearray()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                data = stream.recv(4096)
            except libvirt.libvirtError:
                return
            if not data:
                return
            seen.extend(data)
            if wanted.encode() in seen:
                return
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    done.set()
    try:
        stream.abort()
    except libvirt.libvirtError:
        pass
    return seen.decode(errors="replace")


def create(db_url: str, uri: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", uri, "create",
                           "--host", uri, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture
def lab_pool(lab_daemon, tmp_path):
    uri = lab_daemon.uri("qemu")
    admin = open_admin(uri)
    (tmp_path / "pool").mkdir()
    pool = admin.storagePoolDefineXML(f"<pool type='dir'><name>made</name><target><path>{tmp_path / 'pool'}</path>"
                                      "</target></pool>")
    pool.create()
    try:
        yield uri, admin
    finally:
        for dom in admin.listAllDomains():
            if dom.isActive():
                dom.destroy()
            dom.undefine()
        for volume in pool.listAllVolumes():
            volume.delete()
        pool.destroy()
        pool.undefine()
        admin.close()


def test_an_uploaded_iso_becomes_a_machine_that_boots_and_answers(lab_pool, guest_dir, db_url, tmp_path):
    uri, admin = lab_pool
    iso = bootable_iso(guest_dir, tmp_path / "lab-installer.iso")
    done = create(db_url, uri, "--name", "made1", "--iso", str(iso), "--upload", "--pool", "made", "--memory", "128",
                  "--vcpus", "1", "--disk-size", "1", "--no-network", "--virt-type", "qemu", "--start", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert "upload_volume" in json.dumps(report)  # the ISO went through the stream upload
    pool = admin.storagePoolLookupByName("made")
    pool.refresh()
    uploaded = pool.storageVolLookupByName("lab-installer.iso")
    assert uploaded.info()[1] == iso.stat().st_size
    dom = admin.lookupByName("made1")
    assert dom.isActive()
    started = time.monotonic()
    text = console_text(dom, "tick 1", timeout=120)
    assert "GUEST-UP" in text and "tick" in text, text[-500:]
    assert time.monotonic() - started < 120


def test_a_creation_that_fails_in_the_middle_leaves_nothing(lab_pool, guest_dir, db_url, tmp_path):
    """The name is taken on the host after the upload and the disk were made (another client
    defines it first): define fails, and the disk and the uploaded ISO are removed again."""
    uri, admin = lab_pool
    iso = bootable_iso(guest_dir, tmp_path / "other-installer.iso")
    planned = create(db_url, uri, "--name", "made2", "--iso", str(iso), "--upload", "--pool", "made", "--memory",
                     "128", "--vcpus", "1", "--disk-size", "1", "--no-network", "--virt-type", "qemu", "--print-xml")
    assert planned.returncode == 0, planned.stderr
    xml = planned.stdout[planned.stdout.index("<domain"):]
    admin.defineXML(xml.replace("<name>made2</name>", "<name>made2</name>", 1)
                    .replace(xml[xml.index("<uuid>"):xml.index("</uuid>") + 7], ""))  # same name, its own UUID
    volumes_before = sorted(v.name() for v in admin.storagePoolLookupByName("made").listAllVolumes())
    failed = create(db_url, uri, "--name", "made2", "--iso", str(iso), "--upload", "--pool", "made", "--memory",
                    "128", "--vcpus", "1", "--disk-size", "1", "--no-network", "--virt-type", "qemu", "--json")
    assert failed.returncode in (1, 2), failed.stdout + failed.stderr
    pool = admin.storagePoolLookupByName("made")
    pool.refresh()
    assert sorted(v.name() for v in pool.listAllVolumes()) == volumes_before


def test_a_pool_that_fills_up_during_the_upload_leaves_nothing(lab_daemon, guest_dir, db_url, tmp_path):
    """A full pool in the middle of a creation: the ISO's upload runs out of room (a 2 MiB
    file system under the pool); the step fails, the half-written volume goes, no machine is
    defined, and the command says the creation failed and was undone (exit 1)."""
    small = tmp_path / "small"
    small.mkdir()
    # mounted where the daemon sees it: it runs in a mount namespace of its own (scripts/lab.sh)
    pid = (Path(lab_daemon.env["ECP_LAB_DIR"]) / lab_daemon.name / "run" / "libvirtd.pid").read_text().strip()
    in_daemon = ["nsenter", "-t", pid, "-m", "--"]
    subprocess.run([*in_daemon, "mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)], check=True)
    uri = lab_daemon.uri("qemu")
    admin = open_admin(uri)
    try:
        pool = admin.storagePoolDefineXML(f"<pool type='dir'><name>small</name><target><path>{small}</path>"
                                          "</target></pool>")
        pool.create()
        iso = bootable_iso(guest_dir, tmp_path / "big-installer.iso")  # the kernel alone is several MiB
        failed = create(db_url, uri, "--name", "made3", "--iso", str(iso), "--upload", "--pool", "small", "--memory",
                        "128", "--vcpus", "1", "--disk-size", "1", "--no-network", "--virt-type", "qemu", "--json")
        assert failed.returncode == 1, failed.stdout + failed.stderr
        pool.refresh()
        assert pool.listAllVolumes() == []
        assert "made3" not in [d.name() for d in admin.listAllDomains()]
    finally:
        for p in admin.listAllStoragePools():
            if p.name() == "small":
                if p.isActive():
                    p.destroy()
                p.undefine()
        admin.close()
        subprocess.run([*in_daemon, "umount", str(small)], check=False)
