"""Configuration history of MACHINES machines x VERSIONS versions in SQLite: the app's
history service against a plain table of the same definitions, same run.

    python bench/history.py [MACHINES] [VERSIONS] [--limit MS]
        full (issue 35): 10000 20          CI: 500 5 --limit 150

A test-driver host of MACHINES generated machines is imported (version 1 of each, recorded by
the import's batch), then each further version changes every machine's memory (even versions)
or its disk vda's image (odd versions), recorded round by round: the even rounds through the
batch a listing uses (``record_found_many``: changes found outside the app), the odd rounds
SINGLES_PER_ROUND machines one at a time as a flow records (``record``, by this app with a
task) and the rest in the batch (every version one at a time would take an hour at full size).
The floor is a bare SQLite table (machine, number, xml) holding the same definitions as plain
text, written by the stdlib ``sqlite3`` module with the app's pragmas and the same transactions,
and read by it. Prints:
  size_M_V:    the database file; the history's tables in bytes per version, against the plain
               table's bytes per version (ratio: under 1 means smaller than plain XML), and
               how much of it is compressed texts and how much version rows and indexes
  record_M_V:  seconds per version recorded, batch and single, against the floor's insert
  list_M_V:    one machine's versions listed (``versions``), against the floor's select
  diff_M_V:    version 1 against version VERSIONS (``diff``), against difflib on the plain XML
  stall_V:     the History tab (the real widget, offscreen) opened on a machine with VERSIONS
               versions and its newest version's diff shown: the longest gap between two
               ticks of a 5 ms GUI timer; exits 1 when it is over --limit ms (default 150)
"""
from __future__ import annotations

import difflib
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import libvirt  # noqa: E402

from ecp_desktop.models.db import SQLITE_PRAGMAS  # noqa: E402
from ecp_desktop.testing.hostgen import write_host  # noqa: E402

HISTORY_TABLES = ("definition_text", "definition_version")
REPEATS = 20  # listing and diff: the median of this many calls
SINGLES_PER_ROUND = 200  # machines recorded one at a time in each odd round (the rest: its batch)


def version_of(base: str, number: int) -> str:
    """The machine's definition at ``number``: memory grown by 256 MiB per even version, the
    disk vda's image renamed per odd one (version 1: ``base`` itself)."""
    memory_kib = int(re.search(r"<memory unit='KiB'>(\d+)</memory>", base).group(1)) + 262144 * (number // 2)
    xml = re.sub(r"(<(?:memory|currentMemory) unit='KiB'>)\d+", rf"\g<1>{memory_kib}", base)
    disk_version = number if number % 2 else number - 1
    if disk_version > 1:
        xml = xml.replace(".qcow2'", f"-v{disk_version}.qcow2'", 1)
    return xml


def table_bytes(path: Path, tables: tuple[str, ...]) -> int:
    """The pages of ``tables`` and their indexes in the SQLite file (its dbstat table)."""
    with sqlite3.connect(path) as conn:
        names = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_schema WHERE tbl_name IN (%s)" % ",".join("?" * len(tables)), tables)]
        return conn.execute("SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN (%s)"
                            % ",".join("?" * len(names)), names).fetchone()[0]


def median_seconds(fn, *args) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def rounds(bases: dict[str, str], versions: int):
    """Each round after the import: (version number, the definitions recorded one at a time as
    a flow records them, the ones recorded in a listing's batch)."""
    for number in range(2, versions + 1):
        found = [(uuid, version_of(base, number)) for uuid, base in bases.items()]
        singles = SINGLES_PER_ROUND if number % 2 else 0
        yield number, found[:singles], found[singles:]


def floor(bases: dict[str, str], versions: int, path: Path) -> dict[str, float]:
    """The same definitions in a plain table, with the app's SQLite pragmas and the same
    transactions (one per batch, one per single version): seconds per version, size, select, diff."""
    conn = sqlite3.connect(path, isolation_level=None)
    for name, value in SQLITE_PRAGMAS.items():
        conn.execute(f"PRAGMA {name} = {value}")
    conn.execute("CREATE TABLE plain (machine INTEGER, number INTEGER, xml TEXT, PRIMARY KEY (machine, number))")
    index = {uuid: i for i, uuid in enumerate(bases)}
    insert = "INSERT INTO plain VALUES (?, ?, ?)"
    batch_s = single_s = 0.0
    batch_n = single_n = 0
    conn.execute("BEGIN")
    conn.executemany(insert, [(index[uuid], 1, base) for uuid, base in bases.items()])
    conn.execute("COMMIT")
    for number, singles, batch in rounds(bases, versions):
        t0 = time.perf_counter()
        for uuid, xml in singles:
            conn.execute("BEGIN")
            conn.execute(insert, (index[uuid], number, xml))
            conn.execute("COMMIT")
        t1 = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany(insert, [(index[uuid], number, xml) for uuid, xml in batch])
        conn.execute("COMMIT")
        single_s, single_n = single_s + t1 - t0, single_n + len(singles)
        batch_s, batch_n = batch_s + time.perf_counter() - t1, batch_n + len(batch)

    def listing() -> list:
        return conn.execute("SELECT number, xml FROM plain WHERE machine = 0 ORDER BY number DESC").fetchall()

    def plain_diff() -> str:
        old, new = (conn.execute("SELECT xml FROM plain WHERE machine = 0 AND number = ?", (n,)).fetchone()[0]
                    for n in (1, versions))
        return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True)))
    figures = {"batch": batch_s / batch_n, "single": single_s / single_n, "list": median_seconds(listing),
               "diff": median_seconds(plain_diff)}
    conn.close()
    figures["bytes"] = table_bytes(path, ("plain",)) / (versions * len(bases))
    return figures


