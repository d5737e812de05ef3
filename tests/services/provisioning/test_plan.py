"""New machines (issue 22): the plan and its checks, the definition, the NoCloud seed read back,
whole creations on libvirt's test driver, failures in the middle undone, and the command line.

The test driver has no ``virStorageVolUpload``: a seed ISO or an uploaded file cannot be
written there, so a creation that needs one fails at that step for real (and is undone), and
the stream code is exercised by the lab. libosinfo's database (Debian's osinfo-db) and
``osinfo-detect`` (libosinfo-bin) are system packages the set-up script installs."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import libvirt
import pycdlib
import pytest

from ecp_desktop.models import schema
from ecp_desktop.services.libvirt_xml.domain import FLOW_NS, parse_domain
from ecp_desktop.services.provisioning import osinfo
from ecp_desktop.services.libvirt_xml.storage import PoolSummary
from ecp_desktop.services.provisioning.host_offer import HostOffer
from ecp_desktop.services.provisioning.plan import PlanError, make_plan
from ecp_desktop.services.provisioning.seed_iso import SeedConfig, build_iso, seed_files
from ecp_desktop.services.provisioning.service import ProvisioningService
from ecp_desktop.services.provisioning.spec import MachineSpec, spec_problems
from ecp_desktop.services.tasks.records import FAILED, ROLLBACK, ROLLED_BACK, SUCCEEDED

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC8hbHsa9bm0sw2M4ZYy0kv0Xn1r3DQfN3lhD3gnpJ5B me@laptop"
HOST_XML = """<node>
  <domain type='test'><name>old</name><uuid>22222222-0000-4000-8000-000000000001</uuid>
    <memory unit='MiB'>256</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>
  <network><name>default</name><bridge name='virbr0'/><forward mode='nat'/>
    <ip address='192.168.122.1' netmask='255.255.255.0'/></network>
  <pool type='dir'>
    <name>pool-a</name><uuid>35bb2ad9-388a-cdfe-461a-b8907f6e5301</uuid>
    <target><path>/pool-a</path></target>
    <volume type='file'><name>debian-12-genericcloud.qcow2</name><capacity unit='GiB'>2</capacity>
      <allocation unit='MiB'>400</allocation><target><format type='qcow2'/></target></volume>
    <volume type='file'><name>installer.iso</name><capacity unit='MiB'>600</capacity>
      <allocation unit='MiB'>600</allocation><target><format type='raw'/></target></volume>
    <volume type='file'><name>legacy.img</name><capacity unit='GiB'>8</capacity>
      <allocation unit='GiB'>8</allocation><target><format type='raw'/></target></volume>
  </pool>
