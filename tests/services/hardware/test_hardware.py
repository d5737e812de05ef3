"""Edit Hardware: a change set → the new definition and its diff; validation in words; the flow
on the test driver applied to a shut-off machine (its definition) and to a running one (what
the test driver changes live: vCPUs, memory, title); a step libvirt refuses → the previous
definition back, exactly; and the `edit` command's exit codes, --dry-run and --json.

The test driver refuses hot-plugging (attachDeviceFlags) and growing a volume (NO_SUPPORT):
those real refusals are the faults here, no fake is needed."""
from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import libvirt
import pytest

from ecp_desktop.services.core.errors import Refusal
from ecp_desktop.services.hardware.changes import (ChangeSet, DiskChange, DiskRemoval, DiskResize, ExistingDisk,
                                                   NewDisk, NewNic, NicChange, NicRemoval, problems)
from ecp_desktop.services.hardware.edit_xml import apply_changes
from ecp_desktop.services.hardware.facts import GIB, read_facts
from ecp_desktop.services.hardware.hotplug import NEXT_BOOT, NOW
from ecp_desktop.services.hardware.operations import RedefineDomain
from ecp_desktop.services.hardware.service import HardwareService, PlanError, plan
from ecp_desktop.services.libvirt_xml.marks import with_flow_mark
from ecp_desktop.services.tasks.records import FAILED, SUCCEEDED

RUN01, OFF01 = "ec900000-0000-4000-8000-000000000001", "ec900000-0000-4000-8000-000000000002"
NIC1 = "52:54:00:e0:00:01"
INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE
HOST_XML = f"""<?xml version="1.0"?>
<node>
  <domain type="test">
    <name>run01</name><uuid>{RUN01}</uuid>
    <memory unit="MiB">1024</memory><currentMemory unit="MiB">512</currentMemory>
    <vcpu current="1">4</vcpu>
    <os><type arch="x86_64">hvm</type><boot dev="hd"/></os>
    <devices>
      <disk type="file" device="disk"><source file="/images/run01.qcow2"/><target dev="vda" bus="virtio"/></disk>
      <interface type="network"><mac address="{NIC1}"/><source network="default"/></interface>
    </devices>
  </domain>
  <domain type="test" xmlns:test="http://libvirt.org/schemas/domain/test/1.0">
    <name>off01</name><uuid>{OFF01}</uuid>
    <memory unit="MiB">256</memory><vcpu>1</vcpu>
    <os><type arch="x86_64">hvm</type><boot dev="hd"/></os>
    <devices>
      <disk type="file" device="disk"><source file="/images/off01.img"/><target dev="vda" bus="virtio"/></disk>
      <disk type="file" device="disk"><source file="/images/off01-data.img"/><target dev="vdb" bus="virtio"/></disk>
      <interface type="network"><mac address="52:54:00:e0:00:02"/><source network="default"/></interface>
    </devices>
    <test:runstate>5</test:runstate>
  </domain>
  <network><name>default</name><bridge name="virbr0"/></network>
  <network><name>isolated</name><bridge name="virbr1"/></network>
  <pool type="dir">
    <name>images</name><uuid>ec900000-0000-4000-8000-0000000000aa</uuid>
    <capacity unit="GiB">100</capacity><allocation unit="GiB">10</allocation><available unit="GiB">90</available>
    <target><path>/images</path></target>
    <volume><name>run01.qcow2</name><capacity unit="GiB">10</capacity><allocation unit="GiB">1</allocation>
      <target><format type="qcow2"/></target></volume>
    <volume><name>off01.img</name><capacity unit="GiB">8</capacity><allocation unit="GiB">1</allocation></volume>
    <volume><name>off01-data.img</name><capacity unit="GiB">2</capacity><allocation unit="GiB">1</allocation></volume>
  </pool>
</node>
"""


@pytest.fixture
def host_uri(tmp_path):
    path = tmp_path / "hardware.xml"
    path.write_text(HOST_XML)
    return f"test://{path}"


