"""Screenshots of a host's storage and networks (issue 32): Host → Storage… with a pool's
volumes and the machines using them, and Host → Networks… with its networks and the form of a
new one.

Run under Xvfb:  xvfb-run -a -s "-screen 0 1400x900x24" python scripts/screenshot_storage_networks.py OUTDIR
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from PySide6.QtCore import QSettings

from ecp_desktop.services.composition import build_services
from ecp_desktop.services.storage.service import PoolSpec
from ecp_desktop.testing.inventory import set_up_inventory

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shot_session import run_shoot  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TEMPLATE_URI = f"test://{REPO / 'tests/data/template.xml'}"
LAB_URI = f"test://{REPO / 'tests/data/lab.xml'}"


async def wait_for(check, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.1)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise SystemExit("the dialog never showed what the screenshot needs")


async def shoot(out: Path, work: Path, app) -> None:
    from ecp_desktop.views.networks.networks_dialog import open_networks_dialog
    from ecp_desktop.views.storage.storage_dialog import open_storage_dialog
    from ecp_desktop.views.window.main_window import MainWindow
    set_up_inventory(f"sqlite:///{work / 'inventory.sqlite3'}")
    services = build_services()
    window = MainWindow(services, QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat))
    window.resize(1200, 760)
    window.show()
    for uri in (TEMPLATE_URI, LAB_URI):
        host = services.inventory.add_host(uri)
        await services.inventory.connect_host(host)
        await services.inventory.load_host(host)
    # a second pool, stopped: shown greyed, its volumes not listed
    await services.storage.create_pool(TEMPLATE_URI, PoolSpec("backups", "dir", "/srv/backups"), autostart=False)
    await services.storage.stop_pool(TEMPLATE_URI, "backups")

    storage = open_storage_dialog(window, services.storage, TEMPLATE_URI, "template host")
    await wait_for(lambda: storage.pools.rowCount() == 2)
    storage.pool_view.selectRow([storage.pools.index(r, 0).data() for r in range(2)].index("pool-a"))
    await wait_for(lambda: storage.volumes.rowCount() > 0)
    names = [storage.volumes.index(r, 0).data() for r in range(storage.volumes.rowCount())]
    storage.volume_view.selectRow(names.index("tpl-root.qcow2"))
    await asyncio.sleep(0.4)
    storage.grab().save(str(out / "storage-dialog.png"))
    storage.close()

    networks = open_networks_dialog(window, services.networks, LAB_URI, "lab host")
    await wait_for(lambda: networks.rows.rowCount() == 2)
    networks.view.selectRow(0)
    await asyncio.sleep(0.4)
    networks.grab().save(str(out / "networks-dialog.png"))
    networks.new_network()
    await wait_for(lambda: networks.form is not None and networks.form.isVisible())
    networks.form.name.setText("lab-nat")
    await asyncio.sleep(0.3)
    networks.form.grab().save(str(out / "new-network.png"))
    networks.form.close()
    networks.close()
    window.close()


if __name__ == "__main__":
    sys.exit(run_shoot(shoot, Path(sys.argv[1])))
