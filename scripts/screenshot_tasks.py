"""Screenshots of the tasks pane (a flow rolled back, expanded; a bulk action) and the template dialog.

Run under Xvfb:  xvfb-run -a -s "-screen 0 1400x900x24" python scripts/screenshot_tasks.py OUTDIR
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
import qasync

from ecp_desktop.services.composition import build_services
from ecp_desktop.views.common.qt_process import make_qt_app
from ecp_desktop.services.hosts.libvirt_loop import register_event_impl
from ecp_desktop.testing.inventory import set_up_inventory

REPO = Path(__file__).resolve().parents[1]
TEMPLATE_URI = f"test://{REPO / 'tests/data/template.xml'}"


async def shoot(out: Path, work: Path, app) -> None:
    from ecp_desktop.views.window.main_window import MainWindow
    set_up_inventory(f"sqlite:///{work / 'inventory.sqlite3'}")  # as after setup: the inventory is recorded
    services = build_services()
    settings = QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(services, settings)
    window.resize(1360, 860)
    window.show()
    host = services.inventory.add_host(TEMPLATE_URI)
    await services.inventory.connect_host(host)
    await services.inventory.load_host(host)
    tpl = next(m for m in services.inventory.machines_of(TEMPLATE_URI) if m.name == "tpl")
    ok = await services.templates.run(await services.templates.plan(TEMPLATE_URI, tpl.uuid, 2, "web-{n}",
                                                                    start=True))
    failed = await services.templates.run(await services.templates.plan(TEMPLATE_URI, tpl.uuid, 5, "db-{n}"))
    await asyncio.sleep(0.2)
    window.resizeDocks([window.tasks_dock], [520], Qt.Orientation.Vertical)
    pane = window.tasks_pane
    pane.view.expand(pane.proxy.mapFromSource(pane.model.index_of(failed)))
    for machine in failed.children[:2]:
        pane.view.expand(pane.proxy.mapFromSource(pane.model.index_of(machine)))
    pane.select(failed.children[0])
    await asyncio.sleep(0.3)
    window.grab().save(str(out / "tasks-pane.png"))
    dialog = window.open_template_dialog()
    dialog.template.setCurrentIndex(next(i for i in range(dialog.template.count())
                                         if dialog.template.itemData(i).name == "tpl"))
    dialog.pattern.setText("app-{n:02}")
    dialog.count.setValue(12)
    await asyncio.sleep(0.2)
    dialog.grab().save(str(out / "template-dialog.png"))
    dialog.pattern.setText("web-{n}")
    await asyncio.sleep(0.1)
    dialog.grab().save(str(out / "template-dialog-clash.png"))
    dialog.close()
    # An action on several machines: one task, a step per machine (busy runs already).
    chosen = [m for m in services.inventory.machines_of(TEMPLATE_URI) if m.name in ("tpl", "loose-disk", "busy")]
    steps = await services.lifecycle.apply_many("start", chosen)
    await asyncio.sleep(0.2)
    pane.view.collapseAll()
    pane.view.expand(pane.proxy.mapFromSource(pane.model.index_of(steps[0].parent)))
    pane.select(steps[0].parent)
    await asyncio.sleep(0.3)
    window.grab().save(str(out / "tasks-bulk.png"))
    # A rollback that failed (the pool was stopped mid-flow), with Retry Rollback offered.
    from ecp_desktop.services.tasks.interrupted import retry_rollback
    pane.offer_retry(lambda task_id: retry_rollback(services.engine, task_id))
    stopped = []

    async def stop_pool(record, what):
        if what == "done" and record.op == "clone_volume" and not stopped:
            stopped.append(record)
            await host.call(lambda c: c.storagePoolLookupByName("pool-a").destroy())
    services.engine.listeners.append(stop_pool)
    await host.call(lambda c: c.lookupByName("tpl").destroy())  # the bulk start above started it
    await asyncio.sleep(0.2)
    left = await services.templates.run(await services.templates.plan(TEMPLATE_URI, tpl.uuid, 1, "cache-{n}"))
    await services.tasks.flush()
    await asyncio.sleep(0.2)
    pane.view.collapseAll()
    pane.view.expand(pane.proxy.mapFromSource(pane.model.index_of(left)))
    pane.view.expand(pane.proxy.mapFromSource(pane.model.index_of(left.children[0])))
    pane.select(left)
    await asyncio.sleep(0.3)
    window.grab().save(str(out / "tasks-retry.png"))
    print(f"wrote {out}/tasks-pane.png, template-dialog.png, template-dialog-clash.png, tasks-bulk.png, "
          "tasks-retry.png "
          f"({ok.status}, {failed.status}, {steps[0].parent.outcome})")
    services.shutdown()
    app.quit()


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    out.mkdir(parents=True, exist_ok=True)
    register_event_impl()
    app = make_qt_app(sys.argv)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as tmp, loop:
        loop.run_until_complete(shoot(out, Path(tmp), app))
    return 0


if __name__ == "__main__":
    sys.exit(main())
