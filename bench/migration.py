"""Negotiation time per migration, against the migration's own time, on the two-host lab.

    python bench/migration.py [N]        (default 20 round trips; CI runs a quick N)

As root, two private libvirtd (scripts/lab.sh with ECP_LAB_ADDR: each in its own network
namespace, reached over TCP) and the tiny TCG guest; the guest is migrated N times there
and back (live peer-to-peer), each time after a full negotiation of both hosts (every
check: capabilities, CPU comparison, lookups, pools, free memory, the job). Without root,
only the negotiation is measured, on two test-driver hosts (which refuse).
Prints:
  negotiation_ms: median, p95 and max per negotiation (target: at most 50 ms)
  migration_ms:   median per migration (the libvirt migration step itself)
  ratio:          negotiation / migration (what checking first costs)
"""
from __future__ import annotations

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
from ecp_desktop.services.setup.startup import open_inventory  # noqa: E402

ADDRESSES = {"bench-a": "10.98.0.1", "bench-b": "10.98.0.2"}


def lab(work: Path, command: str) -> list[str] | None:
    if os.geteuid() != 0 or not shutil.which("libvirtd") or not shutil.which("tini"):
        return None
    uris = []
    for name, address in ADDRESSES.items():
        env = {**os.environ, "ECP_LAB_DIR": str(work / "lab"), "ECP_LAB_ADDR": address}
        steps = ["crash-host", "net-down"] if command == "down" else ["start"]
        for step in steps:
            out = subprocess.run([str(ROOT / "scripts" / "lab.sh"), step, name], env=env, capture_output=True,
                                 text=True, timeout=60)
            if out.returncode != 0 and command != "down":
                print(f"lab did not start ({out.stderr.strip()}); measuring the test driver", file=sys.stderr)
                return None
        uris.append(f"qemu+tcp://{address}/system")
    return uris


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


async def measure(uris: list[str], machine: str, rounds: int) -> tuple[list[float], list[float]]:
    services = build_services(Executors(), keepalive=True, events=False, reconnect=False, auto_load=False)
    for uri in uris:
        host = services.inventory.add_host(uri)
        assert await services.inventory.connect_host(host), host.reason
        await services.inventory.load_host(host)
    negotiations, migrations = [], []
    here, there = uris
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            negotiation = await services.migrations.negotiate(here, machine, there)
            negotiations.append(1000 * (time.perf_counter() - started))
            if not negotiation.decision.allowed:
                continue
            started = time.perf_counter()
            root = await services.migrations.run(negotiation)
            migrations.append(1000 * (time.perf_counter() - started))
            assert root.status == "succeeded", root.outcome
            here, there = there, here
    finally:
        # Closed here, awaited, while the daemons still answer: a connection left to the
        # interpreter's exit would send its close to a host whose network namespace is gone
        # by then, and wait for TCP to give up (minutes).
        for host in list(services.inventory.hosts.values()):
            await host.close()
        services.shutdown()
    return negotiations, migrations


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    install_quiet_error_handler()
    start_event_thread()
    with tempfile.TemporaryDirectory(prefix="ecp-bench-") as work:
        open_inventory(f"sqlite:///{work}/inventory.sqlite3")
        uris = lab(Path(work), "up")
        try:
            if uris:
                admin = libvirt.open(uris[0])
                admin.defineXML((ROOT / "tests/lab/tiny-tcg.xml").read_text()).create()
                admin.close()
                machine, where = "tiny1", "lab: two libvirtd with QEMU (TCG) over TCP"
            else:
                uris = ["test:///default", f"test://{ROOT / 'tests/data/template.xml'}"]
                machine, where = "test", "test driver (no migration: negotiation only)"
            negotiations, migrations = asyncio.run(measure(uris, machine, rounds * 2 if migrations_possible(uris)
                                                           else rounds))
        finally:
            if uris and uris[0].startswith("qemu"):
                lab(Path(work), "down")
    print(f"migration bench on {where}")
    print(f"negotiations: {len(negotiations)}, migrations: {len(migrations)}")
    print(f"negotiation_ms: median {statistics.median(negotiations):.1f}, p95 {percentile(negotiations, 0.95):.1f}, "
          f"max {max(negotiations):.1f} (target <= 50)")
    if migrations:
        median = statistics.median(migrations)
        print(f"migration_ms: median {median:.0f}, max {max(migrations):.0f}")
        print(f"ratio: negotiation / migration = {statistics.median(negotiations) / median:.3f}")
    return 0


def migrations_possible(uris: list[str]) -> bool:
    return uris[0].startswith("qemu")


if __name__ == "__main__":
    sys.exit(main())
