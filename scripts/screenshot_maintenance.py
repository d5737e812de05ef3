"""Screenshot of Host → Enter Maintenance…: the evacuation plan before anything moves.

Run under Xvfb:  xvfb-run -a -s "-screen 0 1400x900x24" python scripts/screenshot_maintenance.py OUTDIR [SRC DEST...]
With lab hosts (e.g. qemu+tcp://10.98.0.1/system qemu+tcp://10.98.0.2/system) three tiny
guests of different sizes are defined and started on SRC and the plan is real (method per
machine, largest memory first); with --run it is also carried out (maintenance-done.png).
Without hosts, test-driver hosts show a refused plan with its reasons. Writes maintenance-plan.png.
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import libvirt
import qasync
from PySide6.QtCore import QSettings

from ecp_desktop.services.composition import build_services
from ecp_desktop.services.hosts.libvirt_loop import register_event_impl
from ecp_desktop.testing.inventory import set_up_inventory
from ecp_desktop.views.common.qt_process import make_qt_app

REPO = Path(__file__).resolve().parents[1]
GUESTS = (("web-frontend", 96), ("db-primary", 128), ("cache", 64))


def define_guests(uri: str) -> None:
    admin = libvirt.open(uri)
    try:
        tiny = (REPO / "tests/lab/tiny-tcg.xml").read_text()
        for i, (name, mib) in enumerate(GUESTS):
            xml = (tiny.replace("tiny1", name).replace("c0ffee00-0000-4000-8000-000000000001",
                                                       f"c0ffee00-0000-4000-8000-0000000005{i:02d}")
                   .replace("<memory unit='MiB'>64</memory>", f"<memory unit='MiB'>{mib}</memory>")
                   .replace("<currentMemory unit='MiB'>64</currentMemory>",
                            f"<currentMemory unit='MiB'>{mib}</currentMemory>"))
            dom = admin.defineXML(xml)
            if not dom.isActive():
                dom.create()
    finally:
        admin.close()


async def shoot(out: Path, work: Path, source: str, dests: list[str], carry_out: bool) -> None:
    from ecp_desktop.services.maintenance.evacuate import EvacuationService
    from ecp_desktop.views.window.main_window import MainWindow
    from ecp_desktop.views.maintenance.maintenance_dialog import MaintenanceDialog
    set_up_inventory(f"sqlite:///{work / 'inventory.sqlite3'}")
    services = build_services()
    window = MainWindow(services, QSettings(str(work / "s.ini"), QSettings.Format.IniFormat))
    window.show()
    if source.startswith("qemu"):
        define_guests(source)
    for uri in (source, *dests):
        host = services.inventory.add_host(uri)
        await services.inventory.connect_host(host)
        await services.inventory.load_host(host)
    dialog = MaintenanceDialog(services.inventory, EvacuationService(services.migrations), source, set(), window)
    dialog.show()
    dialog.make_plan()
    await dialog.job
    await asyncio.sleep(0.3)
    dialog.grab().save(str(out / "maintenance-plan.png"))
    if carry_out and dialog.run_button.isEnabled():
        dialog.enter()
        await dialog.job
        await asyncio.sleep(0.3)
        dialog.grab().save(str(out / "maintenance-done.png"))
    services.shutdown()


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--run"]
    out = Path(args[0] if args else ".").resolve()
    source, dests = (args[1], args[2:]) if len(args) > 2 else (
        "test:///default", [f"test://{REPO / 'tests/data/template.xml'}"])
    out.mkdir(parents=True, exist_ok=True)
    app = make_qt_app(sys.argv[:1])
    register_event_impl()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as work, loop:
        loop.run_until_complete(shoot(out, Path(work), source, dests, "--run" in sys.argv))
    print(out / "maintenance-plan.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
