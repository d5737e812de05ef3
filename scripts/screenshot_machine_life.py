"""Screenshots of a machine's everyday life (issue 31): Delete… with its disks, the Addresses
column with the guest's addresses, Clone… with a linked clone, and the right-click menu.

Run under Xvfb:  xvfb-run -a -s "-screen 0 1400x900x24" python scripts/screenshot_machine_life.py OUTDIR
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QGuiApplication

from ecp_desktop.services.composition import build_services
from ecp_desktop.testing.inventory import set_up_inventory

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shot_session import run_shoot  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TEMPLATE_URI = f"test://{REPO / 'tests/data/template.xml'}"


async def wait_for(check, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.1)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise SystemExit("the window never showed what the screenshot needs")


async def shoot(out: Path, work: Path, app) -> None:
    from ecp_desktop.views.machines.machine_model import ADDRESSES
    from ecp_desktop.views.window.main_window import MainWindow
    set_up_inventory(f"sqlite:///{work / 'inventory.sqlite3'}")
    services = build_services()
    window = MainWindow(services, QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat))
    window.resize(1360, 820)
    window.show()
    for uri in ("test:///default", TEMPLATE_URI):
        host = services.inventory.add_host(uri)
        await services.inventory.connect_host(host)
        await services.inventory.load_host(host)
    proxy, view = window.machine_proxy, window.machines_view

    def row_of(name: str) -> int:
        return next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == name)
    # The Addresses column: scrolled so that it shows beside the names.
    await wait_for(lambda: proxy.index(row_of("test"), ADDRESSES).data())
    view.selectRow(row_of("test"))
    for column in range(3, ADDRESSES):
        view.setColumnHidden(column, True)  # (the picture's width: the user's columns are all there)
    await asyncio.sleep(0.5)
    window.grab().save(str(out / "addresses-column.png"))
    for column in range(3, ADDRESSES):
        view.setColumnHidden(column, False)

    # Clone… of tpl with Linked clone ticked.
    view.selectRow(row_of("tpl"))
    clone = window.open_clone_dialog()
    await wait_for(lambda: not clone.checking())
    clone.linked.setChecked(True)
    await asyncio.sleep(0.2)
    clone.grab().save(str(out / "clone-linked.png"))
    clone.close()

    # Right-click on a row.
    view.customContextMenuRequested.emit(view.visualRect(proxy.index(row_of("tpl"), 0)).center())
    await asyncio.sleep(0.4)
    QGuiApplication.primaryScreen().grabWindow(0).save(str(out / "context-menu.png"))
    window.context_menu.close()

    # Delete… of tpl and busy: each disk with its pool and size; the running one asks twice.
    view.clearSelection()
    for name in ("tpl", "busy"):
        view.selectionModel().select(proxy.index(row_of(name), 0),
                                     view.selectionModel().SelectionFlag.Select
                                     | view.selectionModel().SelectionFlag.Rows)
    dialog = window.open_delete_dialog()
    await wait_for(lambda: dialog.plans and len(dialog.plans) == 2)
    await asyncio.sleep(0.4)
    dialog.grab().save(str(out / "delete-dialog.png"))
    dialog.close()
    window.close()


if __name__ == "__main__":
    sys.exit(run_shoot(shoot, Path(sys.argv[1])))
