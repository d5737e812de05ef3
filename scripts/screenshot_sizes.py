"""Screenshots of the main window at the sizes a newcomer meets: 1280x760 (the default),
1440x900 and 1920x1080 (a laptop and a desktop, maximised), 800x550, and 1280x760 with text
at 150 %. Under Xvfb:

    xvfb-run -a -s "-screen 0 1920x1080x24" python scripts/screenshot_sizes.py OUT_DIR
Writes OUT_DIR/window-1280x760.png, window-1440x900.png, window-1920x1080.png,
window-800x550.png, window-150pct.png.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from PySide6.QtCore import QSettings

from shot_session import run_shoot

from ecp_desktop.services.composition import build_services
from ecp_desktop.services.setup.startup import connect_initial_hosts
from ecp_desktop.testing.hostgen import write_host
from ecp_desktop.testing.inventory import set_up_inventory

REPO = Path(__file__).resolve().parents[1]
SHOTS = (("window-1280x760.png", (1280, 760), 1.0), ("window-1440x900.png", (1440, 900), 1.0),
         ("window-1920x1080.png", (1920, 1080), 1.0), ("window-800x550.png", (800, 550), 1.0),
         ("window-150pct.png", (1280, 760), 1.5))


async def shoot(out: Path, work: Path, app) -> None:
    from ecp_desktop.views.window.main_window import MainWindow
    set_up_inventory(f"sqlite:///{work / 'inventory.sqlite3'}")
    uris = [write_host(work / "lab-fleet.xml", 60, seed=7, prefix="lab-"),
            f"test://{REPO / 'tests/data/virt-manager-4.1.0-testdriver.xml'}"]
    services = build_services()
    await connect_initial_hosts(services.inventory, uris)
    for host in services.inventory.hosts.values():
        await services.inventory.load_host(host)
    base_font = app.font()
    for name, (width, height), scale in SHOTS:
        font = app.font()
        font.setPointSizeF(base_font.pointSizeF() * scale)
        app.setFont(font)
        window = MainWindow(services, QSettings(str(work / f"{name}.ini"), QSettings.Format.IniFormat))
        window.resize(width, height)
        window.show()
        await asyncio.sleep(0.6)
        window.machines_view.selectRow(1)
        await asyncio.sleep(0.4)
        window.grab().save(str(out / name))
        print(f"wrote {out / name}")
        window.close()
        window.deleteLater()
        app.setFont(base_font)
    services.shutdown()
    app.quit()


def main() -> int:
    return run_shoot(shoot, Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "docs").resolve())


if __name__ == "__main__":
    sys.exit(main())