def app(uri: str, versions: int, path: Path) -> tuple[dict[str, float], str, dict[str, str]]:
    """The app's history: (figures, one machine's UUID, every machine's version-1 definition)."""
    from ecp_desktop.models.db import database
    from ecp_desktop.services.history import versions as history
    from ecp_desktop.services.inventory import store
    from ecp_desktop.services.inventory.importer import import_host
    from ecp_desktop.services.setup.startup import open_inventory
    handle = open_inventory(f"sqlite:///{path}")
    host_id = store.ensure_host(uri, "bench", False)
    conn = libvirt.open(uri)
    t0 = time.perf_counter()
    imported = import_host(conn, host_id, uri)
    import_s = time.perf_counter() - t0
    assert not imported.error and imported.added == len(conn.listAllDomains()), imported
    bases = {dom.UUIDString(): dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) for dom in conn.listAllDomains()}
    conn.close()
    batch_s = single_s = 0.0
    batch_n = single_n = 0
    with database.connection_context():  # held, as the app's database thread holds its connection
        for number, singles, batch in rounds(bases, versions):
            t0 = time.perf_counter()
            for uuid, xml in singles:
                assert history.record(uri, uuid, xml, history.APP, task_id=number, by="bench@host:1:1",
                                      keep=versions) is not None
            t1 = time.perf_counter()
            assert history.record_found_many(uri, batch, keep=versions) == len(batch)
            single_s, single_n = single_s + t1 - t0, single_n + len(singles)
            batch_s, batch_n = batch_s + time.perf_counter() - t1, batch_n + len(batch)
    uuid = next(iter(bases))
    listed = history.versions(uri, uuid)
    assert len(listed) == versions, len(listed)
    figures = {"import": import_s / len(bases), "batch": batch_s / batch_n,
               "single": single_s / single_n, "list": median_seconds(history.versions, uri, uuid),
               "diff": median_seconds(history.diff, listed[-1].id, listed[0].id)}
    handle.close()
    figures["file"] = path.stat().st_size
    figures["bytes"] = table_bytes(path, HISTORY_TABLES) / (versions * len(bases))
    figures["text_bytes"] = table_bytes(path, HISTORY_TABLES[:1]) / (versions * len(bases))
    return figures, uuid, bases


