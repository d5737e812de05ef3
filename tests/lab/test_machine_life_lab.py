"""A machine's life on a real libvirtd with QEMU (issue 31): a linked clone's overlay is a real
qcow2 over the template's disk and the clone boots from it; Delete… removes the chosen volumes
from the pool, and keeps a disk a linked clone still reads."""
from __future__ import annotations

import json

import libvirt
import pytest

from .template_lab import TEMPLATE_VOLUME, app, libvirt_now

pytestmark = pytest.mark.lab


def test_a_linked_clone_boots_and_delete_removes_volumes_but_never_a_base(lab_template):
    uri, db_url, _ = lab_template
    made = app(db_url, "--connect", uri, "clone", "tpl", "--linked", "--name", "thin", "--start", "--json")
    assert made.returncode == 0, made.stdout + made.stderr
    assert libvirt_now(uri) == (["thin", "tpl"], sorted([TEMPLATE_VOLUME, "thin-vda.qcow2"]))
    conn = libvirt.open(uri)
    try:
        thin = conn.lookupByName("thin")
        assert thin.state()[0] == libvirt.VIR_DOMAIN_RUNNING  # QEMU opened the overlay and its base
        volume = conn.storagePoolLookupByName("lab-pool").storageVolLookupByName("thin-vda.qcow2")
        assert f"<path>{volume.path().rsplit('/', 1)[0]}/{TEMPLATE_VOLUME}</path>" in volume.XMLDesc(0)
    finally:
        conn.close()

    # The template's disk is the clone's base: not deleted with it, and said why.
    kept = app(db_url, "--connect", uri, "delete", "tpl", "--json")
    assert kept.returncode == 2, kept.stdout + kept.stderr
    [plan] = json.loads(kept.stdout)
    [vda] = [d for d in plan["disks"] if d["target"] == "vda"]
    assert vda["kept_because"] == "the base of linked clone volume thin-vda.qcow2"

    # The running clone, forced off and deleted with its overlay: gone from libvirt and the pool.
    gone = app(db_url, "--connect", uri, "delete", "thin", "--disks", "all", "--force-off", "--yes", "--json")
    assert gone.returncode == 0, gone.stdout + gone.stderr
    assert libvirt_now(uri) == (["tpl"], [TEMPLATE_VOLUME])
    # Now nothing reads the template's disk: it goes with the template.
    last = app(db_url, "--connect", uri, "delete", "tpl", "--disks", "all", "--yes", "--json")
    assert last.returncode == 0, last.stdout + last.stderr
    assert libvirt_now(uri) == ([], [])