</node>
"""
DB_MISSING = not (osinfo.load().entries)
needs_osinfo = pytest.mark.skipif(DB_MISSING, reason="osinfo-db is not installed (scripts/setup.sh installs it)")


@pytest.fixture
def host_uri(tmp_path):
    path = tmp_path / "new-machines.xml"
    path.write_text(HOST_XML)
    return f"test://{path}"


@pytest.fixture
def host(services, run, host_uri):
    host = services.inventory.add_host(host_uri)
    assert run(services.inventory.connect_host(host))
    run(services.inventory.load_host(host))
    return host


@pytest.fixture
def provisioning(services):
    return ProvisioningService(services.inventory, services.engine)


def state(run, host):
    """Machines and pool-a volumes as libvirt has them now (a test:///FILE host is private to
    its connection: read through the app's own)."""
    def read(conn):
        return ({d.name() for d in conn.listAllDomains()},
                {v.name() for v in conn.storagePoolLookupByName("pool-a").listAllVolumes()})
    return run(host.call(read))


def leaves(record):
    out = []
    for child in record.children:
        out += [child] if child.op else leaves(child)
    return out


def offer(**changes) -> HostOffer:
    base = HostOffer("qemu:///system", names={"taken"}, networks=["default"], domain_type="kvm",
                     machine="q35", efi=True, secure_boot=True, memory_mib=16384, cpus=8,
                     pools={"default": PoolSummary("default", "dir", "/var/lib/libvirt/images", 10 * 2**30, True,
                                                 frozenset({"busy-disk.qcow2"}))})
    for key, value in changes.items():
        setattr(base, key, value)
    return base


# ----- the request, the plan and the definition -------------------------------------------
@pytest.mark.parametrize("changes, words", [
    ({"name": ""}, "cannot be empty"),
    ({"name": "a\u202eb"}, "changes how text around it reads"),
    ({"source": "floppy"}, "the source must be one of"),
    ({"source_path": ""}, "needs its file"),
    ({"source_path": "relative.iso"}, "is not absolute"),
    ({"source_path": "/isos/a\nb.iso"}, "control character"),
    ({"memory_mib": 10}, "memory must be between"),
    ({"vcpus": 9999}, "vCPU count must be between"),
    ({"disk_mib": 15}, "a new disk must be at least 16 MiB (not 15 MiB)"),
    ({"disk_mib": 2**40}, "a new disk must be at most 64 TiB (not 1048576 TiB)"),
    ({"source": "cloud-image", "no_disk": True}, "boots from its disk: it cannot be left out"),
    ({"network": "default", "bridge": "br0"}, "not both"),
    ({"graphics": "rdp"}, "graphics must be one of"),
    ({"firmware": "bios", "secure_boot": True}, "secure boot needs UEFI"),
    ({"seed": SeedConfig(ssh_keys=[KEY])}, "only for a cloud image"),
    ({"upload": True, "source_path": "/no/such/file.iso"}, "not a local file"),
])
def test_a_request_that_cannot_work_is_refused_in_words(changes, words):
    spec = MachineSpec(**{"name": "vm", "host_uri": "test:///default", "source_path": "/isos/x.iso", **changes})
    assert any(words in p for p in spec_problems(spec)), spec_problems(spec)


@pytest.mark.parametrize("seed, words", [
    (SeedConfig(user="Root!", ssh_keys=[KEY]), "user name"),
    (SeedConfig(ssh_keys=["not a key"]), "not an SSH public key"),
    (SeedConfig(ssh_keys=[KEY + "\nssh-rsa AAA injected"]), "not an SSH public key"),
    (SeedConfig(ssh_keys=[KEY], hostname="bad host"), "host name"),
    (SeedConfig(password_hash="plain"), "crypt(3)"),
    (SeedConfig(), "nobody can log in"),
])
def test_a_seed_that_cannot_work_is_refused(seed, words):
    assert words in (seed.problem() or "")


@needs_osinfo
def test_libosinfo_recommends_per_operating_system():
    database = osinfo.load()
    debian = database.find("debian11")
    assert (debian.disk_bus, debian.nic_model, debian.firmware, debian.efi_supported) == ("virtio", "virtio",
                                                                                         "bios", True)
    assert debian.memory_mib >= 1024 and debian.disk_mib >= 10 * 1024
    windows = database.find("win11")  # boots only from UEFI; no virtio drivers in the installer
    assert (windows.firmware, windows.disk_bus, windows.nic_model) == ("efi", "sata", "e1000e")
    assert database.find("debianbullseye") is debian  # another short id of the same OS
    assert {e.short_id for e in database.search("ubuntu 22")} >= {"ubuntu22.04"}


def test_without_the_database_generic_defaults_with_the_reason(tmp_path):
    database = osinfo.load(str(tmp_path / "nowhere"))
    assert not database.entries and "not installed" in database.problem
    assert database.find("generic") is osinfo.GENERIC and database.find("debian11") is None
    spec = MachineSpec("vm", "qemu:///system", source="pxe")
    plan = make_plan(spec, offer(), database)
    assert "not installed" in plan.notes[0]
    assert parse_domain(plan.xml).memory_kib == osinfo.GENERIC.memory_mib * 1024
    with pytest.raises(PlanError, match="no operating system 'debian11'.*not installed"):
        make_plan(MachineSpec("vm", "qemu:///system", source="pxe", os_id="debian11"), offer(), database)


@needs_osinfo
def test_an_installer_iso_is_detected_by_osinfo_detect(tmp_path):
    iso = pycdlib.PyCdlib()
    iso.new(vol_ident="Debian 11.7.0 amd64 n")  # what Debian 11's netinst says it is
    iso.add_fp(io.BytesIO(bytes(2048)), 2048, "/BOOT.;1")
    iso.add_eltorito("/BOOT.;1", "/BOOT.CAT;1")
    iso.write(str(tmp_path / "-netinst.iso"))  # a leading '-' is a file name, not an option
    iso.close()
    detected = osinfo.detect_iso(str(tmp_path / "-netinst.iso"))
    assert detected.entry is not None and detected.entry.short_id == "debian11", detected.words
    (tmp_path / "notes.txt").write_text("hello")
    missed = osinfo.detect_iso(str(tmp_path / "notes.txt"))
    assert missed.entry is None and missed.words.startswith("Could not tell which operating system this is")
    assert missed.words.endswith("Pick one below, or leave Generic."), missed.words
    unknown = pycdlib.PyCdlib()
    unknown.new(vol_ident="HOMEMADE")
    unknown.add_fp(io.BytesIO(bytes(2048)), 2048, "/BOOT.;1")
    unknown.add_eltorito("/BOOT.;1", "/BOOT.CAT;1")
    unknown.write(str(tmp_path / "homemade.iso"))
    unknown.close()
    assert osinfo.detect_iso(str(tmp_path / "homemade.iso")).words == (
        "Could not tell which operating system this is; the medium is bootable. Pick one below, or leave Generic.")


def test_the_seed_iso_read_back_holds_the_files_cloud_init_reads():
    hostile = 'x" ; rm -rf / #\n'  # typed text stays data: quoted by the JSON encoder
    seed = SeedConfig(user="ops", ssh_keys=[KEY], password_hash="$6$salt$hash", hostname="web-1",
                      extra_user_data="#!/bin/sh\necho " + hostile, network_config="version: 2\n")
    files = seed_files(seed, "iid-1234", "ignored-for-hostname")
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(build_iso(files)))
    try:
        assert iso.pvd.volume_identifier.strip() == b"cidata"
        read = {}
        for name in ("meta-data", "user-data", "network-config"):
            for kind in ("rr_path", "joliet_path"):  # both name tables carry cloud-init's names
                out = io.BytesIO()
                iso.get_file_from_iso_fp(out, **{kind: "/" + name})
                read[name] = out.getvalue().decode()
    finally:
        iso.close()
    assert json.loads(read["meta-data"]) == {"instance-id": "iid-1234", "local-hostname": "web-1"}
    assert read["network-config"] == "version: 2\n"
    message = read["user-data"]
    assert message.startswith("Content-Type: multipart/mixed")  # cloud-init's way to combine parts
    import email
    parts = [p for p in email.message_from_string(message).walk() if not p.is_multipart()]
    assert [p.get_content_type() for p in parts] == ["text/cloud-config", "text/x-shellscript"]
    config = parts[0].get_payload(decode=True).decode()
    assert config.startswith("#cloud-config\n")
    cloud = json.loads(config.split("\n", 1)[1])
    assert cloud["hostname"] == "web-1" and cloud["ssh_pwauth"] is True
    assert cloud["users"][0] | {} == {"name": "ops", "shell": "/bin/bash", "sudo": "ALL=(ALL) NOPASSWD:ALL",
                                      "lock_passwd": False, "passwd": "$6$salt$hash", "ssh_authorized_keys": [KEY]}
    assert parts[1].get_payload(decode=True).decode().endswith(hostile)


