"""Screenshot of the migration dialog: the negotiation table and the plan, then progress.

Run under Xvfb:  xvfb-run -a -s "-screen 0 1400x900x24" python scripts/screenshot_migration.py OUTDIR [SRC DEST]
With SRC and DEST (two lab hosts, e.g. qemu+tcp://10.98.0.1/system qemu+tcp://10.98.0.2/system) the
tiny lab guest is defined and started on SRC and migrated; without them, two test-driver hosts
show a refusal with its reasons. Writes migration-check.png (and migration-done.png).
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import libvirt
import qasync
from PySide6.QtCore import QSettings

from ecp_desktop.services.composition import build_services  # noqa: E402
from ecp_desktop.views.common.qt_process import make_qt_app
from ecp_desktop.services.hosts.libvirt_loop import register_event_impl
from ecp_desktop.testing.inventory import set_up_inventory

REPO = Path(__file__).resolve().parents[1]


async def shoot(out: Path, work: Path, source: str, dest: str) -> None:
    from ecp_desktop.views.window.main_window import MainWindow
    from ecp_desktop.views.migration.migration_dialog import MigrationDialog
    set_up_inventory(f"sqlite:///{work / 'inventory.sqlite3'}")  # as after setup: the inventory is recorded
    services = build_services()
    window = MainWindow(services, QSettings(str(work / "s.ini"), QSettings.Format.IniFormat))
    window.show()
    name = "test"
    if source.startswith("qemu"):
        admin = libvirt.open(source)
        xml = (REPO / "tests/lab/tiny-tcg.xml").read_text()
        dom = admin.defineXML(xml)
        if not dom.isActive():
            dom.create()
        name = dom.name()
        admin.close()
    for uri in (source, dest):
        host = services.inventory.add_host(uri)
        await services.inventory.connect_host(host)
        await services.inventory.load_host(host)
    machine = next(m for m in services.inventory.machines_of(source) if m.name == name)
    dialog = MigrationDialog(services.inventory, services.tasks, services.migrations, window.maintenance_marks,
                             machine, window.show_errors, window)
    dialog.show()
    await dialog.checking
    await asyncio.sleep(0.3)
    dialog.grab().save(str(out / "migration-check.png"))
    if dialog.migrate_button.isEnabled():
        dialog.migrate_button.click()
        for _ in range(200):
            await asyncio.sleep(0.1)
            if dialog.progress.value() == 100:
                break
        await asyncio.sleep(0.3)
        dialog.grab().save(str(out / "migration-done.png"))
    services.shutdown()


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    source, dest = (sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else (
        "test:///default", f"test://{REPO / 'tests/data/template.xml'}")
    out.mkdir(parents=True, exist_ok=True)
    app = make_qt_app(sys.argv)
    register_event_impl()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as work, loop:
        loop.run_until_complete(shoot(out, Path(work), source, dest))
    print(out / "migration-check.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
