"""Host → Storage… and ``pool``/``volume`` on libvirt's test driver: pools and volumes with
the machines that use them, each change a task, refusals naming the machines."""
import os

import pytest

from ecp_desktop.services.core.errors import Refusal
from ecp_desktop.services.storage.service import PoolSpec
from ecp_desktop.services.tasks.records import FAILED, SUCCEEDED

from ...helpers import TEMPLATE_URI


def pools(run, services):
    return {p.name: p for p in run(services.storage.read(TEMPLATE_URI))}


def test_pools_and_volumes_say_who_uses_each(run, services, template_host):
    pool = pools(run, services)["pool-a"]
    assert pool.active and pool.kind_text == "directory" and pool.path == "/pool-a"
    volumes = {v.name: v for v in pool.volumes}
    assert volumes["tpl-root.qcow2"].format == "qcow2" and volumes["tpl-root.qcow2"].capacity == 40 << 30
    assert volumes["tpl-root.qcow2"].users == ("tpl",)
    assert "tpl" in pool.users and volumes["tpl-data.img"].why_kept == "used by tpl"


def test_a_directory_pool_is_created_started_and_deleted_with_its_folder(run, services, template_host):
    with pytest.raises(Refusal, match="a dir pool needs a target folder"):
        run(services.storage.create_pool(TEMPLATE_URI, PoolSpec("images")))
    with pytest.raises(Refusal, match="must be an absolute path without"):
        run(services.storage.create_pool(TEMPLATE_URI, PoolSpec("images", path="/srv/../etc")))
    with pytest.raises(Refusal, match="exists on this host already"):
        run(services.storage.create_pool(TEMPLATE_URI, PoolSpec("pool-a", path="/srv/a")))
    record = run(services.storage.create_pool(TEMPLATE_URI, PoolSpec("images", path="/srv/images")))
    assert record.status == SUCCEEDED, record.outcome
    made = pools(run, services)["images"]
    assert made.active and made.autostart and made.volumes == ()
    record = run(services.storage.create_volume(TEMPLATE_URI, "images", "data.qcow2", 1 << 30, "qcow2"))
    assert record.status == SUCCEEDED, record.outcome
    with pytest.raises(Refusal, match="removed only for an empty directory pool"):
        run(services.storage.delete_pool(TEMPLATE_URI, "images", remove_folder=True))
    assert run(services.storage.delete_volume(TEMPLATE_URI, "images", "data.qcow2")).status == SUCCEEDED
    record = run(services.storage.delete_pool(TEMPLATE_URI, "images", remove_folder=True))
    assert record.status == SUCCEEDED and record.summary == "deleted pool images and its folder"
    assert "images" not in pools(run, services)


def test_an_nfs_pool_says_what_it_is_made_of(run, services, template_host):
    """(On the test driver an NFS pool starts without a server; the lab proves that one that
    cannot be mounted is removed again.)"""
    spec = PoolSpec("nas", kind="netfs", path="/mnt/nas", source_host="nas.example", source_dir="/export")
    with pytest.raises(Refusal, match="a netfs pool needs an exported folder"):
        run(services.storage.create_pool(TEMPLATE_URI, PoolSpec("nas", kind="netfs", path="/mnt/nas",
                                                                source_host="nas.example")))
    record = run(services.storage.create_pool(TEMPLATE_URI, spec))
    assert record.status == SUCCEEDED and record.summary == "created and started pool nas (starts with the host)"
    nas = pools(run, services)["nas"]
    assert nas.source == "nas.example:/export" and nas.kind_text == "network file system (NFS)"
    assert run(services.storage.delete_pool(TEMPLATE_URI, "nas")).summary == "deleted pool nas (its volumes are kept)"
    assert "nas" not in pools(run, services)


def test_a_pool_or_volume_a_machine_uses_is_never_deleted_or_stopped(run, services, template_host):
    with pytest.raises(Refusal, match="pool pool-a holds disks of .*tpl.*; not deleted"):
        run(services.storage.delete_pool(TEMPLATE_URI, "pool-a"))
    with pytest.raises(Refusal, match="volume pool-a/tpl-root.qcow2 is used by tpl; not deleted"):
        run(services.storage.delete_volume(TEMPLATE_URI, "pool-a", "tpl-root.qcow2"))
    run(template_host.call(lambda conn: conn.lookupByName("tpl").create()))
    services.inventory.machines[next(k for k, m in services.inventory.machines.items() if m.name == "tpl")].state = \
        "running"
    with pytest.raises(Refusal, match="running machines .*tpl.*shut them down first"):
        run(services.storage.stop_pool(TEMPLATE_URI, "pool-a"))
    names = run(template_host.call(lambda conn: conn.storagePoolLookupByName("pool-a").listVolumes()))
    assert "tpl-root.qcow2" in names