def test_the_definition_for_an_installer_iso_on_a_kvm_host():
    spec = MachineSpec('db <1> & "x"', "qemu:///system", source="iso", source_path="/isos/debian.iso",
                       memory_mib=3072, vcpus=4, disk_mib=30 * 1024, firmware="efi", secure_boot=True,
                       graphics="spice")
    plan = make_plan(spec, offer(), osinfo.load(str("/nowhere")))
    root = ET.fromstring(plan.xml)
    assert root.get("type") == "kvm" and root.findtext("name") == 'db <1> & "x"'  # escaped, read back whole
    assert root.find("os").get("firmware") == "efi" and root.find("os/type").get("machine") == "q35"
    assert {f.get("name"): f.get("enabled") for f in root.findall("os/firmware/feature")} == {
        "secure-boot": "yes", "enrolled-keys": "yes"}
    assert root.find("features/smm").get("state") == "on"
    assert [b.get("dev") for b in root.findall("os/boot")] == ["cdrom", "hd"]
    parsed = parse_domain(plan.xml)
    assert (parsed.memory_kib, parsed.vcpus) == (3072 * 1024, 4)
    assert [(d.device, d.target, d.bus, d.path, d.format) for d in parsed.disks] == [
        ("disk", "vda", "virtio", "/var/lib/libvirt/images/db__1_____x_-disk.qcow2", "qcow2"),
        ("cdrom", "sda", "sata", "/isos/debian.iso", "raw")]
    assert parsed.disks[1].readonly
    assert [(i.kind, i.source, i.model) for i in parsed.interfaces] == [("network", "default", "virtio")]
    assert [(g.kind, g.listen) for g in parsed.graphics] == [("spice", "127.0.0.1")]
    assert parsed.text_console is not None and parsed.serials[0].kind == "pty"
    define, step = plan.flow.children
    assert root.find(f"metadata/{{{FLOW_NS}}}flow").get("mark") == define.params["mark"]
    assert [s.op for s in plan.flow.children] == ["define_domain", "create_volume"]
    assert step.params == {"pool": "default", "name": "db__1_____x_-disk.qcow2", "capacity": 30 * 2**30,
                           "format": "qcow2", "uuid": plan.uuid, "mark": define.params["mark"]}


@pytest.mark.parametrize("changes, words", [
    ({"name": "taken"}, "exists on this host already"),
    ({"memory_mib": 32768}, "more than the host has (16384 MiB)"),
    ({"vcpus": 16}, "more than the host has CPUs (8)"),
    ({"network": "lan"}, "no network named 'lan'"),
    ({"pool": "fast"}, "no storage pool named 'fast'"),
    ({"name": "busy"}, "has a volume named busy-disk.qcow2 already"),
    ({"source": "cloud-image", "source_path": "/elsewhere/cloud.qcow2"}, "not a volume of a storage pool"),
])
def test_a_plan_the_host_cannot_take_is_refused_in_words(changes, words):
    spec = MachineSpec(**{"name": "vm", "host_uri": "qemu:///system", "source_path": "/isos/a.iso", **changes})
    with pytest.raises(PlanError, match=words.replace("(", r"\(").replace(")", r"\)")):
        make_plan(spec, offer(), osinfo.load("/nowhere"))


def test_uefi_only_where_the_host_offers_it():
    spec = MachineSpec("vm", "qemu:///system", source="pxe", firmware="efi")
    no_efi = offer(efi=False, secure_boot=False, firmware_words="the host has no UEFI firmware (ovmf): BIOS")
    with pytest.raises(PlanError, match="you chose UEFI, but the host has no UEFI firmware"):
        make_plan(spec, no_efi, osinfo.load("/nowhere"))
    plan = make_plan(MachineSpec("vm", "qemu:///system", source="pxe"), no_efi, osinfo.load("/nowhere"))
    root = ET.fromstring(plan.xml)
    assert root.find("os").get("firmware") is None
    assert [b.get("dev") for b in root.findall("os/boot")] == ["network", "hd"]


