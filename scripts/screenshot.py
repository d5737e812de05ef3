"""Screenshot of the main window for the README: a demo fleet, a selection, the details.

Run under Xvfb (scripts/screenshot.sh does that): python scripts/screenshot.py OUT.png
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QSettings
import qasync

from ecp_desktop.services.composition import build_services
from ecp_desktop.services.setup.startup import connect_initial_hosts
from ecp_desktop.views.common.qt_process import make_qt_app
from ecp_desktop.services.hosts.libvirt_loop import register_event_impl
from ecp_desktop.testing.inventory import set_up_inventory
from ecp_desktop.testing.hostgen import write_host

REPO = Path(__file__).resolve().parents[1]


async def shoot(out: Path, work: Path, app) -> None:
    from ecp_desktop.views.window.main_window import MainWindow
    set_up_inventory(f"sqlite:///{work / 'inventory.sqlite3'}")  # as after setup: the inventory is recorded
    fleet = write_host(work / "lab-fleet.xml", 240, seed=7, prefix="lab-")
    uris = [fleet, f"test://{REPO / 'tests/data/virt-manager-4.1.0-testdriver.xml'}",
            "qemu+tcp://127.0.0.1:1/system"]  # nothing listens on port 1: refused at once, a dead host
    services = build_services()
    settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(services, settings)
    window.show()
    loaded = asyncio.Event()
    services.inventory.host_loaded.connect(
        lambda *_: loaded.set() if len(services.inventory.machines) >= 240 + 10 else None)
    await connect_initial_hosts(services.inventory, uris)
    await asyncio.wait_for(loaded.wait(), 20)
    view = window.machines_view
    for row in range(6):
        name = window.machine_proxy.index(row, 0).data()
        if name and name.startswith("lab-"):
            view.selectRow(row)
            break
    starting = [m for m in services.inventory.machines.values() if m.state == "shutoff"][:3]
    await services.lifecycle.apply_many("start", starting)
    await services.lifecycle.apply("start", next(m for m in services.inventory.machines.values()
                                                 if m.state == "running"))
    await asyncio.sleep(0.8)
    window.grab().save(str(out))
    print(f"wrote {out}")
    services.shutdown()
    app.quit()


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "docs/screenshot.png").resolve()
    register_event_impl()
    app = make_qt_app(sys.argv)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as tmp, loop:
        loop.run_until_complete(shoot(out, Path(tmp), app))
    return 0


if __name__ == "__main__":
    sys.exit(main())
