"""Screenshot for the README: a host that is down keeps its machines on screen.

Run under Xvfb: xvfb-run -a -s "-screen 0 1400x900x24" python scripts/screenshot_host_down.py OUT_DIR
Writes OUT_DIR/host-down.png: a live host beside one whose machines are last known (its
host file moved away, as a host that stopped answering), one of them selected.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from PySide6.QtCore import QSettings

from shot_session import run_shoot

from ecp_desktop.services.composition import build_services
from ecp_desktop.services.setup.startup import start_initial_hosts
from ecp_desktop.services.config import approved_hosts
from ecp_desktop.testing.hostgen import write_host
from ecp_desktop.testing.inventory import set_up_inventory


async def record(uris: list[str]) -> None:
    """A first session: both hosts answer, their machines are recorded."""
    services = build_services()
    for uri, label in zip(uris, ("rack-1", "rack-2"), strict=True):
        host = services.inventory.add_host(uri, label=label)
        await services.inventory.connect_host(host, autoconnect=True)
        await services.inventory.load_host(host)
    await services.inventory.writes.written()
    services.shutdown()


async def shoot(out: Path, work: Path, app) -> None:
    from ecp_desktop.views.window.main_window import MainWindow
    set_up_inventory(f"sqlite:///{work / 'inventory.sqlite3'}")
    live = write_host(work / "rack-1.xml", 120, seed=7, prefix="r1-")
    down_file = work / "rack-2.xml"
    down = write_host(down_file, 80, seed=8, prefix="r2-")
    approved_hosts.approve([live, down])
    await record([live, down])
    down_file.rename(work / "rack-2.moved")  # rack-2 stops answering
    services = build_services()
    window = MainWindow(services, QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat))
    window.resize(1360, 820)
    window.show()
    await asyncio.gather(*await start_initial_hosts(services.inventory, []))
    for _ in range(200):
        if all(m.live for m in services.inventory.machines_of(live)):
            break
        await asyncio.sleep(0.05)
    window.machines_view.sortByColumn(2, window.machines_view.horizontalHeader().sortIndicatorOrder().DescendingOrder)
    window.machines_view.selectRow(0)
    await asyncio.sleep(0.8)
    window.grab().save(str(out / "host-down.png"))
    print(f"wrote {out / 'host-down.png'}")
    services.shutdown()
    app.quit()


def main() -> int:
    return run_shoot(shoot, Path(sys.argv[1] if len(sys.argv) > 1 else "docs").resolve())


if __name__ == "__main__":
    sys.exit(main())
