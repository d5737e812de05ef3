"""Cost of the Addresses column over a fleet of N running machines on H test-driver hosts.

    python bench/addresses.py [N_PER_HOST] [HOSTS] [IN_VIEW]     (default 1000, 10, 40)

Prints, in one run:
  floor:     libvirt's own interfaceAddresses calls (three sources) for the IN_VIEW machines
             in view, made directly on one connection: the least reading them can cost
  in_view:   the address watch reading the same machines through the app (one call on the
             host's worker, lookups, checking each address), and its ratio to the floor
  idle:      host calls made by the watch over 3 refresh rounds with nothing in view (target 0)
  all_rows:  what reading every machine of the fleet would take (the floor per machine times
             N x HOSTS): why only rows in view are read
"""
from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import libvirt  # noqa: E402

from ecp_desktop.services.composition import build_services  # noqa: E402
from ecp_desktop.services.guests.addresses import SOURCES  # noqa: E402
from ecp_desktop.services.guests.address_watch import AddressWatch  # noqa: E402
from ecp_desktop.testing.hostgen import host_xml  # noqa: E402

ROUNDS = 7


def running_host(folder: Path, n: int, seed: int) -> str:
    xml = host_xml(n, seed=seed, prefix=f"h{seed}-")
    xml = xml.replace(">5</test:runstate>", ">1</test:runstate>").replace(">3</test:runstate>", ">1</test:runstate>")
    path = folder / f"h{seed}.xml"
    path.write_text(xml, encoding="utf-8")
    return f"test://{path}"


def floor(uri: str, uuids: list[str]) -> float:
    conn = libvirt.open(uri)
    try:
        doms = [conn.lookupByUUIDString(u) for u in uuids]
        times = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            for dom in doms:
                for source, _words in SOURCES:
                    dom.interfaceAddresses(source, 0)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)
    finally:
        conn.close()


async def measure(n: int, hosts: int, in_view: int) -> None:
    services = build_services(persist=False)
    inventory = services.inventory
    folder = Path(tempfile.mkdtemp())
    uris = [running_host(folder, n, seed) for seed in range(hosts)]
    for uri in uris:
        host = inventory.add_host(uri)
        assert await inventory.connect_host(host)
        await inventory.load_host(host)
    running = [m for m in inventory.machines_of(uris[0]) if m.state == "running"][:in_view]
    base = floor(uris[0], [m.uuid for m in running])

    now = [0.0]
    watch = AddressWatch(inventory, clock=lambda: now[0])
    viewer = object()
    watch.watch(viewer, {m.key for m in running})
    times = []
    for _ in range(ROUNDS):
        now[0] += watch.refresh
        t0 = time.perf_counter()
        await watch.read_now()
        times.append(time.perf_counter() - t0)
    app = statistics.median(times)
    assert all(watch.addresses(m.key) for m in running)
    watch.watch(viewer, set())
    before = watch.reads
    for _ in range(3):
        now[0] += watch.refresh
        await watch.read_now()
    print(f"floor    {len(running)} machines in view: {base * 1000:.1f} ms (libvirt's calls alone)")
    print(f"in_view  {len(running)} machines: {app * 1000:.1f} ms per refresh, {app / base:.2f}x the floor, "
          f"every {watch.refresh:.0f} s ({app / watch.refresh * 100:.2f} % of a core)")
    print(f"idle     host calls with nothing in view over 3 refreshes: {watch.reads - before} (target 0)")
    fleet = len(inventory.machines)
    print(f"all_rows {fleet} machines: {base / len(running) * fleet:.1f} s per refresh if every row were read")
    inventory.close_all()
    services.executors.shutdown()


def main() -> None:
    args = [int(a) for a in sys.argv[1:4]]
    n, hosts, in_view = (args + [1000, 10, 40][len(args):])[:3]
    asyncio.run(measure(n, hosts, in_view))


if __name__ == "__main__":
    main()
