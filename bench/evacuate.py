"""Evacuating a host of N tiny guests, against the same N guests migrated one at a time.

    python bench/evacuate.py [N] [--parallel P]      (root, libvirtd and tini installed; default N=6, P=3)

Two private libvirtd (scripts/lab.sh with ECP_LAB_ADDR: each in its own network namespace,
reached over TCP) and N tiny TCG guests on the first. In the same run:
  1. each guest is migrated alone to the second host through the migration service's one
     path (negotiation + flow), timed, and migrated back (not timed);
  2. the first host is evacuated: EvacuationService.plan + run, P migrations at a time.
Prints:
  single_s        the N single migrations: sum, slowest (the parallel floor) and median
  evacuate_s      the evacuation, plan included
  ratio_sum       evacuate_s / sum of singles     (below 1: the parallel steps pay off)
  ratio_slowest   evacuate_s / slowest single     (how far from the floor)
  loop_gap_ms     the longest gap of the event loop the window runs on (qasync) during the
                  evacuation, ticked every 5 ms (the GUI thread's stall)
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import libvirt  # noqa: E402

from ecp_desktop.services.composition import build_services  # noqa: E402
from ecp_desktop.services.core.errors import install_quiet_error_handler  # noqa: E402
from ecp_desktop.services.core.executors import Executors  # noqa: E402
from ecp_desktop.services.hosts.libvirt_loop import start_event_thread  # noqa: E402
from ecp_desktop.services.maintenance.evacuate import EvacuationService  # noqa: E402
from ecp_desktop.services.setup.startup import open_inventory  # noqa: E402

ADDRESSES = {"evb-a": "10.98.0.51", "evb-b": "10.98.0.52"}
TINY = (ROOT / "tests" / "lab" / "tiny-tcg.xml").read_text()


def lab(work: Path, command: str) -> list[str]:
    uris = []
    for name, address in ADDRESSES.items():
        env = {**os.environ, "ECP_LAB_DIR": str(work / "lab"), "ECP_LAB_ADDR": address}
        for step in (["crash-host", "net-down"] if command == "down" else ["start"]):
            out = subprocess.run([str(ROOT / "scripts" / "lab.sh"), step, name], env=env, capture_output=True,
                                 text=True, timeout=60)
            if out.returncode != 0 and command != "down":
                raise SystemExit(f"lab did not start: {out.stderr.strip()}")
        uris.append(f"qemu+tcp://{address}/system")
    return uris


def guests(uri: str, n: int) -> None:
    conn = libvirt.open(uri)
    try:
        for i in range(n):
            xml = (TINY.replace("tiny1", f"evb-{i:02d}")
                   .replace("c0ffee00-0000-4000-8000-000000000001", f"c0ffee00-0000-4000-8000-0000000e{i:04d}"))
            conn.defineXML(xml).create()
    finally:
        conn.close()


async def migrate(services, source: str, uuid: str, dest: str) -> float:
    started = time.perf_counter()
    negotiation = await services.migrations.negotiate(source, uuid, dest)
    assert negotiation.decision.allowed, negotiation.decision.reason()
    root = await services.migrations.run(negotiation)
    assert root.status == "succeeded", root.outcome
    return time.perf_counter() - started


async def measure(uris: list[str], parallel: int) -> dict:
    services = build_services(Executors(), keepalive=True, events=False, reconnect=False, auto_load=False)
    a, b = uris
    for uri in uris:
        host = services.inventory.add_host(uri)
        assert await services.inventory.connect_host(host), host.reason
        await services.inventory.load_host(host)
    try:
        machines = sorted(services.inventory.machines_of(a), key=lambda m: m.name)
        singles = []
        for m in machines:
            singles.append(await migrate(services, a, m.uuid, b))
            await migrate(services, b, m.uuid, a)
        for uri in uris:
            await services.inventory.load_host(services.inventory.hosts[uri])
        worst, ticking = [0.0], [True]

        async def ticker() -> None:
            loop = asyncio.get_running_loop()
            last = loop.time()
            while ticking[0]:
                await asyncio.sleep(0.005)
                now = loop.time()
                worst[0] = max(worst[0], now - last)
                last = now
        tick = asyncio.ensure_future(ticker())
        evacuation = EvacuationService(services.migrations)
        started = time.perf_counter()
        plan = await evacuation.plan(a, [b])
        assert plan.possible, [m.reason for m in plan.refused]
        outcome = await evacuation.run(plan, parallel=parallel)
        evacuate_s = time.perf_counter() - started
        ticking[0] = False
        await tick
        assert outcome.done, outcome.task.outcome if outcome.task else "no task"
        return {"singles": singles, "evacuate_s": evacuate_s, "gap_ms": 1000 * worst[0], "moved": len(outcome.machines)}
    finally:
        for host in list(services.inventory.hosts.values()):
            await host.close()  # while the daemons still answer (see bench/migration.py)
        services.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=6)
    parser.add_argument("--parallel", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("libvirtd") or not shutil.which("tini"):
        print("bench/evacuate.py needs root, libvirtd and tini (./test.sh installs them)", file=sys.stderr)
        return 2
    install_quiet_error_handler()
    start_event_thread()
    with tempfile.TemporaryDirectory(prefix="ecp-evb-") as work:
        open_inventory(f"sqlite:///{work}/inventory.sqlite3")
        uris = lab(Path(work), "up")
        try:
            guests(uris[0], args.n)
            figures = asyncio.run(measure(uris, args.parallel))
        finally:
            lab(Path(work), "down")
    singles, evacuate_s = figures["singles"], figures["evacuate_s"]
    total, slowest = sum(singles), max(singles)
    print(f"evacuate bench: {args.n} tiny TCG guests, two libvirtd over TCP, {args.parallel} at a time")
    print(f"single_s: sum {total:.2f}, slowest {slowest:.2f}, median {statistics.median(singles):.2f} "
          f"(each: negotiation + migration flow)")
    print(f"evacuate_s: {evacuate_s:.2f} ({figures['moved']} machines, plan included)")
    print(f"ratio_sum: {evacuate_s / total:.2f} (evacuation / sum of single migrations)")
    print(f"ratio_slowest: {evacuate_s / slowest:.2f} (evacuation / slowest single migration: the parallel floor)")
    print(f"loop_gap_ms: {figures['gap_ms']:.0f} (longest gap of the window's event loop during the evacuation)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
