"""The one libvirt vocabulary: every declared field is exercised (written, read back, removed),
and read -> write -> read is stable over every definition the suite has (its host files,
virt-manager's test host, the lab's guest, libvirt's own test:///default, generated hosts)
and over New Machine's and Edit Hardware's output. In the spirit of virt-manager's
tests/test_checkprops.py."""
from __future__ import annotations

import libvirt
import pytest

from ecp_desktop.services.libvirt_xml import devices, domain, network, snapshot, storage
from ecp_desktop.services.libvirt_xml.xmlmodel import XmlChildren, XmlError, XmlNode, XmlProperty, parse
from ecp_desktop.testing.hostgen import write_host

from ...helpers import DATA, TINY_XML, TPL_UUID

MODULES = (domain, network, snapshot, storage)
NODES = sorted({value for module in MODULES for value in vars(module).values()
                if isinstance(value, type) and issubclass(value, XmlNode) and value.TAG and value.declared()},
               key=lambda kind: kind.__name__)
SAMPLES = {"text": "a<b>&'\" c", "integer": 7, "flag": True, "yes_no": False, "size": 2048}
EMPTY = {"text": "", "integer": None, "flag": False, "yes_no": None, "size": None}


def _blank(value):
    return value in ("", 0, False, None, -1)


@pytest.mark.parametrize("kind", NODES, ids=lambda kind: kind.__name__)
def test_every_declared_field_writes_reads_back_and_removes(kind):
    """Each field of each node: set on a fresh node, serialized, parsed again, read back equal;
    then cleared, which leaves the element as it was."""
    for name, declared in kind.declared().items():
        node = kind()
        empty = node.to_xml()
        if isinstance(declared, XmlChildren):
            child = node.__getattribute__(name).append(declared.kind())
            again = kind.from_xml(node.to_xml()) if kind.TAG.startswith("{") is False else node
            assert len(getattr(again, name)) == 1, f"{kind.__name__}.{name}"
            getattr(node, name).remove(child)
            assert len(getattr(node, name)) == 0 and node.to_xml() == empty, f"{kind.__name__}.{name}"
            continue
        assert isinstance(declared, XmlProperty)
        sample = SAMPLES[declared.kind]
        setattr(node, name, sample)
        again = kind(parse(node.to_xml()))
        assert getattr(again, name) == sample, f"{kind.__name__}.{name} ({declared.path})"
        setattr(node, name, EMPTY[declared.kind])
        assert node.to_xml() == empty, f"{kind.__name__}.{name} left {node.to_xml()}"
        assert _blank(getattr(node, name)) or name in ("kind", "device", "family"), f"{kind.__name__}.{name}"


def _documents() -> list[tuple[str, str]]:
    """(what, XML) of every domain, pool, volume and network the suite's hosts describe."""
    found = []
    uris = ["test:///default", *(f"test://{path}" for path in sorted(DATA.glob("*.xml")))]
    for uri in uris:
        conn = libvirt.open(uri)
        try:
            for dom in conn.listAllDomains(0):
                for flags in (0, libvirt.VIR_DOMAIN_XML_INACTIVE):
                    found.append((f"{uri} {dom.name()}", dom.XMLDesc(flags)))
            for pool in conn.listAllStoragePools(0):
                found.append((f"{uri} pool {pool.name()}", pool.XMLDesc(0)))
                if pool.isActive():
                    found += [(f"{uri} volume {v.name()}", v.XMLDesc(0)) for v in pool.listAllVolumes(0)]
            found += [(f"{uri} network {n.name()}", n.XMLDesc(0)) for n in conn.listAllNetworks(0)]
        finally:
            conn.close()
    found.append(("the lab's tiny guest", TINY_XML))
    return found


KINDS = {"domain": domain.Domain, "pool": storage.Pool, "volume": storage.Volume, "network": network.Network}


def _fields(node: XmlNode) -> dict:
    values = {}
    for name, declared in type(node).declared().items():
        value = getattr(node, name)
        values[name] = [_fields(child) for child in value] if isinstance(declared, XmlChildren) else value
    return values


def _rewrite(node: XmlNode) -> None:
    """Every field written back with the value read (children too)."""
    for name, declared in type(node).declared().items():
        if isinstance(declared, XmlChildren):
            for child in getattr(node, name):
                _rewrite(child)
        elif declared.raw(node.element) is not None or declared.kind == "flag":
            setattr(node, name, getattr(node, name))