def test_a_local_cloud_image_is_uploaded_then_overlaid(tmp_path):
    image = tmp_path / "cloud image.qcow2"  # a qcow2 header: magic, version 3, virtual size 3 GiB
    image.write_bytes(b"QFI\xfb" + (3).to_bytes(4, "big") + bytes(16) + (3 * 2**30).to_bytes(8, "big") + bytes(480))
    spec = MachineSpec("c", "qemu:///system", source="cloud-image", source_path=str(image), upload=True, disk_mib=1024,
                       seed=SeedConfig(ssh_keys=[KEY]))
    plan = make_plan(spec, offer(), osinfo.load("/nowhere"))
    define, upload, overlay, seed = plan.flow.children
    assert (upload.op, upload.params["name"], upload.params["format"], upload.params["size"]) == (
        "upload_volume", "cloud_image.qcow2", "qcow2", 512)
    assert overlay.params == {"pool": "default", "name": "c-disk.qcow2", "capacity": 3 * 2**30, "format": "qcow2",
                              "backing_path": "/var/lib/libvirt/images/cloud_image.qcow2",
                              "backing_format": "qcow2", "uuid": plan.uuid,
                              "mark": define.params["mark"]}  # never smaller than the image it covers
    assert seed.op == "make_seed_volume" and "user-data" not in str(seed.params.get("contents"))
    there = offer(pools={"default": PoolSummary("default", "dir", "/images", 2**40, True,
                                              frozenset({"cloud_image.qcow2"}))})
    with pytest.raises(PlanError, match="use that volume .* instead of uploading"):
        make_plan(spec, there, osinfo.load("/nowhere"))


# ----- whole creations on the test driver --------------------------------------------------
def test_a_machine_from_an_installer_iso_in_a_pool(services, run, host, host_uri, provisioning):
    spec = MachineSpec("new-vm", host_uri, source="iso", source_path="/pool-a/installer.iso", pool="pool-a",
                       disk_mib=8 * 1024, start=True)
    plan = run(provisioning.plan(spec))
    root = run(provisioning.run(plan), timeout=30)
    assert root.status == SUCCEEDED, root.outcome
    assert [s.op for s in leaves(root)] == ["define_domain", "create_volume", "start_domain"]
    names, volumes = state(run, host)
    assert "new-vm" in names and "new-vm-disk.qcow2" in volumes
    xml = run(host.call(lambda c: c.lookupByName("new-vm").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)))
    parsed = parse_domain(xml)
    assert [(d.device, d.path) for d in parsed.disks] == [("disk", "/pool-a/new-vm-disk.qcow2"),
                                                          ("cdrom", "/pool-a/installer.iso")]
    assert parsed.consoles and parsed.serials
    # the flow's mark is gone once it succeeded: no undo may touch the machine now
    assert ET.fromstring(xml).find(f"metadata/{{{FLOW_NS}}}flow") is None
    assert run(host.call(lambda c: c.lookupByName("new-vm").isActive())) == 1
    assert "new-vm" in {m.name for m in services.inventory.machines_of(host_uri)}
    run(host.call(lambda c: c.lookupByName("new-vm").destroy()))


def test_a_live_iso_machine_is_made_without_a_disk(run, host, host_uri, provisioning):
    spec = MachineSpec("live", host_uri, source="iso", source_path="/pool-a/installer.iso", no_disk=True)
    plan = run(provisioning.plan(spec))
    assert "no disk: the machine keeps nothing it writes once it is turned off" in plan.notes
    root = run(provisioning.run(plan), timeout=30)
    assert root.status == SUCCEEDED, root.outcome
    assert [s.op for s in leaves(root)] == ["define_domain"]
    names, volumes = state(run, host)
    assert "live" in names and not any(v.startswith("live") for v in volumes)
    xml = run(host.call(lambda c: c.lookupByName("live").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)))
    assert [(d.device, d.path) for d in parse_domain(xml).disks] == [("cdrom", "/pool-a/installer.iso")]
    assert [b.get("dev") for b in ET.fromstring(xml).findall("os/boot")] == ["cdrom"]


def test_a_16_mib_disk_is_made(run, host, host_uri, provisioning):
    spec = MachineSpec("tiny", host_uri, source="pxe", pool="pool-a", disk_mib=16)
    plan = run(provisioning.plan(spec))
    assert [s.title for s in plan.flow.children][1] == "Make disk tiny-disk.qcow2 (16 MiB)"
    root = run(provisioning.run(plan), timeout=30)
    assert root.status == SUCCEEDED, root.outcome
    capacity = run(host.call(
        lambda c: c.storagePoolLookupByName("pool-a").storageVolLookupByName("tiny-disk.qcow2").info()[1]))
    assert capacity == 16 * 2**20
    with pytest.raises(PlanError, match="a new disk must be at least 16 MiB"):
        run(provisioning.plan(MachineSpec("tinier", host_uri, source="pxe", pool="pool-a", disk_mib=15)))