def test_volumes_checked_before_they_are_made_and_resizing_said(run, services, template_host):
    with pytest.raises(Refusal, match="not a safe file name"):
        run(services.storage.create_volume(TEMPLATE_URI, "pool-a", "../x", 1 << 20))
    with pytest.raises(Refusal, match="exists in this pool already"):
        run(services.storage.create_volume(TEMPLATE_URI, "pool-a", "tpl-root.qcow2", 1 << 20))
    with pytest.raises(Refusal, match="only a qcow2 volume can read another"):
        run(services.storage.create_volume(TEMPLATE_URI, "pool-a", "o.img", 1 << 20, "raw", backing="tpl-root.qcow2"))
    record = run(services.storage.create_volume(TEMPLATE_URI, "pool-a", "over.qcow2", 40 << 30, "qcow2",
                                                backing="tpl-root.qcow2"))
    assert record.status == SUCCEEDED
    over = next(v for v in pools(run, services)["pool-a"].volumes if v.name == "over.qcow2")
    assert over.backing_path == "/pool-a/tpl-root.qcow2"
    root = next(v for v in pools(run, services)["pool-a"].volumes if v.name == "tpl-root.qcow2")
    assert root.overlays == ("over.qcow2",)
    with pytest.raises(Refusal, match="only a raw volume can be shrunk"):
        run(services.storage.resize_volume(TEMPLATE_URI, "pool-a", "over.qcow2", 1 << 20))
    with pytest.raises(Refusal, match="used by tpl: shrinking it would cut their disk"):
        run(services.storage.resize_volume(TEMPLATE_URI, "pool-a", "tpl-data.img", 1 << 20))
    grown = run(services.storage.resize_volume(TEMPLATE_URI, "pool-a", "over.qcow2", 50 << 30))
    # The test driver has no resize: libvirt's own refusal is the task's outcome (the lab grows one).
    assert grown.status == FAILED and "does not support the operation" in grown.outcome


def test_an_upload_checks_the_file_and_one_the_host_refuses_leaves_no_volume(run, services, template_host, tmp_path):
    """The test driver has no volume streams (virStorageVolUpload unsupported): a real refusal
    half-way, after the volume was made; the lab proves a real upload and download."""
    storage = services.storage
    with pytest.raises(Refusal, match="cannot read .*missing.iso"):
        run(storage.upload_volume(TEMPLATE_URI, "pool-a", str(tmp_path / "missing.iso")))
    overlay = tmp_path / "overlay.qcow2"  # a qcow2 header naming a backing file: data pointing at a host path
    name = b"/etc/shadow"
    overlay.write_bytes(b"QFI\xfb" + (3).to_bytes(4, "big") + (512).to_bytes(8, "big") + len(name).to_bytes(4, "big")
                        + (16).to_bytes(4, "big") + (1 << 30).to_bytes(8, "big") + bytes(512 - 32) + name)
    with pytest.raises(Refusal, match="it has a backing file .*/etc/shadow"):
        run(storage.upload_volume(TEMPLATE_URI, "pool-a", str(overlay)))
    fifo = tmp_path / "pipe.iso"  # never waited on: refused at once
    os.mkfifo(fifo)
    with pytest.raises(Refusal, match="cannot read .*pipe.iso: not a regular file"):
        run(storage.upload_volume(TEMPLATE_URI, "pool-a", str(fifo)))
    iso = tmp_path / "tpl-root.qcow2"
    iso.write_bytes(b"\0" * 4096)
    with pytest.raises(Refusal, match="exists"):
        run(storage.upload_volume(TEMPLATE_URI, "pool-a", str(iso)))  # named as the file: taken
    record = run(storage.upload_volume(TEMPLATE_URI, "pool-a", str(iso), "installer.iso"))
    assert record.status == FAILED and "not supported" in record.error_message
    assert "installer.iso" not in {v.name for v in pools(run, services)["pool-a"].volumes}