@pytest.fixture
def conn(host_uri):
    """A connection of our own (a test:// file host is private to each connection)."""
    libvirt.registerErrorHandler(lambda *_: None, None)
    connection = libvirt.open(host_uri)
    yield connection
    connection.close()


@pytest.fixture
def host(qtbot, run, services, host_uri):
    connected = services.inventory.add_host(host_uri)
    assert run(services.inventory.connect_host(connected))
    qtbot.waitUntil(lambda: len(services.inventory.machines_of(host_uri)) == 2, timeout=5000)
    return connected


def machine(services, uri, name):
    return next(m for m in services.inventory.machines_of(uri) if m.name == name)


def definition(run, host, uuid, flags=INACTIVE) -> str:
    return run(host.call(lambda c: c.lookupByUUIDString(uuid).XMLDesc(flags)))


# ----- the definition and its diff -------------------------------------------------------------
def test_a_change_set_makes_the_new_definition_and_a_diff(conn, host_uri):
    facts = read_facts(conn, host_uri, OFF01)
    changes = ChangeSet(vcpus=2, max_vcpus=4, memory_mib=512, max_memory_mib=1024,
                        new_disks=[NewDisk(5, "images"), ExistingDisk("/srv/iso/install.iso", device="cdrom")],
                        disk_changes=[DiskChange("vdb", bus="sata", cache="none")],
                        new_nics=[NewNic("isolated", model="e1000e")], boot_order=["vda", "52:54:00:e0:00:02"],
                        title="Web <one> & \"two\"", description="line 1\nline 2")
    assert problems(changes, facts) == []
    edited = apply_changes(changes, facts)
    root = ET.fromstring(edited.xml)
    assert root.find("vcpu").text == "4" and root.find("vcpu").get("current") == "2"
    assert root.find("memory").text == str(1024 * 1024) and root.find("currentMemory").text == str(512 * 1024)
    assert root.findtext("title") == 'Web <one> & "two"' and root.findtext("description") == "line 1\nline 2"
    assert "&lt;one&gt; &amp;" in edited.xml  # escaped by the tree, never formatted into the text
    disks = {d.find("target").get("dev"): d for d in root.findall("devices/disk")}
    assert set(disks) == {"vda", "sda", "vdb", "sdb"}  # vdb moved to the sata bus (sda); its name is free again
    assert disks["sda"].find("driver").get("cache") == "none" and disks["sda"].find("source").get("file") \
        == "/images/off01-data.img"
    assert disks["vdb"].find("source").get("file") == "/images/off01-vdb.qcow2"
    assert disks["vdb"].find("driver").get("type") == "qcow2"
    assert disks["sdb"].get("device") == "cdrom" and disks["sdb"].find("readonly") is not None
    assert edited.added_disks[0].volume.capacity == 5 * GIB and edited.added_disks[0].volume.pool == "images"
    nics = root.findall("devices/interface")
    assert nics[1].find("source").get("network") == "isolated" and nics[1].find("model").get("type") == "e1000e"
    assert root.find("os/boot") is None  # per-device order instead (libvirt refuses both)
    assert disks["vda"].find("boot").get("order") == "1" and nics[0].find("boot").get("order") == "2"
    diff = edited.diff
    assert diff.startswith("--- current definition\n+++ after the edit\n")
    assert '-  <memory unit="KiB">262144</memory>' in diff and '+  <memory unit="KiB">1048576</memory>' in diff
    assert '+      <source file="/images/off01-vdb.qcow2" />' in diff and '-    <boot dev="hd" />' in diff
    # The host accepts the definition as it is.
    conn.defineXML(edited.xml)
    assert ET.fromstring(conn.lookupByUUIDString(OFF01).XMLDesc(INACTIVE)).findtext("title") == 'Web <one> & "two"'


