"""Import N domains of a generated test-driver host into SQLite: the libvirt floor vs the app.

    python bench/import_domains.py [N] [--wizard-only]   (default 2000; issue target: 10000)

Each part runs in its own process; the floor and setup run three times, alternated, and the
faster of each counts (the open of a 10,000-machine host varies by tenths of a second).
Prints:
  floor_N:  open + list + XMLDesc (+ name, UUID) of every domain in a bare script
  setup_N:  what ``ecp-desktop setup --connect URI --local test:///default`` runs (schema, local
            host, probe, connections, import into a fresh SQLite file) against the floor: the
            ratio and the difference in seconds (target: floor + 1 s), its import step alone
  opens_per_host: libvirt opens per host during that setup, and during the wizard walk
            (libvirt.open/openReadOnly/openAuth wrapped in the process; target 1 each)
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


def count_opens() -> dict[str, int]:
    """Every libvirt open in this process, by URI (the app's one opening function calls these)."""
    opens: dict[str, int] = {}

    def counted(real):
        def wrapper(uri, *args):
            opens[uri] = opens.get(uri, 0) + 1
            return real(uri, *args)
        return wrapper
    for name in ("open", "openReadOnly", "openAuth"):
        setattr(libvirt, name, counted(getattr(libvirt, name)))
    return opens


def opens_text(opens: dict[str, int], uri: str) -> str:
    return ",".join(f"{'N' if u == uri else u}={n}" for u, n in sorted(opens.items())) or "none"


def app_import(uri: str, work: Path) -> str:
    from ecp_desktop.models.db import open_database
    from ecp_desktop.services.setup.steps import SetupOptions, run_setup
    open_database(f"sqlite:///{work / f'import-{time.monotonic_ns()}.sqlite3'}")
    opens = count_opens()
    # What `ecp-desktop setup --connect URI --local test:///default` runs (with the shipped
    # extension), with a probe time limit that a loaded machine's 10,000-machine open fits in.
    options = SetupOptions(connections=[uri], local_uri="test:///default", probe_timeout=120)
    t0 = time.perf_counter()
    report = run_setup(options)
    total = time.perf_counter() - t0
    assert report.ok, report.outcomes
    step = next(o for o in report.outcomes if o.name == "import")
    added = next(i for i in report.imports if i.uri == uri).added
    return f"{opens_text(opens, uri)} {total:.3f} {step.seconds:.3f} {added}"


def wizard_stall(uri: str, work: Path) -> str:
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication
    from ecp_desktop.views.common.qt_process import settle_heap
    from ecp_desktop.views.setup.wizard import ConnectionsPage, ImportPage, ProgressPage, SetupWizard
    app = QApplication(sys.argv)
    opens = count_opens()
    wizard = SetupWizard(database_url=f"sqlite:///{work / 'wizard.sqlite3'}", database_locked=False,
                         typed_connections=[uri], probe_timeout=120)
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
        if isinstance(page, ImportPage):
            page.restore.buttons["never"].setChecked(True)  # the question a first setup asks
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
    wizard.close()  # its connections were closed by the run; closing the wizard closes none twice
    del app
    return f"{opens_text(opens, uri)} {worst[0] / 1000:.3f} {ticks[0]} {time.perf_counter() - t0:.3f}"


PARTS = {"floor": floor, "import": app_import, "stall": wizard_stall}


def run_part(part: str, uri: str, work: Path) -> tuple[str, list[float]]:
    """(the opens counted, if the part counts them; the figures)."""
    # A private config: the wizard saves the restore answer, which must not land in the user's.
    env = {**os.environ, **{v: str(work / v.lower()) for v in ("XDG_CONFIG_HOME", "XDG_STATE_HOME")}}
    out = subprocess.run([sys.executable, __file__, "--part", part, uri, str(work)],
                         capture_output=True, text=True, check=True, env=env).stdout.split()
    if part == "floor":
        return "", [float(x) for x in out[-2:]]
    return out[-4], [float(x) for x in out[-3:]]


def main() -> None:
    if sys.argv[1:2] == ["--part"]:
        print(PARTS[sys.argv[2]](sys.argv[3], Path(sys.argv[4])))
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        uri = write_host(work / "host.xml", n, seed=13)
        if "--wizard-only" in sys.argv:  # bench/stalls.py: the wizard's stall alone
            wizard_opens, (stall_s, ticks, wizard_s) = run_part("stall", uri, work)
            print(f"stall_{n}: longest GUI-thread gap {stall_s * 1000:.0f} ms over {ticks:.0f} ticks "
                  f"(target 50 ms); wizard walk {wizard_s:.2f} s")
            return
        floors, setups = [], []
        for _round in range(3):
            _none, (floor_s, count) = run_part("floor", uri, work)
            assert count == n
            floors.append(floor_s)
            setup_opens, (total_s, step_s, added) = run_part("import", uri, work)
            assert added == n
            setups.append((total_s, step_s))
        wizard_opens, (stall_s, ticks, wizard_s) = run_part("stall", uri, work)
    floor_s = min(floors)
    total_s, step_s = min(setups)
    print(f"floor_{n}: {floor_s:.2f} s (open + list + XMLDesc of every domain, bare libvirt; "
          f"runs {', '.join(f'{f:.2f}' for f in floors)})")
    print(f"setup_{n}: {total_s:.2f} s vs floor_{n} {floor_s:.2f} s: ratio {total_s / floor_s:.2f}, "
          f"difference {total_s - floor_s:+.2f} s (target +1.00 s); import step {step_s:.2f} s "
          f"(runs {', '.join(f'{t:.2f}' for t, _s in setups)})")
    print(f"opens_per_host: setup {setup_opens}; wizard {wizard_opens} (N: the {n}-machine host; target 1 each)")
    print(f"stall_{n}: longest GUI-thread gap {stall_s * 1000:.0f} ms over {ticks:.0f} ticks "
          f"(target 50 ms); wizard walk {wizard_s:.2f} s")


if __name__ == "__main__":
    main()