def test_a_machine_on_a_cloud_image_overlay_without_a_seed(run, host, host_uri, provisioning):
    spec = MachineSpec("cloud-1", host_uri, source="cloud-image",
                       source_path="/pool-a/debian-12-genericcloud.qcow2", pool="pool-a", disk_mib=1024)
    root = run(provisioning.run(run(provisioning.plan(spec))), timeout=30)
    assert root.status == SUCCEEDED, root.outcome
    volume = ET.fromstring(run(host.call(
        lambda c: c.storagePoolLookupByName("pool-a").storageVolLookupByName("cloud-1-disk.qcow2").XMLDesc(0))))
    assert volume.findtext("backingStore/path") == "/pool-a/debian-12-genericcloud.qcow2"
    assert volume.find("backingStore/format").get("type") == "qcow2"
    assert int(volume.findtext("capacity")) == 2 * 2**30  # never smaller than the image


def test_a_full_copy_of_a_cloud_image_reuses_the_clone_step(run, host, host_uri, provisioning):
    spec = MachineSpec("copy-1", host_uri, source="cloud-image", full_copy=True,
                       source_path="/pool-a/debian-12-genericcloud.qcow2", pool="pool-a")
    root = run(provisioning.run(run(provisioning.plan(spec))), timeout=30)
    assert root.status == SUCCEEDED, root.outcome
    assert [s.op for s in leaves(root)][:2] == ["define_domain", "clone_volume"]
    assert "copy-1-disk.qcow2" in state(run, host)[1]


def test_an_imported_disk_is_used_where_it_is(run, host, host_uri, provisioning):
    spec = MachineSpec("legacy", host_uri, source="import-disk", source_path="/pool-a/legacy.img", network="")
    plan = run(provisioning.plan(spec))
    assert [s.op for s in plan.flow.children] == ["define_domain"]
    assert run(provisioning.run(plan), timeout=30).status == SUCCEEDED
    disks = parse_domain(run(host.call(lambda c: c.lookupByName("legacy").XMLDesc(0)))).disks
    assert [(d.path, d.format) for d in disks] == [("/pool-a/legacy.img", "raw")]


def test_a_cloud_image_whose_seed_cannot_be_written_is_undone(services, run, host, host_uri, provisioning):
    """A real failure in the middle: the test driver refuses the seed's upload
    (virStorageVolUpload is not supported there), after the overlay was made."""
    before = state(run, host)
    seed = SeedConfig(ssh_keys=[KEY], password_hash="$6$salt$SECRET-HASH", extra_user_data="#cloud-config\n{}")
    spec = MachineSpec("cloud-2", host_uri, source="cloud-image", source_path="/pool-a/debian-12-genericcloud.qcow2",
                       pool="pool-a", seed=seed, start=True)
    root = run(provisioning.run(run(provisioning.plan(spec))), timeout=30)
    assert root.status == FAILED
    steps = leaves(root)
    assert [(s.op, s.status) for s in steps if s.role != ROLLBACK] == [
        ("define_domain", ROLLED_BACK), ("create_volume", ROLLED_BACK), ("make_seed_volume", FAILED),
        ("start_domain", "cancelled")]
    assert "virStorageVolUpload" in root.error_message
    undo = [c for c in root.children if c.role == ROLLBACK]
    assert [(u.title, u.status) for u in undo] == [("Delete new volume pool-a/cloud-2-disk.qcow2", SUCCEEDED),
                                                   ("Undefine cloud-2", SUCCEEDED)]
    assert state(run, host) == before  # neither the overlay nor a half-made seed is left
    # The seed's files (a password hash, the user's own user-data) never reach the task history.
    run(services.tasks.flush())
    with schema.database.connection_context():
        stored = str(list(schema.Task.select().dicts()))
    assert "make_seed_volume" in stored and "SECRET-HASH" not in stored and "user-data" in stored


def test_a_seed_step_planned_elsewhere_refuses_instead_of_guessing(run, host, host_uri, provisioning):
    spec = MachineSpec("cloud-3", host_uri, source="cloud-image", source_path="/pool-a/debian-12-genericcloud.qcow2",
                       pool="pool-a", seed=SeedConfig(ssh_keys=[KEY]))
    plan = run(provisioning.plan(spec))
    plan.seeds.clear()  # as a flow read back from the database: its seed's files were never written
    root = run(provisioning.run(plan), timeout=30)
    assert root.status == FAILED and "only in the memory of the process that planned" in root.error_message
    assert "cloud-3-disk.qcow2" not in state(run, host)[1]


def test_a_name_taken_after_planning_fails_at_define_before_any_disk_is_made(run, host, host_uri, provisioning):
    plan = run(provisioning.plan(MachineSpec("race", host_uri, source="pxe", pool="pool-a")))
    run(host.call(lambda c: c.defineXML(
        "<domain type='test'><name>race</name><memory>65536</memory><os><type>hvm</type></os></domain>")))
    root = run(provisioning.run(plan), timeout=30)
    assert root.status == FAILED and "already exists" in root.error_message
    assert [(s.op, s.status) for s in leaves(root) if s.role != ROLLBACK] == [
        ("define_domain", FAILED), ("create_volume", "cancelled")]
    names, volumes = state(run, host)
    assert "race-disk.qcow2" not in volumes  # never made
    assert run(host.call(lambda c: c.lookupByName("race").UUIDString())) != plan.uuid  # the other one stays


