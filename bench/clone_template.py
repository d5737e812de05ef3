"""N machines from a template: time per machine, and the GUI thread's longest stall meanwhile.

    python bench/clone_template.py [N]            (default 100; CI runs a quick N)
    python bench/clone_template.py [N] --test-driver

On the lab host (root: a private libvirtd with real QEMU, scripts/lab.sh) the template
has a qcow2 disk in a dir pool, and each new machine gets a qcow2 clone (qemu-img) and
a definition. Without root, or with --test-driver, libvirt's test driver stands in.

The floor is the same clones and definitions made directly with libvirt-python on 4
threads (the engine's concurrency), without the app; then the app does it through the
task engine with the main window shown (tasks pane open, every task persisted first).
Prints:
  floor_N:   seconds for the bare libvirt calls
  headless_N: the same through the task engine without a window (the CLI's way)
  app_N:     seconds through the app with its window, ms per machine, ratio to the floor
  gui_gap_N: longest gap of a 5 ms GUI timer while the app creates them (target 50 ms)
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import libvirt  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
import qasync  # noqa: E402

from bench.responsiveness import GapMeter  # noqa: E402

TEMPLATE_XML = """<domain type='{kind}'><name>tpl</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'{machine}>hvm</type></os>{emulator_start}
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{pool}/tpl-root.qcow2'/>
<target dev='vda' bus='virtio'/></disk><interface type='user'><mac address='52:54:00:00:00:01'/></interface>
{emulator_end}</domain>"""


def lab_uri(work: Path) -> tuple[str, dict] | None:
    if os.geteuid() != 0 or not shutil.which("libvirtd") or not shutil.which("tini"):
        return None
    env = {**os.environ, "ECP_LAB_DIR": str(work / "lab")}
    out = subprocess.run([str(ROOT / "scripts" / "lab.sh"), "start", "bench"], env=env, capture_output=True,
                         text=True, timeout=60)
    if out.returncode != 0:
        print(f"lab did not start ({out.stderr.strip()}); using the test driver", file=sys.stderr)
        return None
    return f"qemu+unix:///system{out.stdout.strip()}", env


def prepare(conn: libvirt.virConnect, pool_dir: Path, qemu: bool) -> None:
    pool = conn.storagePoolDefineXML(f"<pool type='dir'><name>bench-pool</name><target><path>{pool_dir}</path>"
                                     "</target></pool>")
    pool.create()
    pool.createXML("<volume><name>tpl-root.qcow2</name><capacity unit='MiB'>64</capacity>"
                   "<target><format type='qcow2'/></target></volume>", 0)
    conn.defineXML(TEMPLATE_XML.format(
        kind="qemu" if qemu else "test", pool=pool_dir, machine=" machine='pc'" if qemu else "",
        emulator_start="<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>" if qemu else "<devices>",
        emulator_end="</devices>"))


def floor(conn: libvirt.virConnect, n: int) -> float:
    """The same clones and definitions, bare: 4 threads, no app, no database."""
    pool = conn.storagePoolLookupByName("bench-pool")
    source = pool.storageVolLookupByName("tpl-root.qcow2")
    _k, capacity, allocation = source.info()
    template = conn.lookupByName("tpl").XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)

    def one(i: int) -> None:
        vol = pool.createXMLFrom(f"<volume><name>floor-{i}.qcow2</name><capacity unit='bytes'>{capacity}</capacity>"
                                 f"<allocation unit='bytes'>{allocation}</allocation><target><format type='qcow2'/>"
                                 "</target></volume>", source, 0)
        xml = template.replace("<name>tpl</name>", f"<name>floor-{i}</name>").replace("tpl-root.qcow2",
                                                                                    f"floor-{i}.qcow2")
        xml = xml.split("<uuid>")[0] + xml.split("</uuid>")[1]
        conn.defineXML(xml)
        del vol
    t0 = time.perf_counter()
    with ThreadPoolExecutor(4) as pool_threads:
        list(pool_threads.map(one, range(n)))
    elapsed = time.perf_counter() - t0
    for i in range(n):
        conn.lookupByName(f"floor-{i}").undefine()
        pool.storageVolLookupByName(f"floor-{i}.qcow2").delete(0)
    return elapsed


async def headless(uri: str, n: int, work: Path) -> float:
    """The same flow without a window (as `ecp-desktop clone-template` runs it)."""
    from ecp_desktop.services.composition import build_services
    from ecp_desktop.services.setup.startup import open_inventory
    open_inventory(f"sqlite:///{work}/headless.sqlite3")
    services = build_services(keepalive=False, events=False, reconnect=False, auto_load=False)
    host = services.inventory.add_host(uri)
    await services.inventory.connect_host(host)
    await services.inventory.load_host(host)
    tpl = next(m for m in services.inventory.machines_of(uri) if m.name == "tpl")
    flow = await services.templates.plan(uri, tpl.uuid, n, "head-{n:04}")
    t0 = time.perf_counter()
    root = await services.templates.run(flow)
    elapsed = time.perf_counter() - t0
    assert root.status == "succeeded", root.outcome
    await host.call(lambda conn: remove(conn, "head-"))
    services.shutdown()
    return elapsed


def remove(conn: libvirt.virConnect, prefix: str) -> None:
    pool = conn.storagePoolLookupByName("bench-pool")
    for dom in conn.listAllDomains():
        if dom.name().startswith(prefix):
            dom.undefine()
    for vol in pool.listAllVolumes():
        if vol.name().startswith(prefix):
            vol.delete(0)


async def through_app(uri: str, n: int, work: Path) -> tuple[float, int, str]:
    from ecp_desktop.services.composition import build_services
    from ecp_desktop.services.setup.startup import open_inventory
    from ecp_desktop.views.window.main_window import MainWindow
    open_inventory(f"sqlite:///{work}/bench.sqlite3")
    services = build_services()
    window = MainWindow(services, QSettings(str(work / "s.ini"), QSettings.Format.IniFormat))
    window.show()
    host = services.inventory.add_host(uri)
    await services.inventory.connect_host(host)
    await services.inventory.load_host(host)
    tpl = next(m for m in services.inventory.machines_of(uri) if m.name == "tpl")
    flow = await services.templates.plan(uri, tpl.uuid, n, "bench-{n:04}")
    gaps = GapMeter()
    gaps.start()
    t0 = time.perf_counter()
    root = await services.templates.run(flow)
    elapsed = time.perf_counter() - t0
    await asyncio.sleep(0.2)  # the last rows' repaint belongs to the run
    gap = gaps.stop()
    status = root.status
    window.close()
    services.shutdown()
    return elapsed, gap, status


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 100
    work = Path(tempfile.mkdtemp(prefix="ecp-bench-"))
    lab = None if "--test-driver" in sys.argv else lab_uri(work)
    pool_dir = work / "pool"
    pool_dir.mkdir()
    if lab is not None:
        uri, driver = lab[0], "qemu (lab libvirtd, qcow2 clones by qemu-img)"
    else:
        uri, driver = "test:///default", "test driver (in-process)"
    libvirt.registerErrorHandler(lambda *_: None, None)
    conn = libvirt.open(uri)
    try:
        prepare(conn, pool_dir, lab is not None)
        bare = floor(conn, n)
        quiet = asyncio.run(headless(uri, n, work))
        app = QApplication.instance() or QApplication(sys.argv)
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        with loop:
            elapsed, gap, status = loop.run_until_complete(through_app(uri, n, work))
        print(f"driver: {driver}")
        print(f"floor_{n}: {bare:.2f} s for {n} clones + definitions, bare libvirt on 4 threads")
        print(f"headless_{n}: {quiet:.2f} s ({1000 * quiet / n:.1f} ms per machine, {quiet / bare:.2f}x the floor): "
              "the engine with every task persisted before it runs, no window")
        print(f"app_{n}: {elapsed:.2f} s ({1000 * elapsed / n:.1f} ms per machine, {elapsed / bare:.2f}x the floor); "
              f"flow {status}")
        print(f"gui_gap_{n}: longest GUI gap {gap} ms while creating {n} machines (target 50 ms)")
        if status != "succeeded":
            sys.exit(1)
    finally:
        conn.close()
        if lab is not None:
            subprocess.run([str(ROOT / "scripts" / "lab.sh"), "crash-host", "bench"], env=lab[1], timeout=60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
