"""Host → Storage… over a pool of N volumes (issue 32: 5,000), the real dialog offscreen.

    python bench/storage_dialog.py [N] [MACHINES]     (default 5000 and 200)

The host is a libvirt test-driver file: one dir pool of N volumes, MACHINES shut-off machines
each using one of them. Prints, in one run:
  floor:      libvirt's own reading of the pool on a direct connection (list the volumes and
              each one's XML, the machines' XML): the least reading the storage can cost
  read:       the storage service's read (the same calls on the host's worker, parsed, each
              volume's users and linked-clone overlays found), and its ratio to the floor
  show:       the empty dialog shown, and the longest GUI gap meanwhile (a process's first dialog
              pays for Qt's font loading, whatever the pool)
  open:       from a read's start to every volume row shown (median), and its ratio to the floor
  gap:        the longest GUI gap (a 5 ms timer) while the dialog read, filled its two tables
              and scrolled to the last volume: median and worst of the rounds (target 50 ms)
  rss:        resident memory of the process at the end
"""
from __future__ import annotations

import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import libvirt  # noqa: E402
import qasync  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from responsiveness import GapMeter  # noqa: E402  (bench/ is the script's folder)

ROUNDS = 5


def host_file(folder: Path, volumes: int, machines: int) -> str:
    parts = ["<node>", "<pool type='dir'><name>big</name><uuid>9d1f3c1e-0000-4000-8000-000000000001</uuid>"
             "<target><path>/big</path></target>"]
    for i in range(volumes):
        parts.append(f"<volume type='file'><name>vol-{i:05d}.qcow2</name><capacity unit='GiB'>10</capacity>"
                     f"<allocation unit='MiB'>{i % 977}</allocation><target><format type='qcow2'/></target>"
                     "</volume>")
    parts.append("</pool>")
    for i in range(machines):
        parts.append(f"<domain type='test'><name>vm-{i:04d}</name><uuid>9d1f3c1e-0000-4000-8001-{i:012d}</uuid>"
                     "<memory unit='MiB'>64</memory><os><type>hvm</type></os><devices>"
                     f"<disk type='file' device='disk'><source file='/big/vol-{i * 7:05d}.qcow2'/>"
                     "<target dev='vda'/></disk></devices></domain>")
    parts.append("</node>")
    path = folder / "big.xml"
    path.write_text("\n".join(parts), encoding="utf-8")
    return f"test://{path}"


def floor(uri: str) -> float:
    conn = libvirt.open(uri)
    try:
        times = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            for pool in conn.listAllStoragePools(0):
                pool.info()
                pool.XMLDesc(0)
                for volume in pool.listAllVolumes(0):
                    volume.XMLDesc(0)
            for dom in conn.listAllDomains(0):
                dom.XMLDesc(0)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)
    finally:
        conn.close()


async def measure(volumes: int, machines: int) -> None:
    from ecp_desktop.services.composition import build_services
    from ecp_desktop.services.setup.startup import open_inventory
    from ecp_desktop.views.common.qt_process import settle_heap
    from ecp_desktop.views.storage.storage_dialog import StorageDialog
    work = Path(tempfile.mkdtemp())
    uri = host_file(work, volumes, machines)
    open_inventory(f"sqlite:///{work}/bench.sqlite3")
    services = build_services()
    settle_heap()  # as the app does once started (views/common/qt_process.py)
    host = services.inventory.add_host(uri)
    await services.inventory.connect_host(host)
    await services.inventory.load_host(host)
    base = floor(uri)
    reads = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        [pool] = await services.storage.read(uri)
        reads.append(time.perf_counter() - t0)
    assert len(pool.volumes) == volumes and sum(1 for v in pool.volumes if v.users) == machines
    read = statistics.median(reads)

    parent = QWidget()
    gaps = GapMeter()
    gaps.start()
    t0 = time.perf_counter()
    dialog = StorageDialog(parent, services.storage, uri, "big")
    dialog.show()
    await asyncio.sleep(0.05)
    shown, show_gap = time.perf_counter() - t0, gaps.stop()
    opens, worst = [], []
    for _ in range(ROUNDS):  # each round: the lists emptied, read again, filled, scrolled
        dialog.pools.set_rows([])
        dialog.volumes.set_rows([])
        await asyncio.sleep(0.05)
        gaps.start()
        t1 = time.perf_counter()
        dialog.reload()
        while dialog.volumes.rowCount() < volumes:
            await asyncio.sleep(0.002)
        opens.append(time.perf_counter() - t1)
        dialog.volume_view.scrollToBottom()
        dialog.volume_view.selectRow(volumes - 1)
        await asyncio.sleep(0.2)
        worst.append(gaps.stop())
    opened = statistics.median(opens)
    dialog.close()
    print(f"floor: libvirt reads the pool of {volumes} volumes and {machines} machines directly in "
          f"{base * 1000:.0f} ms")
    print(f"read: the storage service in {read * 1000:.0f} ms, {read / base:.2f}x the floor")
    print(f"show: the empty dialog on screen in {shown * 1000:.0f} ms, longest GUI gap {show_gap} ms (the process's "
          "first dialog: Qt loads its fonts once)")
    print(f"open: every volume row shown {opened * 1000:.0f} ms after reading began, {opened / base:.2f}x the floor")
    print(f"gap: longest GUI gap while reading, filling both tables and scrolling to the last volume, over "
          f"{ROUNDS} rounds: median {statistics.median(worst):.0f} ms, worst {max(worst)} ms (target 50 ms)")
    print(f"rss: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    services.inventory.executors.shutdown()


def main() -> None:
    volumes = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    machines = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    app = QApplication.instance() or QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(measure(volumes, machines))


if __name__ == "__main__":
    main()