def test_an_upload_the_host_refuses_leaves_nothing(run, host, host_uri, provisioning, tmp_path):
    image = tmp_path / "local.iso"
    image.write_bytes(b"\0" * 4096)
    before = state(run, host)
    spec = MachineSpec("up", host_uri, source="iso", source_path=str(image), upload=True, pool="pool-a")
    plan = run(provisioning.plan(spec))
    assert [s.op for s in plan.flow.children] == ["define_domain", "upload_volume", "create_volume"]
    assert parse_domain(plan.xml).disks[1].path == "/pool-a/local.iso"
    root = run(provisioning.run(plan), timeout=30)
    assert root.status == FAILED and "virStorageVolUpload" in root.error_message
    assert state(run, host) == before  # the volume the step made for the file is gone with it


def test_the_name_is_checked_against_the_host(run, host, host_uri, provisioning):
    assert "exists on this host" in run(provisioning.name_problem(host_uri, "old"))
    assert run(provisioning.name_problem(host_uri, "fresh")) is None
    assert "cannot be empty" in run(provisioning.name_problem(host_uri, " "))


def test_an_imported_disk_another_machine_uses_is_refused(run, host, host_uri, provisioning):
    """Two machines writing one disk corrupt it: named by its path or as pool/volume."""
    for name, disk in (("by-path", "<disk type='file' device='disk'><source file='/pool-a/legacy.img'/>"
                                   "<target dev='vda'/></disk>"),
                       ("by-volume", "<disk type='volume' device='disk'><source pool='pool-a' volume='legacy.img'/>"
                                     "<target dev='vda'/></disk>")):
        run(host.call(lambda c, name=name, disk=disk: c.defineXML(
            f"<domain type='test'><name>{name}</name><memory>65536</memory><os><type>hvm</type></os>"
            f"<devices>{disk}</devices></domain>")))
        spec = MachineSpec("second", host_uri, source="import-disk", source_path="/pool-a/legacy.img", network="")
        with pytest.raises(PlanError, match=f"/pool-a/legacy.img is a disk of {name}; two machines writing one "
                                            "disk corrupt it"):
            run(provisioning.plan(spec))
        run(host.call(lambda c, name=name: c.lookupByName(name).undefine()))
    assert run(provisioning.plan(spec)).flow.children[0].op == "define_domain"  # nobody else's now


def test_a_host_in_maintenance_takes_no_new_machine(run, host, host_uri, provisioning):
    from ecp_desktop.services.maintenance.mark import set_maintenance
    spec = MachineSpec("fresh", host_uri, source="pxe", pool="pool-a")
    assert set_maintenance(host_uri, True, by="ops:42")
    with pytest.raises(PlanError, match=r"is in maintenance since \d{4}-\d\d-\d\d .* UTC \(set by ops:42\): "
                                        "no new machines there"):
        run(provisioning.plan(spec))
    assert set_maintenance(host_uri, False)
    assert run(provisioning.plan(spec)).spec.name == "fresh"


def test_the_plan_reads_local_files_in_a_worker_not_on_the_loop(run, host, host_uri, provisioning, monkeypatch,
                                                                  tmp_path):
    """An ISO on a hung network mount must not freeze the window: make_plan (it reads the file
    to upload) runs in the app's workers."""
    import threading

    from ecp_desktop.services.provisioning import service
    threads = []

    def recording(*args):
        threads.append(threading.current_thread())
        return make_plan(*args)
    monkeypatch.setattr(service, "make_plan", recording)
    image = tmp_path / "local.iso"
    image.write_bytes(b"\0" * 4096)
    spec = MachineSpec("up", host_uri, source="iso", source_path=str(image), upload=True, pool="pool-a")
    assert run(provisioning.plan(spec)).flow.children[1].op == "upload_volume"
    assert threads and threads[0] is not threading.main_thread()


def test_a_local_file_that_cannot_be_read_is_a_plan_error(run, host, host_uri, provisioning, monkeypatch, tmp_path):
    from ecp_desktop.services.provisioning import plan as plan_module

    def unreadable(path):
        raise PermissionError(13, "Permission denied", path)
    monkeypatch.setattr(plan_module, "read_image", unreadable)
    image = tmp_path / "cloud.qcow2"
    image.write_bytes(b"QFI\xfb" + bytes(508))
    spec = MachineSpec("up", host_uri, source="cloud-image", source_path=str(image), upload=True, pool="pool-a")
    with pytest.raises(PlanError, match=f"cannot read {image}: Permission denied"):
        run(provisioning.plan(spec))


@pytest.mark.parametrize("failure, words", [
    ("no openssl", "openssl is not installed on this computer"),
    (subprocess.CalledProcessError(1, ["openssl"], "", "passwd: unknown option\n"),
     "openssl could not hash the password (it exited with status 1: passwd: unknown option)"),
    (subprocess.TimeoutExpired(["openssl"], 10), "openssl did not hash the password within 10 s"),
])
def test_a_password_that_cannot_be_hashed_is_a_plan_error_in_words(run, provisioning, monkeypatch, failure, words):
    from ecp_desktop.services.provisioning import seed_iso
    if failure == "no openssl":
        monkeypatch.setattr(seed_iso.shutil, "which", lambda _name: None)
    else:
        def fails(*_args, **_kwargs):
            raise failure
        monkeypatch.setattr(seed_iso.subprocess, "run", fails)
    with pytest.raises(PlanError) as raised:
        run(provisioning.hash_password("s3cret"))
    assert words in str(raised.value)
    assert "password hash" not in str(raised.value) and "s3cret" not in str(raised.value)


