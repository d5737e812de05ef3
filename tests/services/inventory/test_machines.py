"""Reading domains from real libvirt (the test driver) into rows and details."""
import libvirt
import pytest

from ecp_desktop.services.libvirt_xml.domain import read_domain
from ecp_desktop.services.inventory.machines import list_machines

from ...helpers import LAB_URI, VIRT_MANAGER_URI


@pytest.fixture
def lab():
    conn = libvirt.open(LAB_URI)
    yield conn
    conn.close()


def test_lab_host_lists_every_domain_with_state_and_size(lab):
    rows = {m.name: m for m in list_machines(lab, LAB_URI)}
    assert set(rows) == {"web01", "db01", "stopped01", "paused01"}
    assert rows["web01"].state == "running" and rows["web01"].memory_kib == 512 * 1024
    assert rows["db01"].vcpus == 2
    assert rows["stopped01"].state == "shutoff"
    assert rows["paused01"].state == "paused"
    assert all(m.persistent and m.host_uri == LAB_URI for m in rows.values())


def test_real_world_host_with_every_state():
    """virt-manager's own test host: running, paused, shut off, crashed, pmsuspended, transient."""
    conn = libvirt.open(VIRT_MANAGER_URI)
    try:
        conn.lookupByName("test-clone-simple").setAutostart(1)
        rows = {m.name: m for m in list_machines(conn, VIRT_MANAGER_URI)}
    finally:
        conn.close()
    states = {m.state for m in rows.values()}
    assert {"running", "paused", "shutoff", "crashed", "pmsuspended"} <= states
    assert rows["test-clone-simple"].autostart
    assert any(not m.persistent for m in rows.values()), "the transient domain is reported as transient"
    assert len({m.uuid for m in rows.values()}) == len(rows)


def test_details_show_disks_and_interfaces(lab):
    details = read_domain(lab.lookupByName("web01"))
    assert details.arch == "x86_64" and details.domain_type == "test"
    assert [(d.target, d.source) for d in details.disks] == [("vda", "/var/lib/libvirt/images/web01.img")]
    assert [(n.kind, n.source, n.mac) for n in details.interfaces] == [("network", "default", "52:54:00:00:00:01")]