def test_validation_says_every_reason_in_words(conn, host_uri):
    facts = read_facts(conn, host_uri, OFF01)
    cases = [
        (ChangeSet(), "nothing to change"),
        (ChangeSet(vcpus=0), "at least 1 vCPU"),
        (ChangeSet(vcpus=3), "3 vCPUs is more than the maximum of 1; raise the maximum too"),
        (ChangeSet(max_vcpus=100000), "maximum vCPUs must be between 1 and"),
        (ChangeSet(memory_mib=512), "more than the maximum of 256 MiB"),
        (ChangeSet(max_memory_mib=10 ** 9), "more than the host has"),
        (ChangeSet(memory_mib=4), "at least 16 MiB"),
        (ChangeSet(new_disks=[NewDisk(5, "nopool")]), "no storage pool named 'nopool'"),
        (ChangeSet(new_disks=[NewDisk(500, "images")]), "GiB free, not the 500 GiB asked"),
        (ChangeSet(new_disks=[NewDisk(1, "images", format="vmdk")]), "unknown disk format 'vmdk'"),
        (ChangeSet(new_disks=[ExistingDisk("images/none.img")]), "there is no volume images/none.img"),
        (ChangeSet(new_disks=[ExistingDisk("/images/run01.qcow2")]), "is a disk of run01; two machines"),
        (ChangeSet(resizes=[DiskResize("vda", 4)]), "it can only grow"),
        (ChangeSet(resizes=[DiskResize("vdz", 40)]), "off01 has no disk 'vdz'"),
        (ChangeSet(removed_disks=[DiskRemoval("vda")], disk_changes=[DiskChange("vda", cache="none")]),
         "disk vda is removed; it cannot also be changed"),
        (ChangeSet(disk_changes=[DiskChange("vda", cache="fast")]), "unknown cache mode 'fast'"),
        (ChangeSet(new_nics=[NewNic("nonet")]), "no network named 'nonet' on this host (there are: default, "
                                                "isolated)"),
        (ChangeSet(nic_changes=[NicChange("52:54:00:ff:ff:ff", link="down")]), "no interface with MAC address"),
        (ChangeSet(nic_changes=[NicChange("52:54:00:e0:00:02", link="sideways")]), "link state 'sideways'"),
        (ChangeSet(removed_nics=[NicRemoval("not-a-mac")]), "no interface with MAC address 'not-a-mac'"),
        (ChangeSet(boot_order=["vda", "hdz"]), "boot order: off01 has no disk or interface 'hdz'"),
        (ChangeSet(title="bell\x07"), "the title contains the control character U+0007"),
        (ChangeSet(title="rtl\u202eexe"), "U+202E"),
        (ChangeSet(description="x" * 4001), "at most 4000 characters"),
    ]
    for changes, words in cases:
        found = problems(changes, facts)
        assert any(words in p for p in found), (changes, found)
        with pytest.raises(PlanError):
            plan(facts, changes)
    assert problems(ChangeSet(description="two\nlines\tand tabs"), facts) == []
    # A running machine's sata disk cannot be unplugged, so its volume cannot be deleted now.
    running = read_facts(conn, host_uri, RUN01)
    running.disks[0].bus = "sata"
    with pytest.raises(PlanError, match="cannot be unplugged while run01 runs"):
        plan(running, ChangeSet(removed_disks=[DiskRemoval("vda", delete_volume=True)]))