def tab_stall(db_path: str, uri: str, uuid: str) -> str:
    """The History tab opened on the machine: (longest gap in seconds, ticks, rows shown)."""
    import asyncio
    import qasync
    from PySide6.QtCore import QElapsedTimer, QTimer
    from ecp_desktop.services.composition import build_services
    from ecp_desktop.services.hosts.libvirt_loop import register_event_impl
    from ecp_desktop.services.inventory.machines import MachineInfo
    from ecp_desktop.services.setup.startup import open_inventory
    from ecp_desktop.views.common.qt_process import make_qt_app
    from ecp_desktop.views.machines.history_tab import HistoryTab
    register_event_impl()
    qt_app = make_qt_app(sys.argv)
    open_inventory(f"sqlite:///{db_path}")
    loop = qasync.QEventLoop(qt_app)
    asyncio.set_event_loop(loop)

    async def go() -> str:
        services = build_services()
        tab = HistoryTab(services.inventory)
        tab.resize(1200, 800)
        tab.show()
        await asyncio.sleep(0.2)  # the window mapped and painted before the meter starts
        clock, worst, ticks = QElapsedTimer(), [0], [0]

        def tick() -> None:
            worst[0] = max(worst[0], clock.restart())
            ticks[0] += 1
        ticker = QTimer()
        ticker.timeout.connect(tick)
        clock.start()
        ticker.start(5)
        done = asyncio.Event()
        tab.loaded.connect(done.set)
        tab.show_machine(MachineInfo(uri, uuid, "bench", "shutoff", live=False))
        await asyncio.wait_for(done.wait(), 60)
        done.clear()
        tab.diff_shown.connect(done.set)
        tab.table.selectRow(0)
        await asyncio.wait_for(done.wait(), 60)
        tab.repaint()
        await asyncio.sleep(0.05)
        ticker.stop()
        rows = tab.table.rowCount()
        tab.close()
        services.shutdown()
        return f"{worst[0] / 1000:.3f} {ticks[0]} {rows}"

    with loop:
        return loop.run_until_complete(go())


def main() -> None:
    if sys.argv[1:2] == ["--part"]:
        print(tab_stall(*sys.argv[2:5]))
        return
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    limit_ms = float(sys.argv[sys.argv.index("--limit") + 1]) if "--limit" in sys.argv else 150.0
    if "--limit" in sys.argv:
        args.remove(sys.argv[sys.argv.index("--limit") + 1])
    machines = int(args[0]) if args else 10000
    versions = int(args[1]) if len(args) > 1 else 20
    if machines < 1 or versions < 3:
        raise SystemExit("history.py: MACHINES must be at least 1 and VERSIONS at least 3")
    mv = f"{machines}_{versions}"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        uri = write_host(work / "host.xml", machines, seed=35)
        mine, uuid, bases = app(uri, versions, work / "history.sqlite3")
        plain = floor(bases, versions, work / "plain.sqlite3")
        # A process of its own: Qt's dispatcher and the libvirt event loop as the GUI has them.
        out = subprocess.run([sys.executable, __file__, "--part", str(work / "history.sqlite3"), uri, uuid],
                             capture_output=True, text=True, check=True).stdout.split()
    stall_s, ticks, rows = float(out[-3]), int(out[-2]), int(out[-1])
    print(f"size_{mv}: database file {mine['file'] / 2**20:.1f} MiB; history {mine['bytes']:.0f} bytes "
          f"per version, plain XML floor {plain['bytes']:.0f} bytes per version, "
          f"ratio {mine['bytes'] / plain['bytes']:.2f} of floor (compressed texts {mine['text_bytes']:.0f}, "
          f"version rows and indexes {mine['bytes'] - mine['text_bytes']:.0f})")
    print(f"record_{mv}: batch {mine['batch'] * 1e3:.3f} ms per version, floor {plain['batch'] * 1e3:.3f} ms, "
          f"ratio {mine['batch'] / plain['batch']:.0f} of floor; single {mine['single'] * 1e3:.2f} ms per version, "
          f"floor {plain['single'] * 1e3:.2f} ms, ratio {mine['single'] / plain['single']:.1f} of floor; "
          f"import with version 1 {mine['import'] * 1e3:.3f} ms per machine")
    print(f"list_{mv}: {mine['list'] * 1e3:.2f} ms for one machine's {versions} versions, floor "
          f"{plain['list'] * 1e3:.2f} ms, ratio {mine['list'] / plain['list']:.1f} of floor")
    print(f"diff_{mv}: {mine['diff'] * 1e3:.2f} ms version 1 against {versions}, floor {plain['diff'] * 1e3:.2f} ms "
          f"(difflib on plain XML), ratio {mine['diff'] / plain['diff']:.1f} of floor")
    print(f"stall_{versions}: History tab, {rows} versions listed and a diff shown: longest GUI-thread gap "
          f"{stall_s * 1000:.0f} ms over {ticks} ticks (limit {limit_ms:.0f} ms)")
    if rows != versions:
        raise SystemExit(f"history.py: the History tab listed {rows} versions, not {versions}")
    if stall_s * 1000 > limit_ms:
        raise SystemExit(f"history.py: the History tab stalled {stall_s * 1000:.0f} ms (limit {limit_ms:.0f} ms)")


if __name__ == "__main__":
    main()