def test_read_write_read_is_stable_over_every_document_the_suite_has(tmp_path):
    documents = _documents()
    generated = libvirt.open(write_host(tmp_path / "generated.xml", 20))
    try:
        documents += [(f"generated {d.name()}", d.XMLDesc(0)) for d in generated.listAllDomains(0)]
    finally:
        generated.close()
    assert len(documents) > 40
    for what, xml in documents:
        kind = KINDS[parse(xml).tag]
        first = kind.from_xml(xml)
        before = _fields(first)
        _rewrite(first)
        again = kind.from_xml(first.to_xml())
        assert _fields(again) == before, what


def test_domain_fields_read_as_libvirt_means_them():
    conn = libvirt.open("test:///default")
    try:
        dom = domain.read_domain(conn.lookupByName("test"))
    finally:
        conn.close()
    assert dom.name == "test" and dom.memory_kib == 8 * 1024 * 1024 and dom.vcpus == 2
    assert [d.target for d in dom.disks] == ["vda"] and dom.disks[0].path == "/guest/diskimage1"
    assert [(n.kind, n.source) for n in dom.interfaces] == [("network", "default")]


def test_new_elements_go_where_libvirt_writes_them():
    dom = domain.Domain.from_xml("<domain type='kvm'><name>a</name><os><type>hvm</type></os>"
                                 "<devices><interface type='network'/></devices></domain>")
    dom.title, dom.uuid = "A title", "00000000-0000-0000-0000-000000000001"
    dom.disks.append(domain.Disk(target="vda"))
    dom.flow_mark = "m1"
    assert [child.tag for child in dom.element][:4] == ["name", "uuid", "title", "metadata"]
    assert [child.tag for child in dom.element.find("devices")] == ["disk", "interface"]
    assert domain.Domain.from_xml(dom.to_xml()).flow_mark == "m1"


def test_setting_the_vcpus_and_memory_keeps_libvirts_meaning():
    dom = domain.Domain(name="a")
    dom.set_vcpus(4, 2)
    dom.memory_kib = 1024
    assert (dom.max_vcpus, dom.vcpus) == (4, 2) and 'unit="KiB"' in dom.to_xml()
    dom.set_vcpus(4, 4)
    assert dom.element.find("vcpu").get("current") is None and dom.vcpus == 4


@pytest.mark.parametrize("text", ["<domain", "<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><domain>&e;</domain>",
                                  "<pool type='dir'/>"])
def test_documents_that_are_not_domains_are_refused_in_words(text):
    with pytest.raises(XmlError) as refused:
        domain.Domain.from_xml(text)
    assert str(refused.value)


def test_device_rules():
    taken = {"vda", "sda"}
    assert devices.free_target("virtio", taken) == "vdb" and devices.free_target("ide", taken) == "hda"
    assert devices.targets(["virtio", "sata", "virtio"]) == ["vda", "sda", "vdb"]
    many: set[str] = set()
    assert [devices.free_target("virtio", many) for _ in range(28)][-2:] == ["vdaa", "vdab"]
    macs: set[str] = set()
    for _ in range(50):
        assert devices.MAC.match(devices.new_mac(macs)) and devices.new_mac(macs).startswith("52:54:00:")
    assert len(macs) == 100
    first = devices.volume_name("web 1/..", "vda", ".qcow2")
    assert "/" not in first and ".." not in first and first.endswith("-vda.qcow2")
    assert devices.volume_name("web 1/..", "vda", ".qcow2", {first}) == first.replace(".qcow2", "-2.qcow2")
    assert devices.device_bus("virtio", "cdrom") == "sata"
    assert devices.volume_suffix("t.qcow2") == ".qcow2" and devices.volume_suffix("noext") == ""


def test_which_machines_use_a_volume():
    conn = libvirt.open(f"test://{DATA / 'template.xml'}")
    try:
        users = storage.disk_users(conn)
        first = conn.lookupByUUIDString(TPL_UUID)
        disk = domain.read_domain(first, libvirt.VIR_DOMAIN_XML_INACTIVE).disks[0]
        assert first.name() in users.of(disk)
        assert storage.machine_using(conn, set(disk.keys())) in users.of(disk)
        assert storage.machine_using(conn, {"/nowhere/at/all.img"}) == ""
    finally:
        conn.close()