# ----- applying on the test driver ------------------------------------------------------------------
def test_apply_to_a_shut_off_machine_changes_its_definition(run, services, host, host_uri):
    hardware = HardwareService(services.inventory, services.engine)
    off = machine(services, host_uri, "off01")
    planned = run(hardware.plan(off, ChangeSet(
        vcpus=2, max_vcpus=2, memory_mib=512, max_memory_mib=512, new_disks=[NewDisk(1, "images", format="raw")],
        removed_disks=[DiskRemoval("vdb", delete_volume=True)], new_nics=[NewNic("isolated")], autostart=True,
        title="database")))
    assert {e.when for e in planned.effects} == {NOW}  # shut off: it starts with the new definition
    assert planned.deleted_volumes == ["images/off01-data.img"]
    assert [s.op for s in planned.flow.children] == ["redefine_domain", "create_volume", "set_autostart"]
    assert [s.op for s in planned.deletions.children] == ["delete_volume"]  # a flow of its own, after the edit
    outcome = run(hardware.run(planned))
    assert outcome.applied and outcome.waiting == [], outcome.record.outcome
    assert outcome.record.title == "Edit hardware of off01" and outcome.record in services.tasks.tasks
    assert outcome.deletion.status == SUCCEEDED and "deleted volume images/off01-data.img" in outcome.words()
    root = ET.fromstring(definition(run, host, OFF01))
    assert root.find("vcpu").text == "2" and root.find("memory").text == str(512 * 1024)
    assert root.findtext("title") == "database"
    assert [(t.get("dev"), s.get("file")) for t, s in zip(root.findall("devices/disk/target"),
                                                          root.findall("devices/disk/source"), strict=True)] == [
        ("vda", "/images/off01.img"), ("vdb", "/images/off01-vdb.img")]
    assert root.find("metadata") is None or not list(root.find("metadata"))  # the flow's mark is gone
    volumes = run(host.call(lambda c: c.storagePoolLookupByName("images").listVolumes()))
    assert "off01-vdb.img" in volumes and "off01-data.img" not in volumes
    assert run(host.call(lambda c: c.lookupByUUIDString(OFF01).autostart())) == 1


def test_apply_to_a_running_machine_changes_it_live_where_the_host_can(qtbot, run, services, host, host_uri):
    hardware = HardwareService(services.inventory, services.engine)
    planned = run(hardware.plan(machine(services, host_uri, "run01"), ChangeSet(
        vcpus=3, memory_mib=768, max_memory_mib=2048, title="live one")))
    when = {e.change: e.when for e in planned.effects}
    assert when == {"3 vCPUs": NOW, "768 MiB of memory": NOW, "at most 2048 MiB of memory": NEXT_BOOT,
                    "title: live one": NOW}
    outcome = run(hardware.run(planned))
    assert outcome.applied, outcome.record.outcome
    assert [e.change for e in outcome.waiting] == ["at most 2048 MiB of memory"]
    assert "waiting for the next boot: at most 2048 MiB of memory" in outcome.words()
    dom_info = run(host.call(lambda c: c.lookupByUUIDString(RUN01).info()))
    assert dom_info[3] == 3 and dom_info[2] == 768 * 1024  # live vCPUs and memory
    live = ET.fromstring(definition(run, host, RUN01, 0))
    assert live.findtext("title") == "live one"
    saved = ET.fromstring(definition(run, host, RUN01))
    assert saved.find("memory").text == str(2048 * 1024) and saved.find("vcpu").get("current") == "3"


def test_a_refused_hot_plug_puts_the_previous_definition_back(run, services, host, host_uri):
    """The test driver refuses attachDeviceFlags: the edit stops there and is undone."""
    before = definition(run, host, RUN01)
    hardware = HardwareService(services.inventory, services.engine)
    planned = run(hardware.plan(machine(services, host_uri, "run01"), ChangeSet(
        memory_mib=256, new_disks=[NewDisk(2, "images")], title="never")))
    outcome = run(hardware.run(planned))
    record = outcome.record
    assert not outcome.applied and record.status == FAILED
    failed = next(c for c in record.children if c.status == FAILED)
    assert failed.op == "attach_device" and failed.error.code_name == "NO_SUPPORT"
    undone = [c.title for c in record.children if c.role == "rollback" and c.status == SUCCEEDED]
    assert "Put back the previous definition of run01" in undone and "Delete new volume images/run01-vdb.qcow2" \
        in undone and "Give running run01 its memory back" in undone
    assert definition(run, host, RUN01) == before  # exactly as it was
    assert run(host.call(lambda c: c.lookupByUUIDString(RUN01).info()))[2] == 512 * 1024
    assert "run01-vdb.qcow2" not in run(host.call(lambda c: c.storagePoolLookupByName("images").listVolumes()))


