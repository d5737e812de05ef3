"""Screenshots of the setup wizard's pages (connections, import preview, outcome).

Run under Xvfb: xvfb-run -a python scripts/screenshot_wizard.py OUT_DIR
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from ecp_desktop.testing.hostgen import write_host
from ecp_desktop.views.setup.wizard import ConnectionsPage, ImportPage, ProgressPage, SetupWizard

REPO = Path(__file__).resolve().parents[1]


def wait(app: QApplication, condition, timeout_ms: int = 20000) -> None:
    loop = QEventLoop()
    timer = QTimer()
    timer.timeout.connect(lambda: loop.quit() if condition() else None)
    timer.start(20)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()
    if not condition():
        raise SystemExit("the wizard did not get there in time")


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "docs").resolve()
    app = QApplication(sys.argv)
    with tempfile.TemporaryDirectory() as tmp:
        for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
            os.environ[variable] = str(Path(tmp) / variable.lower())  # the run's answers stay here
        fleet = write_host(Path(tmp) / "fleet.xml", 120, seed=5, prefix="lab-")
        wizard = SetupWizard(database_url=f"sqlite:///{tmp}/inventory.sqlite3", database_locked=False,
                             typed_connections=[fleet], probe_timeout=5)
        wizard.show()
        shots = {ConnectionsPage: "setup-connections.png", ImportPage: "setup-import.png",
                 ProgressPage: "setup-progress.png"}
        while True:
            page = wizard.currentPage()
            if isinstance(page, ImportPage):
                page.restore.buttons["never"].setChecked(True)  # the question setup asks
            wait(app, page.isComplete)
            if isinstance(page, ConnectionsPage):
                page.items["test:///default"].setCheckState(0, page.items["test:///default"].checkState(0).Checked)
            app.processEvents()
            if type(page) in shots:
                wizard.grab().save(str(out / shots[type(page)]))
                print(f"wrote {out / shots[type(page)]}")
            if isinstance(page, ProgressPage):
                break
            wizard.next()
    return 0


if __name__ == "__main__":
    sys.exit(main())
