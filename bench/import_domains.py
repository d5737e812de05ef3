"""Import N domains of a generated test-driver host into SQLite: the libvirt floor vs the app.

    python bench/import_domains.py [N]        (default 2000; issue target: 10000)

Each part runs in its own process. Prints:
  floor_N:  open + list + XMLDesc (+ name, UUID) of every domain in a bare script
  import_N: the app's setup run (schema, local host, connections, import into a fresh
            SQLite file), its import step alone, and the margin over the floor (target +2 s)
  stall_N:  the setup wizard walked to the end offscreen (preview of N machines, then the
            import); the longest gap between two ticks of a 5 ms GUI timer (target 50 ms)
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import libvirt  # noqa: E402

from ecp_desktop.testing.hostgen import write_host  # noqa: E402


def floor(uri: str, _work: Path) -> str:
    t0 = time.perf_counter()
    conn = libvirt.openReadOnly(uri)
    doms = conn.listAllDomains()
    for dom in doms:
        dom.UUIDString()
        dom.name()
        dom.XMLDesc(0)
    conn.close()
    return f"{time.perf_counter() - t0:.3f} {len(doms)}"


def app_import(uri: str, work: Path) -> str:
    from ecp_desktop.models.db import open_database
    from ecp_desktop.services.setup.steps import SetupOptions, run_setup
    open_database(f"sqlite:///{work / 'import.sqlite3'}")
    t0 = time.perf_counter()
    report = run_setup(SetupOptions(chosen=[uri], local_uri="test:///default"))  # with the shipped extension
    total = time.perf_counter() - t0
    assert report.ok, report.outcomes
    step = next(o for o in report.outcomes if o.name == "import")
    return f"{total:.3f} {step.seconds:.3f} {report.imports[0].added}"


def wizard_stall(uri: str, work: Path) -> str:
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication
    from ecp_desktop.views.qt_process import settle_heap
    from ecp_desktop.views.setup.wizard import ConnectionsPage, ProgressPage, SetupWizard
    app = QApplication(sys.argv)
    wizard = SetupWizard(database_url=f"sqlite:///{work / 'wizard.sqlite3'}", database_locked=False,
                         typed_connections=[uri], probe_timeout=5)
    wizard.show()
    settle_heap()  # as run_gui does once the first window is up
    clock, worst, ticks = QElapsedTimer(), [0], [0]
    clock.start()

    def tick() -> None:
        worst[0] = max(worst[0], clock.restart())
        ticks[0] += 1
    ticker = QTimer()
    ticker.timeout.connect(tick)

    def until(condition) -> None:
        loop = QEventLoop()
        poll = QTimer()
        poll.timeout.connect(lambda: loop.quit() if condition() else None)
        poll.start(5)
        loop.exec()

    t0 = time.perf_counter()
    while True:
        page = wizard.currentPage()
        until(page.isComplete)
        if isinstance(page, ConnectionsPage):
            clock.restart()
            ticker.start(5)  # measured from the preview (N rows) to the end of the import
        if isinstance(page, ProgressPage):
            break
        wizard.next()
    ticker.stop()
    report = wizard.progress_page.report
    assert report is not None and report.ok
    del app
    return f"{worst[0] / 1000:.3f} {ticks[0]} {time.perf_counter() - t0:.3f}"


PARTS = {"floor": floor, "import": app_import, "stall": wizard_stall}


def run_part(part: str, uri: str, work: Path) -> list[float]:
    out = subprocess.run([sys.executable, __file__, "--part", part, uri, str(work)],
                         capture_output=True, text=True, check=True).stdout.split()
    return [float(x) for x in out[-3:]] if part != "floor" else [float(x) for x in out[-2:]]


def main() -> None:
    if sys.argv[1:2] == ["--part"]:
        print(PARTS[sys.argv[2]](sys.argv[3], Path(sys.argv[4])))
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        uri = write_host(work / "host.xml", n, seed=13)
        floor_s, count = run_part("floor", uri, work)
        assert count == n
        total_s, step_s, added = run_part("import", uri, work)
        assert added == n
        stall_s, ticks, wizard_s = run_part("stall", uri, work)
    print(f"floor_{n}: {floor_s:.2f} s (open + list + XMLDesc of every domain, bare libvirt)")
    print(f"import_{n}: setup {total_s:.2f} s, import step {step_s:.2f} s, floor {floor_s:.2f} s, "
          f"margin {total_s - floor_s:+.2f} s (target +2.00 s), ratio {total_s / floor_s:.2f}")
    print(f"stall_{n}: longest GUI-thread gap {stall_s * 1000:.0f} ms over {ticks:.0f} ticks "
          f"(target 50 ms); wizard walk {wizard_s:.2f} s")


if __name__ == "__main__":
    main()
