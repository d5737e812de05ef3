"""The one domain-XML and capabilities reader, against hosts no one here wrote
(virt-manager's own test host: every disk kind, graphics, units) and the lab host."""
import libvirt
import pytest

from ecp_desktop.services.hosts.capabilities import read_capabilities
from ecp_desktop.services.libvirt_xml.domain import Domain, parse_domain, read_domain
from ecp_desktop.services.libvirt_xml.storage import locate
from ecp_desktop.services.hosts.states import STATE_LABELS, state_name

from ...helpers import LAB_URI, VIRT_MANAGER_URI


@pytest.fixture(scope="module")
def virt_manager_host():
    conn = libvirt.open(VIRT_MANAGER_URI)
    yield conn
    conn.close()


def test_every_machine_of_a_foreign_host_is_read(virt_manager_host):
    for dom in virt_manager_host.listAllDomains():
        parsed = read_domain(dom)
        assert parsed.uuid == dom.UUIDString() and parsed.name == dom.name()
        assert parsed.memory_kib == dom.maxMemory(), dom.name()


def test_disks_of_every_kind_mean_one_thing(virt_manager_host):
    parsed = read_domain(virt_manager_host.lookupByName("test-many-devices"))
    by_target = {d.target: d for d in parsed.disks}
    rbd = by_target["vdac"]
    assert rbd.kind == "network" and rbd.protocol == "rbd" and rbd.shared and not rbd.needs_copy
    assert rbd.path == ""  # a network disk has no local path to copy
    volume = by_target["vdc"]
    assert volume.kind == "volume" and volume.source == "idontexist/vol1"
    assert not locate(virt_manager_host, volume), "a pool that does not exist is not found"
    floppy = next(d for d in parsed.disks if d.device == "floppy")
    assert floppy.kind == "block"
    assert [g.kind for g in parsed.graphics][:3] == ["vnc", "vnc", "vnc"]
    assert any(g.listen == "1.2.3.4" for g in parsed.graphics)


def test_a_file_disk_in_a_pool_is_located():
    conn = libvirt.open(LAB_URI)
    try:
        parsed = read_domain(conn.lookupByName("web01"))
        disk = parsed.disks[0]
        assert disk.path == "/var/lib/libvirt/images/web01.img" and disk.needs_copy
    finally:
        conn.close()


def test_memory_units_and_current_memory():
    xml = ("<domain type='kvm'><name>a</name><uuid>00000000-0000-0000-0000-000000000001</uuid>"
           "<memory unit='GiB'>2</memory><currentMemory unit='MiB'>1024</currentMemory>"
           "<vcpu current='2'>4</vcpu><os><type arch='x86_64' machine='q35'>hvm</type>"
           "<nvram>/var/lib/libvirt/qemu/nvram/a_VARS.fd</nvram></os></domain>")
    parsed = parse_domain(xml)
    assert (parsed.memory_kib, parsed.current_memory_kib, parsed.vcpus) == (2 * 1024 * 1024, 1024 * 1024, 2)
    assert (parsed.arch, parsed.machine_type, parsed.os_type) == ("x86_64", "q35", "hvm")
    assert parsed.nvram.endswith("a_VARS.fd")


def test_a_name_written_through_the_model_cannot_break_out_of_its_element():
    name = "evil</name><uuid>x</uuid>' \"&"
    parsed = parse_domain(Domain(name=name).to_xml())
    assert parsed.name == name and parsed.uuid == ""


def test_capabilities_offer_guest_types(virt_manager_host):
    caps = read_capabilities(virt_manager_host)
    assert caps.cpu_arch and caps.guests
    guest = caps.guests[0]
    assert caps.machines_for(guest.arch, next(iter(guest.domain_types))) is not None
    assert caps.machines_for("no-such-arch", "kvm") is None


def test_one_state_vocabulary():
    assert state_name(libvirt.VIR_DOMAIN_PMSUSPENDED) == "pmsuspended"
    assert state_name(libvirt.VIR_DOMAIN_SHUTDOWN) == "shutdown"
    assert state_name(999) == "nostate"
    assert set(STATE_LABELS) == {state_name(code) for code in range(8)}