# ----- the command line -----------------------------------------------------------------
RUNNER = """
import argparse, sys
from ecp_desktop.cli import create
from ecp_desktop.cli.common import start_headless_logging
from ecp_desktop.services.setup.startup import open_inventory
open_inventory(sys.argv[1])
start_headless_logging()
parser = argparse.ArgumentParser(prog="ecp-desktop")
create.add_parser(parser.add_subparsers(dest="command"))
sys.exit(create.run_from_args(parser.parse_args(sys.argv[2:])))
"""


def cli(db_url, *args, stdin=None):
    return subprocess.run([sys.executable, "-c", RUNNER, db_url, "create", *args], capture_output=True, text=True,
                          timeout=60, input=stdin)


def test_cli_exit_codes_and_json(db, db_url, host_uri, tmp_path):
    made = cli(db_url, "--name", "cli-vm", "--host", host_uri, "--iso", "/pool-a/installer.iso", "--pool", "pool-a",
               "--start", "--json")
    assert made.returncode == 0, made.stderr
    tree = json.loads(made.stdout)[0]
    assert tree["status"] == SUCCEEDED and tree["target"] == "cli-vm"
    assert [c["kind"] for c in tree["children"]] == ["define_domain", "create_volume", "start_domain"]

    shown = cli(db_url, "--name", "x", "--host", host_uri, "--pxe", "--pool", "pool-a", "--print-xml")
    assert shown.returncode == 0 and ET.fromstring(shown.stdout).findtext("name") == "x"
    planned = json.loads(cli(db_url, "--name", "x", "--host", host_uri, "--pxe", "--pool", "pool-a", "--print-xml",
                             "--json").stdout)
    assert planned["steps"] == ["Define x", "Make disk x-disk.qcow2 (20 GiB)"] and "<name>x</name>" in planned["xml"]
    live = json.loads(cli(db_url, "--name", "x", "--host", host_uri, "--iso", "/pool-a/installer.iso", "--no-disk",
                          "--print-xml", "--json").stdout)
    assert live["steps"] == ["Define x"] and "x-disk" not in live["xml"]

    key = tmp_path / "id.pub"
    key.write_text(KEY + "\n")
    failed = cli(db_url, "--name", "c", "--host", host_uri, "--cloud-image", "/pool-a/debian-12-genericcloud.qcow2",
                 "--ssh-key", str(key), "--pool", "pool-a", "--json")
    assert failed.returncode == 1, failed.stderr
    assert "virStorageVolUpload" in failed.stderr and "deleted volume pool-a/c-disk.qcow2" in failed.stderr
    assert json.loads(failed.stdout)[0]["status"] == FAILED

    for args, words in ((("--name=-x", "--pxe"), "starts with '-'"), (("--name", "old", "--pxe"), "exists on"),
                        (("--name", "y", "--iso", "rel.iso"), "not absolute"),
                        (("--name", "y", "--import-disk", "/pool-a/legacy.img", "--no-disk"), "cannot be left out"),
                        (("--name", "y", "--pxe", "--os", "nosuchos"), "no operating system 'nosuchos'"),
                        (("--name", "y", "--cloud-image", "/c.qcow2", "--ssh-key", str(tmp_path / "none.pub")),
                         "cannot read")):
        bad = cli(db_url, "--host", host_uri, "--pool", "pool-a", *args)
        assert bad.returncode == 2 and words in bad.stderr, (args, bad.stderr)
    away = cli(db_url, "--name", "y", "--host", "qemu+tcp://127.0.0.1:1/system", "--pxe")
    assert away.returncode == 3, away.stderr


def test_cli_takes_the_password_from_a_private_file_or_stdin_never_from_an_argument(db, db_url, host_uri, tmp_path):
    """A command line is readable by every user (/proc/*/cmdline) and kept in shell histories."""
    image = ("--cloud-image", "/pool-a/debian-12-genericcloud.qcow2", "--pool", "pool-a", "--print-xml")
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    secret.chmod(0o644)
    shared = cli(db_url, "--name", "c", "--host", host_uri, "--password-file", str(secret), *image)
    assert shared.returncode == 2, shared.stderr
    assert f"{secret} is readable by every user (mode 0644)" in shared.stderr and "chmod 600" in shared.stderr
    secret.chmod(0o600)
    private = cli(db_url, "--name", "c", "--host", host_uri, "--password-file", str(secret), *image)
    assert private.returncode == 0, private.stderr
    piped = cli(db_url, "--name", "c", "--host", host_uri, "--password-stdin", *image, stdin="s3cret\n")
    assert piped.returncode == 0, piped.stderr
    gone = cli(db_url, "--name", "c", "--host", host_uri, "--password-hash", "$6$salt$hash", *image)
    assert gone.returncode == 2 and "unrecognized arguments: --password-hash" in gone.stderr
    # the password is hashed here, and the hash is what the seed holds
    import argparse

    from ecp_desktop.cli import create
    from ecp_desktop.services.provisioning.service import hashed
    parser = argparse.ArgumentParser()
    create.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["create", "--name", "c", "--host", host_uri, "--password-file", str(secret), *image])
    password = create.read_password(args)
    assert password == "s3cret"
    seed = create.spec_from_args(args, hashed(password)).seed
    assert seed.password_hash.startswith("$6$") and "s3cret" not in seed.password_hash
    assert create.read_password(parser.parse_args(["create", "--name", "c", "--host", host_uri, "--password-stdin",
                                                   *image]), io.StringIO("from stdin\n")) == "from stdin"


