"""Writes libvirt test-driver host files with many domains (``test:///ABS/PATH.xml``).

Each ``open()`` of such a file is a private, fresh host, so tests and benchmarks
can make hosts of any size that behave like real libvirt, in-process.
"""
from __future__ import annotations

import argparse
import random
import uuid as uuidlib
from pathlib import Path
from xml.sax.saxutils import escape

RUNSTATE_NS = "http://libvirt.org/schemas/domain/test/1.0"
# libvirt's test driver: <test:runstate> 1 running, 3 paused, 5 shut off
STATE_MIX = (("running", 1, 6), ("shutoff", 5, 3), ("paused", 3, 1))
ROLES = ("web", "db", "cache", "build", "mail", "app", "proxy", "ci")


def domain_xml(name: str, uuid: str, runstate: int, vcpus: int, mem_mib: int, index: int, extra: str = "") -> str:
    """``extra``: more test-driver elements, e.g. ``<test:transient/>`` or ``<test:hasmanagedsave/>``."""
    mac = f"52:54:00:{(index >> 16) & 255:02x}:{(index >> 8) & 255:02x}:{index & 255:02x}"
    return f"""  <domain type="test">
    <name>{escape(name)}</name>
    <uuid>{uuid}</uuid>
    <memory unit="MiB">{mem_mib}</memory>
    <currentMemory unit="MiB">{mem_mib}</currentMemory>
    <vcpu>{vcpus}</vcpu>
    <os><type arch="x86_64">hvm</type><boot dev="hd"/></os>
    <devices>
      <disk type="file" device="disk">
        <driver name="qemu" type="qcow2"/>
        <source file="/var/lib/libvirt/images/{escape(name)}.qcow2"/>
        <target dev="vda" bus="virtio"/>
      </disk>
      <interface type="network"><source network="default"/><mac address="{mac}"/><model type="virtio"/></interface>
    </devices>
    <test:runstate xmlns:test="{RUNSTATE_NS}">{runstate}</test:runstate>{extra}
  </domain>
"""


def host_xml(count: int, *, seed: int = 1, prefix: str = "") -> str:
    rng = random.Random(seed)
    weights = [w for _n, _s, w in STATE_MIX]
    parts = ['<?xml version="1.0"?>\n<node>\n',
             "  <cpu><nodes>1</nodes><sockets>2</sockets><cores>8</cores><threads>2</threads>"
             "<active>32</active><mhz>2400</mhz><model>x86_64</model></cpu>\n",
             "  <memory>134217728</memory>\n"]
    for i in range(count):
        _name, runstate, _w = rng.choices(STATE_MIX, weights)[0]
        name = f"{prefix}{ROLES[i % len(ROLES)]}-{i:05d}"
        uuid = str(uuidlib.UUID(int=rng.getrandbits(128), version=4))
        parts.append(domain_xml(name, uuid, runstate, rng.choice((1, 2, 4, 8)),
                                rng.choice((512, 1024, 2048, 4096, 8192)), i))
    parts.append("""  <network><name>default</name><uuid>22222222-2222-2222-2222-000000000001</uuid>
    <bridge name="virbr0"/><forward mode="nat"/>
    <ip address="192.168.122.1" netmask="255.255.255.0"/></network>
</node>
""")
    return "".join(parts)


def write_host(path: Path, count: int, *, seed: int = 1, prefix: str = "") -> str:
    """Write the file and return its libvirt URI."""
    path = Path(path).resolve()
    path.write_text(host_xml(count, seed=seed, prefix=prefix), encoding="utf-8")
    return f"test://{path}"


def main() -> None:
    parser = argparse.ArgumentParser(description="write a libvirt test-driver host with N domains")
    parser.add_argument("path", type=Path)
    parser.add_argument("count", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--prefix", default="")
    args = parser.parse_args()
    print(write_host(args.path, args.count, seed=args.seed, prefix=args.prefix))


if __name__ == "__main__":
    main()
