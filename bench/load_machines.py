"""Load N machines from a test-driver host: the libvirt floor vs the app, same run.

    python bench/load_machines.py [N]          (default 2000; issue target: 10000)

Prints one line per figure:
  floor_N:   open + list + XMLDesc + state for every domain in a bare script
  service_N: the app's inventory (headless services) until every machine is known
  window_N:  the real main window (offscreen) until every row is in the model and painted
"""
from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import libvirt  # noqa: E402

from ecp_desktop.testing.hostgen import write_host  # noqa: E402


def floor(uri: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    conn = libvirt.open(uri)
    doms = conn.listAllDomains()
    for dom in doms:
        dom.XMLDesc(0)
        dom.state()
    conn.close()
    return time.perf_counter() - t0, len(doms)


def service_load(uri: str, work: Path, n: int) -> float:
    from ecp_desktop.services.composition import build_services
    from ecp_desktop.services.hosts.libvirt_loop import start_event_thread
    from ecp_desktop.services.setup.startup import open_inventory
    start_event_thread()  # headless: no Qt loop iterates libvirt's events here
    open_inventory(f"sqlite:///{work / 'service.sqlite3'}")

    async def go() -> float:
        services = build_services()
        t0 = time.perf_counter()
        host = services.inventory.add_host(uri)
        await services.inventory.connect_host(host)
        while len(services.inventory.machines) < n:
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - t0
        services.shutdown()
        return elapsed

    return asyncio.run(go())


def window_load(uri: str, work: Path, n: int) -> float:
    from PySide6.QtCore import QSettings
    import qasync
    from ecp_desktop.services.composition import build_services
    from ecp_desktop.views.common.qt_process import make_qt_app
    from ecp_desktop.services.hosts.libvirt_loop import register_event_impl
    from ecp_desktop.services.setup.startup import open_inventory
    register_event_impl()
    app = make_qt_app(sys.argv)
    from ecp_desktop.views.window.main_window import MainWindow
    open_inventory(f"sqlite:///{work / 'window.sqlite3'}")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)

    async def go() -> float:
        t0 = time.perf_counter()
        services = build_services()
        window = MainWindow(services, QSettings(str(work / "s.ini"), QSettings.Format.IniFormat))
        window.show()
        await services.inventory.connect_host(services.inventory.add_host(uri))
        while window.machine_proxy.rowCount() < n:
            await asyncio.sleep(0.005)
        window.repaint()
        elapsed = time.perf_counter() - t0
        services.shutdown()
        window.close()
        return elapsed

    with loop:
        return loop.run_until_complete(go())


PARTS = {"service": service_load, "window": window_load}


def run_part(part: str, uri: str, work: Path, n: int) -> tuple[float, float]:
    """Each measurement in its own process: a headless event thread and Qt's GLib
    dispatcher must not share one process, and peak memory is then per part."""
    out = subprocess.run([sys.executable, __file__, "--part", part, str(n), uri, str(work)],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[-2]), float(out[-1])


def main() -> None:
    if sys.argv[1:2] == ["--part"]:
        part, n, uri, work = sys.argv[2], int(sys.argv[3]), sys.argv[4], Path(sys.argv[5])
        seconds = PARTS[part](uri, work, n)
        print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        uri = write_host(work / "host.xml", n, seed=11)
        floor_s, count = floor(uri)
        assert count == n
        service_s, service_mb = run_part("service", uri, work, n)
        window_s, window_mb = run_part("window", uri, work, n)
    print(f"floor_{n}: {floor_s:.2f} s (open + list + XML + state, bare libvirt)")
    print(f"service_{n}: app {service_s:.2f} s, floor {floor_s:.2f} s, ratio {service_s / floor_s:.2f}, "
          f"peak RSS {service_mb:.0f} MB")
    print(f"window_{n}: app {window_s:.2f} s, floor {floor_s:.2f} s, margin {window_s - floor_s:+.2f} s, "
          f"peak RSS {window_mb:.0f} MB")


if __name__ == "__main__":
    main()