def _qcow2(path, *, backing: bytes = b"", incompatible: int = 0, size: int = 2**30) -> None:
    """A qcow2 header as QEMU writes it (version 3), optionally naming a backing file."""
    header = (b"QFI\xfb" + (3).to_bytes(4, "big") + (512 if backing else 0).to_bytes(8, "big")
              + len(backing).to_bytes(4, "big") + (16).to_bytes(4, "big") + size.to_bytes(8, "big") + bytes(40)
              + incompatible.to_bytes(8, "big") + bytes(24))
    path.write_bytes(header.ljust(512, b"\0") + backing + bytes(512))


def test_an_image_that_reads_a_host_file_is_refused_in_words(run, host, host_uri, provisioning, tmp_path):
    """A qcow2 naming /etc/shadow as its backing file (or keeping its data in another file)
    would have the new machine read that file on the host: refused, with how to flatten it.
    A local file is read from its header; a volume of the host's pool from what libvirt says
    of it (its <backingStore>)."""
    backed, external = tmp_path / "backed.qcow2", tmp_path / "external.qcow2"
    _qcow2(backed, backing=b"/etc/shadow")
    _qcow2(external, incompatible=1 << 2)
    for image, why in ((backed, "it has a backing file ('/etc/shadow')"), (external, "external data file")):
        spec = MachineSpec("up", host_uri, source="cloud-image", source_path=str(image), upload=True, pool="pool-a")
        with pytest.raises(PlanError, match="qemu-img convert") as refused:
            run(provisioning.plan(spec))
        assert why in str(refused.value)
    plain = tmp_path / "plain.qcow2"
    _qcow2(plain)
    spec = MachineSpec("up", host_uri, source="cloud-image", source_path=str(plain), upload=True, pool="pool-a")
    assert run(provisioning.plan(spec)).flow.children[1].op == "upload_volume"

    volume = run(host.call(lambda c: c.storagePoolLookupByName("pool-a").createXML(
        "<volume><name>backed.qcow2</name><capacity>1073741824</capacity><target><format type='qcow2'/>"
        "</target><backingStore><path>/etc/shadow</path><format type='raw'/></backingStore></volume>", 0).path()))
    for source in ("cloud-image", "import-disk"):
        spec = MachineSpec(f"from-{source}", host_uri, source=source, source_path=volume, pool="pool-a")
        with pytest.raises(PlanError, match="it has a backing file \\('/etc/shadow'\\), as its pool says"):
            run(provisioning.plan(spec))


def test_a_local_image_with_a_backing_file_is_flattened_on_the_users_choice(run, host, host_uri, provisioning,
                                                                             tmp_path, monkeypatch):
    """Real qemu-img: an overlay over a local base. Without --flatten it is refused (saying
    how); with it, a copy standing alone is made here, uploaded, and removed afterwards. A
    backing name qemu-img would open as something other than a plain file is never flattened."""
    import os
    import subprocess
    from dataclasses import replace

    from ecp_desktop.services.images.image_file import flatten_folder, read_image
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    base, overlay = tmp_path / "base.qcow2", tmp_path / "overlay.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "64M"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base), str(overlay)],
                   check=True)
    spec = MachineSpec("flat", host_uri, source="cloud-image", source_path=str(overlay), upload=True, pool="pool-a")
    with pytest.raises(PlanError, match="choose to flatten it"):
        run(provisioning.plan(spec))
    plan = run(provisioning.plan(replace(spec, flatten=True)), timeout=60)
    upload = next(s for s in plan.flow.children if s.op == "upload_volume")
    copy = upload.params["local_path"]
    assert copy.startswith(flatten_folder()) and not read_image(copy).reads_other_files()
    assert any("a copy standing alone is uploaded" in note for note in plan.notes)
    assert run(provisioning.plan(replace(spec, flatten=True)), timeout=60).flow.children[1].params[
        "local_path"] == copy  # planned again: the same copy, not made again
    # The test driver has no upload (the lab's New Machine test uploads for real): the flow is
    # undone, and the copy made for it is removed all the same.
    root = run(provisioning.run(plan), timeout=60)
    assert "virStorageVolUpload" in root.error_message and not os.path.exists(copy)

    for name in (b"json:{\"driver\": \"nbd\", \"server\": {\"type\": \"unix\", \"path\": \"/run/x\"}}",
                 b"nbd://127.0.0.1:10809/x", b"/nowhere/base.qcow2"):
        hostile = tmp_path / "hostile.qcow2"
        _qcow2(hostile, backing=name)
        with pytest.raises(PlanError, match="cannot be flattened"):
            run(provisioning.plan(replace(spec, source_path=str(hostile), flatten=True)))
