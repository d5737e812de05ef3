"""Measuring a far host (tests/lab/test_far_hosts.py and bench/far_hosts.py): the round
trip, shut-off tiny machines to list, and the app's listing of them."""
from __future__ import annotations

import asyncio
import statistics
import time
import uuid

import libvirt


def measure_rtt(uri: str, rounds: int = 9) -> float:
    """Median seconds of one libvirt RPC (getLibVersion) over ``uri``: the round trip."""
    conn = libvirt.open(uri)
    try:
        conn.getLibVersion()  # warm
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            conn.getLibVersion()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)
    finally:
        conn.close()


def define_tiny(uri: str, template: str, start: int, stop: int, *, prefix: str = "far-", salt: int = 0xfa2) -> None:
    """Machines start..stop-1 from ``template`` (tests/lab/tiny-tcg.xml: shut off, no disk),
    each with its own name and a UUID made from ``salt`` and its number."""
    conn = libvirt.open(uri)
    try:
        conn.getVersion()  # a fresh daemon's first one probes QEMU (1.6 s): not the link's time
        for number in range(start, stop):
            conn.defineXML(template.replace("<name>tiny1</name>", f"<name>{prefix}{number:03d}</name>").replace(
                "c0ffee00-0000-4000-8000-000000000001", str(uuid.UUID(int=salt << 96 | number))))
    finally:
        conn.close()


async def timed_listing(inventory, uri: str, count: int, relists: int = 3) -> tuple[float, float]:
    """(seconds from connect to every machine listed, best seconds of a listing again) with the
    app's real Inventory; the host is removed again afterwards (kept in the database)."""
    loaded = asyncio.Event()

    def on_loaded(host, _count) -> None:
        if host.uri == uri:
            loaded.set()
    inventory.host_loaded.connect(on_loaded)
    try:
        t0 = time.perf_counter()
        host = inventory.add_host(uri)
        assert await inventory.connect_host(host), host.reason
        await asyncio.wait_for(loaded.wait(), 60)
        first = time.perf_counter() - t0
        assert len(inventory.machines_of(uri)) == count, len(inventory.machines_of(uri))
        again = []
        for _ in range(relists):
            t0 = time.perf_counter()
            await inventory.load_host(host)
            again.append(time.perf_counter() - t0)
        assert len(inventory.machines_of(uri)) == count
        return first, min(again)
    finally:
        inventory.host_loaded.disconnect(on_loaded)
        await inventory.remove_host(uri, forget=False)