def test_a_refused_resize_of_a_shut_off_disk_puts_the_previous_definition_back(run, services, host, host_uri):
    """The test driver cannot grow a volume (virStorageVolResize: NO_SUPPORT)."""
    before = definition(run, host, OFF01)
    hardware = HardwareService(services.inventory, services.engine)
    outcome = run(hardware.run(run(hardware.plan(machine(services, host_uri, "off01"), ChangeSet(
        memory_mib=200, resizes=[DiskResize("vda", 20)])))))
    assert outcome.record.status == FAILED and "NO_SUPPORT" in outcome.record.children[1].error.code_name
    assert definition(run, host, OFF01) == before


def test_a_definition_changed_after_the_review_is_not_overwritten(run, services, host, host_uri):
    hardware = HardwareService(services.inventory, services.engine)
    planned = run(hardware.plan(machine(services, host_uri, "off01"), ChangeSet(memory_mib=128)))
    run(host.call(lambda c: c.lookupByUUIDString(OFF01).setMemoryFlags(
        200 * 1024, libvirt.VIR_DOMAIN_AFFECT_CONFIG)))  # another client, meanwhile
    outcome = run(hardware.run(planned))
    assert outcome.record.status == FAILED and "was changed since its hardware was read" in outcome.record.outcome
    assert ET.fromstring(definition(run, host, OFF01)).find("currentMemory").text == str(200 * 1024)


def test_the_undo_leaves_alone_a_definition_someone_changed_since(conn, host_uri):
    dom = conn.lookupByUUIDString(OFF01)
    previous = dom.XMLDesc(INACTIVE)
    new = apply_changes(ChangeSet(memory_mib=128), read_facts(conn, host_uri, OFF01)).xml
    params = {"uuid": OFF01, "name": "off01", "xml": with_flow_mark(new, "m1"), "previous": previous, "mark": "m1"}
    op = RedefineDomain("redefine_domain")
    op.execute(conn, op.prepare(conn, params))
    dom.setMemoryFlags(100 * 1024, libvirt.VIR_DOMAIN_AFFECT_CONFIG)  # another client edits after us
    with pytest.raises(Refusal, match="changed since by someone else"):
        op.compensate(conn, params)
    assert ET.fromstring(dom.XMLDesc(INACTIVE)).find("currentMemory").text == str(100 * 1024)
    dom.setMemoryFlags(128 * 1024, libvirt.VIR_DOMAIN_AFFECT_CONFIG)  # ours again: the undo puts it back
    assert op.compensate(conn, params) == "previous definition of off01 back"
    assert dom.XMLDesc(INACTIVE) == previous


# ----- the command line ---------------------------------------------------------------------
# cli/main.py registers `edit` (the lead wires it); until then a tiny parser like it runs it.
SCRIPT = """
import argparse, sys
from ecp_desktop.cli import edit
from ecp_desktop.services.setup.startup import open_inventory
parser = argparse.ArgumentParser(prog="ecp-desktop")
parser.add_argument("--connect", action="append", default=[])
edit.add_parser(parser.add_subparsers(dest="command"))
args = parser.parse_args(sys.argv[2:])
open_inventory(sys.argv[1])
sys.exit(edit.run_from_args(args))
"""


def cli(uri, *args, db_url):
    return subprocess.run([sys.executable, "-c", SCRIPT, db_url, "--connect", uri, "edit", *args],
                          capture_output=True, text=True, timeout=60)


