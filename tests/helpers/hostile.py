"""Test-driver hosts whose machines, titles and disks are named like markup: what another
operator or a libvirt host could put where the app shows data (libvirt refuses a '/' in a
name, so names open tags without closing them: Qt takes them for markup all the same)."""
from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

RUNSTATE_NS = "http://libvirt.org/schemas/domain/test/1.0"
# name -> (test-driver runstate: 1 running, 5 shut off; title)
MACHINES = {
    "<i>web-1<!--": (1, "<u>title of web-1</u>"),
    '<a href="http:evil.example">click': (1, '<a href="http://y">title link</a>'),
    "<b>bold & co": (5, "<img src=title>"),
    "<img src=x>": (5, "<h1>big title</h1>"),
}
OTHER_MACHINES = {"<s>other-vm": (1, "<u>other title</u>")}
DISK_DIR = "/images/<tt>disks</tt>"
HOST_LABEL = "<u>lab-a</u>"
OTHER_LABEL = "<u>lab-b</u>"
DEAD_LABEL = "<u>dead-host</u>"
# Every string above, as it would appear when shown raw: none may reach Qt as markup.
MARKERS = (*MACHINES, *OTHER_MACHINES, *(t for _s, t in MACHINES.values()),
           *(t for _s, t in OTHER_MACHINES.values()), DISK_DIR, HOST_LABEL, OTHER_LABEL, DEAD_LABEL)


def _domain(name: str, uuid: str, runstate: int, title: str, index: int) -> str:
    mac = f"52:54:00:77:00:{index:02x}"
    source = quoteattr(f"{DISK_DIR}/disk-{index}.qcow2")
    return f"""  <domain type="test">
    <name>{escape(name)}</name>
    <uuid>{uuid}</uuid>
    <title>{escape(title)}</title>
    <memory unit="MiB">512</memory>
    <vcpu>1</vcpu>
    <os><type arch="x86_64">hvm</type><boot dev="hd"/></os>
    <devices>
      <disk type="file" device="disk">
        <driver name="qemu" type="qcow2"/>
        <source file={source}/>
        <target dev="vda" bus="virtio"/>
      </disk>
      <interface type="network"><source network="default"/><mac address="{mac}"/><model type="virtio"/></interface>
    </devices>
    <test:runstate xmlns:test="{RUNSTATE_NS}">{runstate}</test:runstate>
  </domain>
"""


def write_hostile_host(path: Path, machines: dict[str, tuple[int, str]] = MACHINES, *, first: int = 0) -> str:
    """The host file; returns its libvirt URI (``test:///ABS/PATH.xml``)."""
    path = Path(path).resolve()
    parts = [_domain(name, f"44444444-4444-4444-4444-{first + i:012d}", state, title, first + i)
             for i, (name, (state, title)) in enumerate(machines.items())]
    network = ('  <network><name>default</name><uuid>22222222-2222-2222-2222-000000000009</uuid>'
               '<bridge name="virbr0"/><forward mode="nat"/>'
               '<ip address="192.168.122.1" netmask="255.255.255.0"/></network>\n')
    path.write_text("<node>\n" + "".join(parts) + network + "</node>\n", encoding="utf-8")
    return f"test://{path}"
