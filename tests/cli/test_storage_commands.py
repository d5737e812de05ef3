"""``pool``, ``volume`` and ``network`` on a terminal and in scripts (each process opens the
test-driver host afresh: each command is checked on its own)."""
import json
import shutil
import subprocess
import sys

import pytest

from ..helpers import DATA


@pytest.fixture
def cli(db_url, tmp_path):
    copy = tmp_path / "template.xml"
    shutil.copy(DATA / "template.xml", copy)

    def run(*args, connect=(f"test://{copy}",)):
        flags = [a for uri in connect for a in ("--connect", uri)]
        return subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, *flags, *args],
                              capture_output=True, text=True, timeout=60)
    return run


def test_pools_and_volumes_listed_created_and_refused_in_words(cli):
    listed = cli("pool", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [pool] = [p for p in json.loads(listed.stdout) if p["name"] == "pool-a"]
    assert pool["type"] == "dir" and {"tpl-root.qcow2", "tpl-data.img"} <= {v["name"] for v in pool["volumes"]}
    text = cli("volume", "list", "pool-a")
    assert text.returncode == 0, text.stderr
    rows = {line.split("\t")[0].strip(): [c.strip() for c in line.split("\t")] for line in text.stdout.splitlines()}
    assert rows["VOLUME"][:5] == ["VOLUME", "FORMAT", "SIZE", "ALLOCATED", "USED BY"]
    assert rows["tpl-root.qcow2"][:5] == ["tpl-root.qcow2", "qcow2", "40.0 GiB", "20.0 GiB", "tpl"]

    made = cli("pool", "create", "images", "--path", "/srv/images", "--json")
    assert made.returncode == 0, made.stderr
    [tree] = json.loads(made.stdout)
    assert tree["status"] == "succeeded" and tree["title"] == "Create pool images"
    refused = cli("pool", "delete", "pool-a")
    assert refused.returncode == 2 and "holds disks of" in refused.stderr and "tpl" in refused.stderr
    used = cli("volume", "delete", "pool-a", "tpl-root.qcow2")
    assert used.returncode == 2 and "is used by tpl; not deleted" in used.stderr
    bad = cli("volume", "create", "pool-a", "x.qcow2", "--size", "ten")
    assert bad.returncode == 2 and "'ten' is not a size" in bad.stderr
    volume = cli("volume", "create", "pool-a", "x.qcow2", "--size", "2G", "--backing", "tpl-root.qcow2", "--json")
    assert volume.returncode == 0, volume.stderr
    nothing = cli("pool", "start", "no-such-pool")
    assert nothing.returncode == 1 and "no-such-pool" in nothing.stderr  # libvirt's own words


def test_networks_and_a_host_to_choose(cli):
    demo = ("test:///default",)
    listed = cli("network", "list", "--json", connect=demo)
    assert listed.returncode == 0, listed.stderr
    [default] = json.loads(listed.stdout)
    assert default["name"] == "default" and default["mode"] == "nat" and default["running"] == ["test"]
    refused = cli("network", "stop", "default", connect=demo)
    assert refused.returncode == 2 and "used by running machines (test)" in refused.stderr
    made = cli("network", "create", "lab", "--mode", "isolated", "--json", connect=demo)
    assert made.returncode == 0, made.stderr
    [tree] = json.loads(made.stdout)
    assert tree["outcome"] == "created and started network lab (192.168.100.0/24, bridge virbr1)"
    clash = cli("network", "create", "lab", "--subnet", "192.168.122.0/25", connect=demo)
    assert clash.returncode == 2 and "overlaps 192.168.122.0/24" in clash.stderr
    two = cli("network", "list", connect=(f"test://{DATA / 'template.xml'}", "test:///default"))
    assert two.returncode == 2 and "say which host with --host URI" in two.stderr
    leases = cli("network", "leases", "default", connect=demo)
    assert leases.returncode == 1 and "not supported" in leases.stderr  # the test driver keeps none


def test_volume_copy_upload_and_download_say_what_they_need(cli, tmp_path):
    copied = cli("volume", "clone", "pool-a", "tpl-data.img", "--to", "spare.img", "--json")
    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout)[0]["outcome"] == "copied pool-a/tpl-data.img to pool-a/spare.img"
    assert "needs --to NAME" in cli("volume", "clone", "pool-a", "tpl-data.img").stderr
    bare = cli("volume", "upload", "pool-a")
    assert bare.returncode == 2 and "volume upload needs --file PATH" in bare.stderr
    mine = tmp_path / "mine.img"
    mine.write_text("mine")
    kept = cli("volume", "download", "pool-a", "tpl-data.img", "--file", str(mine))
    assert kept.returncode == 2 and "exists; choose a new file name" in kept.stderr and mine.read_text() == "mine"
    # the test driver has no volume streams: libvirt's refusal, exit 1, nothing left (the lab uploads for real)
    up = cli("volume", "upload", "pool-a", "--file", str(mine), "--json")
    assert up.returncode == 1 and "not supported" in up.stderr and up.stderr.count("\n") == 1  # no progress: piped


def test_a_fixed_address_from_the_command_line(cli):
    demo = ("test:///default",)
    fixed = cli("network", "fix-address", "default", "--mac", "AA:BB:CC:DD:EE:FF", "--ip", "192.168.122.50",
                "--hostname", "web", "--json", connect=demo)
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)[0]["outcome"] == "aa:bb:cc:dd:ee:ff gets 192.168.122.50 on network default as web"
    outside = cli("network", "fix-address", "default", "--mac", "52:54:00:00:00:09", "--ip", "10.1.1.1", connect=demo)
    assert outside.returncode == 2 and "in none of network default's subnets (192.168.122.0/24)" in outside.stderr
    assert "needs --mac" in cli("network", "unfix-address", "default", connect=demo).stderr
    listed = cli("network", "fixed", "default", "--json", connect=demo)
    assert listed.returncode == 0 and json.loads(listed.stdout) == []  # (each command opens the demo host afresh)


def test_pool_sources_listed(cli):
    found = cli("pool", "sources", "--type", "logical")
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines() == ["volume group testvg1 (/dev/sda20)", "volume group testvg2 (/dev/sda21)"]
    asked = cli("pool", "sources", "--type", "netfs")
    assert asked.returncode == 2 and "say which server to ask" in asked.stderr


def test_a_bridged_network_from_the_command_line(cli):
    demo = ("test:///default",)
    made = cli("network", "create", "lan", "--mode", "bridge", "--bridge", "br0", "--json", connect=demo)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)[0]["outcome"] == "created and started network lan (guests on the host's LAN " \
                                                   "through br0)"
    bare = cli("network", "create", "direct", "--mode", "macvtap", connect=demo)
    assert bare.returncode == 2 and "names the host's device" in bare.stderr