def test_cli_dry_run_apply_json_and_exit_codes(db, db_url, host_uri):
    dry = cli(host_uri, "run01", "--memory", "768", "--max-memory", "2048", "--title", "x<y>", "--dry-run",
              db_url=db_url)
    assert dry.returncode == 0, dry.stderr
    assert '+  <memory unit="KiB">2097152</memory>' in dry.stdout
    assert "768 MiB of memory" in dry.stdout and "next boot" in dry.stdout
    assert "<title>x&lt;y&gt;</title>" in dry.stdout
    dry_json = json.loads(cli(host_uri, "off01", "--vcpus", "1", "--max-vcpus", "2", "--add-nic", "isolated",
                              "--dry-run", "--json", db_url=db_url).stdout)
    assert dry_json["machine"] == "off01" and "+  <vcpu" in dry_json["diff"]
    assert {c["when"] for c in dry_json["changes"]} == {"now"} and dry_json["deletes_volumes"] == []

    applied = cli(host_uri, "run01", "--memory", "768", "--max-memory", "2048", "--json", db_url=db_url)
    assert applied.returncode == 0, applied.stderr
    data = json.loads(applied.stdout)
    assert data["applied"] and data["task"]["status"] == "succeeded"
    assert [c["when"] for c in data["changes"]] == ["now", "next boot"]
    text = cli(host_uri, "run01", "--max-memory", "2048", db_url=db_url)
    assert text.returncode == 0 and "waiting for the next boot: at most 2048 MiB of memory" in text.stdout

    refused = cli(host_uri, "run01", "--add-disk", "1:images", "--json", db_url=db_url)  # hot-plug refused
    assert refused.returncode == 1 and "failed and was undone" in refused.stderr, refused.stderr
    assert json.loads(refused.stdout)["task"]["status"] == "failed"

    for args, words in ((("run01", "--memory", "999999"), "more than the maximum"),
                        (("run01", "--link", "52:54:00:e0:00:01:sideways"), "is not MAC:up or MAC:down"),
                        (("run01", "--resize-disk", "vda"), "is not TARGET:SIZE_GIB"),
                        (("run01", "--add-disk", "big"), "is not a size in GiB"),
                        (("run01",), "nothing to change"),
                        (("nosuch", "--memory", "64"), "no machine named 'nosuch'")):
        bad = cli(host_uri, *args, db_url=db_url)
        assert bad.returncode == 2 and words in bad.stderr and "Traceback" not in bad.stderr, (args, bad.stderr)
    away = cli("qemu+tcp://127.0.0.1:1/system", "run01", "--memory", "64", db_url=db_url)
    assert away.returncode == 3, away.stderr


def test_an_edit_keeps_the_console_password_and_so_does_its_undo(run, services, host, host_uri):
    """Definitions for the plan and the task history are read without secrets; writing one
    back must not drop the VNC password (an open console to whoever reaches the port)."""
    def set_password(conn):
        dom = conn.lookupByUUIDString(OFF01)
        xml = dom.XMLDesc(INACTIVE).replace(
            "</devices>", "<graphics type='vnc' port='-1' passwd='s3cret' listen='127.0.0.1'/></devices>")
        conn.defineXML(xml)
    run(host.call(set_password))
    secure = INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE
    hardware = HardwareService(services.inventory, services.engine)
    outcome = run(hardware.run(run(hardware.plan(machine(services, host_uri, "off01"), ChangeSet(title="db")))))
    assert outcome.applied, outcome.record.outcome
    assert "passwd='s3cret'" in definition(run, host, OFF01, secure).replace('"', "'")
    assert "s3cret" not in str(outcome.record.children[0].params)  # never in the task history

    # a failing edit puts the previous definition back, with the password
    planned = run(hardware.plan(machine(services, host_uri, "off01"), ChangeSet(
        title="never", new_disks=[NewDisk(1, "images")], resizes=[DiskResize("vda", 9)])))
    failed = run(hardware.run(planned))
    assert not failed.applied
    back = definition(run, host, OFF01, secure).replace('"', "'")
    assert "passwd='s3cret'" in back and "<title>db</title>" in back


def test_the_inventory_keeps_the_edited_definition_for_a_dead_hosts_recovery(run, services, host, host_uri):
    """A flow that changed a machine's definition writes it to the machine's row at once
    (recover-host starts machines elsewhere from it), not only at the next import."""
    from ecp_desktop.models import schema

    def stored() -> str:
        def read():
            with schema.database.connection_context():
                row = schema.Machine.get((schema.Machine.uuid == OFF01))
                return row.definition or ""
        return services.executors.database.submit(read).result()
    hardware = HardwareService(services.inventory, services.engine)
    outcome = run(hardware.run(run(hardware.plan(machine(services, host_uri, "off01"), ChangeSet(title="kept")))))
    assert outcome.applied, outcome.record.outcome
    assert "<title>kept</title>" in stored()
