"""Screenshots of the main window at the sizes a newcomer meets: 1280x760 (the default),
1440x900 and 1920x1080 (a laptop and a desktop, maximised), 800x550, and 1280x760 with text
at 150 %. Under Xvfb:

    xvfb-run -a -s "-screen 0 1920x1080x24" python scripts/screenshot_sizes.py OUT_DIR
Writes OUT_DIR/window-1280x760.png, window-1440x900.png, window-1920x1080.png,
window-800x550.png, window-150pct.png, and window-dark-1440x900.png (a dark desktop palette).
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor, QPalette

from shot_session import run_shoot

from ecp_desktop.services.composition import build_services
from ecp_desktop.services.setup.startup import connect_initial_hosts
from ecp_desktop.testing.hostgen import write_host
from ecp_desktop.testing.inventory import set_up_inventory

REPO = Path(__file__).resolve().parents[1]
SHOTS = (("window-1280x760.png", (1280, 760), 1.0, False), ("window-1440x900.png", (1440, 900), 1.0, False),
         ("window-1920x1080.png", (1920, 1080), 1.0, False), ("window-800x550.png", (800, 550), 1.0, False),
         ("window-150pct.png", (1280, 760), 1.5, False), ("window-dark-1440x900.png", (1440, 900), 1.0, True))


def dark_palette() -> QPalette:
    """A dark desktop theme's palette (Breeze Dark's colours), as a dark GTK or KDE theme gives."""
    palette = QPalette(QColor("#2a2e32"))
    for role, colour in ((QPalette.ColorRole.Window, "#2a2e32"), (QPalette.ColorRole.WindowText, "#fcfcfc"),
                         (QPalette.ColorRole.Base, "#1b1e20"), (QPalette.ColorRole.AlternateBase, "#232629"),
                         (QPalette.ColorRole.Text, "#fcfcfc"), (QPalette.ColorRole.Button, "#31363b"),
                         (QPalette.ColorRole.ButtonText, "#fcfcfc"), (QPalette.ColorRole.Highlight, "#3daee9"),
                         (QPalette.ColorRole.HighlightedText, "#fcfcfc"), (QPalette.ColorRole.ToolTipBase, "#31363b"),
                         (QPalette.ColorRole.ToolTipText, "#fcfcfc"), (QPalette.ColorRole.PlaceholderText, "#a1a9b1")):
        palette.setColor(role, QColor(colour))
    for role, colour in ((QPalette.ColorRole.Text, "#6e7175"), (QPalette.ColorRole.WindowText, "#6e7175"),
                         (QPalette.ColorRole.ButtonText, "#6e7175")):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(colour))
    return palette


async def shoot(out: Path, work: Path, app) -> None:
    from ecp_desktop.views.window.main_window import MainWindow
    set_up_inventory(f"sqlite:///{work / 'inventory.sqlite3'}")
    uris = [write_host(work / "lab-fleet.xml", 60, seed=7, prefix="lab-"),
            f"test://{REPO / 'tests/data/virt-manager-4.1.0-testdriver.xml'}"]
    services = build_services()
    await connect_initial_hosts(services.inventory, uris)
    for host in services.inventory.hosts.values():
        await services.inventory.load_host(host)
    # A task history to read: machines started, and a start that fails (already running)
    machines = sorted(services.inventory.machines.values(), key=lambda m: m.name)
    await services.lifecycle.apply_many("start", [m for m in machines if m.state == "shutoff"][:3])
    await services.lifecycle.apply_many("start", [m for m in machines if m.state == "running"][:1])
    base_font, base_palette = app.font(), app.palette()
    for name, (width, height), scale, dark in SHOTS:
        app.setPalette(dark_palette() if dark else base_palette)
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
    app.setPalette(base_palette)
    services.shutdown()
    app.quit()


def main() -> int:
    return run_shoot(shoot, Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "docs").resolve())


if __name__ == "__main__":
    sys.exit(main())