def test_a_download_never_overwrites_and_a_copy_is_made_beside_its_source(run, services, template_host, tmp_path):
    storage = services.storage
    kept = tmp_path / "kept.img"
    kept.write_bytes(b"the user's own file")
    with pytest.raises(Refusal, match="exists; choose a new file name"):
        run(storage.download_volume(TEMPLATE_URI, "pool-a", "tpl-data.img", str(kept)))
    with pytest.raises(Refusal, match="has no volume 'nothing'"):
        run(storage.download_volume(TEMPLATE_URI, "pool-a", "nothing", str(tmp_path / "new.img")))
    assert kept.read_bytes() == b"the user's own file"
    record = run(storage.clone_volume(TEMPLATE_URI, "pool-a", "tpl-data.img", "tpl-data-copy.img"))
    assert record.status == SUCCEEDED, record.error_message
    volumes = {v.name: v for v in pools(run, services)["pool-a"].volumes}
    assert volumes["tpl-data-copy.img"].capacity == volumes["tpl-data.img"].capacity
    assert volumes["tpl-data-copy.img"].users == ()
    with pytest.raises(Refusal, match="exists"):
        run(storage.clone_volume(TEMPLATE_URI, "pool-a", "tpl-data.img", "tpl-data-copy.img"))


NAS = ("<pool type='netfs'><name>nas</name><uuid>{uuid}</uuid><source><host name='nas.example'/>"
       "<dir path='/export'/></source><target><path>/mnt/nas</path></target>{volumes}</pool>")
SHARED_VOLUME = ("<volume type='file'><name>shared.qcow2</name><capacity unit='GiB'>8</capacity>"
                 "<target><format type='qcow2'/></target></volume>")


def test_a_shared_pool_names_the_machines_of_other_hosts_and_keeps_their_disks(run, services, tmp_path):
    """Two hosts mounting one NFS export: a disk of a machine on the other host is in use here too."""
    here, there = tmp_path / "here.xml", tmp_path / "there.xml"
    here.write_text("<node>" + NAS.format(uuid="7a000000-0000-4000-8000-000000000001", volumes=SHARED_VOLUME)
                    + "</node>")
    there.write_text("<node><domain type='test'><name>db01</name><memory>65536</memory><os><type>hvm</type></os>"
                     "<devices><disk type='file' device='disk'><source file='/mnt/nas/shared.qcow2'/>"
                     "<target dev='vda'/></disk></devices></domain>"
                     + NAS.format(uuid="7a000000-0000-4000-8000-000000000002", volumes="") + "</node>")
    for path, label in ((here, "here"), (there, "there")):
        host = services.inventory.add_host(f"test://{path}", label=label)
        assert run(services.inventory.connect_host(host))
    uri = f"test://{here}"
    [pool] = run(services.storage.read(uri, "nas"))
    [volume] = pool.volumes
    assert volume.users == ("db01 (on there)",) and pool.users == ["db01 (on there)"]
    with pytest.raises(Refusal, match=r"volume nas/shared.qcow2 is used by db01 \(on there\); not deleted"):
        run(services.storage.delete_volume(uri, "nas", "shared.qcow2"))
    with pytest.raises(Refusal, match=r"pool nas holds disks of db01 \(on there\)"):
        run(services.storage.delete_pool(uri, "nas"))


def test_pool_sources_found_by_libvirt(run, services, template_host):
    storage = services.storage
    exports = run(storage.find_sources(TEMPLATE_URI, "netfs", "nas.example"))
    assert [s.words for s in exports] == ["nas.example:/testshare"]  # what the test driver's search answers
    groups = run(storage.find_sources(TEMPLATE_URI, "logical"))
    assert [g.name for g in groups] == ["testvg1", "testvg2"] and groups[0].words == "volume group testvg1 (/dev/sda20)"
    with pytest.raises(Refusal, match="say which server to ask"):
        run(storage.find_sources(TEMPLATE_URI, "netfs"))
    with pytest.raises(Refusal, match="not dir"):
        run(storage.find_sources(TEMPLATE_URI, "dir"))


def test_a_stopped_pool_still_knows_the_machines_with_disks_in_it(run, services, template_host):
    assert run(services.storage.stop_pool(TEMPLATE_URI, "pool-a")).status == SUCCEEDED  # tpl is shut off
    pool = pools(run, services)["pool-a"]
    assert not pool.active and pool.volumes == () and pool.users == ["tpl"]
    with pytest.raises(Refusal, match="pool pool-a holds disks of tpl; not deleted"):
        run(services.storage.delete_pool(TEMPLATE_URI, "pool-a"))
