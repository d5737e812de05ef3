"""Far hosts (issue 19): listing and an action on a host 50 ms away each way.

    python bench/far_hosts.py [--delay-ms 50]        (root, libvirtd and tini installed)

A real libvirtd (QEMU/TCG) in its own network namespace (scripts/lab.sh start), with the delay
on its link (scripts/lab.sh delay: netem where the kernel has it, else a delay line), reached
over TCP by the app's headless services. Machines are shut-off tiny QEMU domains, defined over
the daemon's Unix socket (not delayed). Prints:
  rtt_ms            one libvirt RPC (getLibVersion) over the delayed link, median
  connect_20_s      connect + first listing of the host with 20 machines (and _200_)
  list_20_s         a listing again (Inventory.load_host), best of 3; list_200_s the same
  round_trips_20    list_20_s / RTT; round_trips_200 the same (target: not more than for 20, +3)
  task_visible_ms   a start through the app's one path (Lifecycle.apply) -> its task announced
  action_done_ms    ... -> the action finished (libvirt answered)
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecp_desktop.testing.far_hosts import define_tiny, measure_rtt, timed_listing  # noqa: E402

LAB = ROOT / "scripts" / "lab.sh"
TINY = (ROOT / "tests" / "lab" / "tiny-tcg.xml").read_text()
NAME, ADDRESS = "fbench", "10.98.0.33"


def lab(command: str, work: Path, *extra: str) -> str:
    env = {**os.environ, "ECP_LAB_DIR": str(work), "ECP_LAB_ADDR": ADDRESS}
    done = subprocess.run([str(LAB), command, NAME, *extra], env=env, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"lab.sh {command} {NAME}: {done.stderr.strip()}")
    return done.stdout.strip()


async def action(services, uri: str) -> tuple[float, float]:
    """(task announced, action done) in seconds after Lifecycle.apply("start") was called."""
    inventory = services.inventory
    host = inventory.add_host(uri)
    assert await inventory.connect_host(host), host.reason
    while len(inventory.machines_of(uri)) < 200:
        await asyncio.sleep(0.01)
    machine = next(m for m in inventory.machines_of(uri) if m.name == "far-000")
    seen: list[float] = []

    def on_added(record) -> None:
        if record.target_uuid == machine.uuid and record.status in ("pending", "running"):
            seen.append(time.perf_counter())
    services.tasks.task_added.connect(on_added)
    t0 = time.perf_counter()
    record = await services.lifecycle.apply("start", machine)
    done = time.perf_counter() - t0
    services.tasks.task_added.disconnect(on_added)
    assert record.status == "succeeded", record.error_message
    assert seen, "no task announced"
    return seen[0] - t0, done


def run(delay_ms: int) -> None:
    from ecp_desktop.services.composition import build_services
    from ecp_desktop.services.hosts.libvirt_loop import start_event_thread
    from ecp_desktop.services.setup.startup import open_inventory
    work = Path(tempfile.mkdtemp(prefix="ecp-fb-"))  # short: Unix socket paths are limited
    try:
        query = lab("start", work)
        kind = lab("delay", work, str(delay_ms))
        uri = f"qemu+tcp://{ADDRESS}/system"
        start_event_thread()
        open_inventory(f"sqlite:///{work / 'bench.sqlite3'}")
        rtt = measure_rtt(uri, rounds=15)

        async def go() -> dict:
            services = build_services()
            figures = {}
            try:
                define_tiny(f"qemu+unix:///system{query}", TINY, 0, 20, salt=0xfb2)
                figures[20] = await timed_listing(services.inventory, uri, 20)
                define_tiny(f"qemu+unix:///system{query}", TINY, 20, 200, salt=0xfb2)
                figures[200] = await timed_listing(services.inventory, uri, 200)
                figures["action"] = await action(services, uri)
            finally:
                services.shutdown()
            return figures

        figures = asyncio.run(go())
    finally:
        try:
            lab("crash-host", work)
        finally:
            lab("net-down", work)  # removes the delay too
            shutil.rmtree(work, ignore_errors=True)
    print(f"delay: {delay_ms} ms each way ({kind})")
    print(f"rtt_ms: {rtt * 1000:.1f}")
    for n in (20, 200):
        print(f"connect_{n}_s: {figures[n][0]:.3f} ({figures[n][0] / rtt:.1f} RTT)")
    for n in (20, 200):
        print(f"list_{n}_s: {figures[n][1]:.3f}")
    for n in (20, 200):
        print(f"round_trips_{n}: {figures[n][1] / rtt:.1f}")
    visible, done = figures["action"]
    print(f"task_visible_ms: {visible * 1000:.1f}")
    print(f"action_done_ms: {done * 1000:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=int, default=50)
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("libvirtd") or not shutil.which("tini"):
        sys.exit("far_hosts.py needs root, libvirtd and tini (the lab: scripts/lab.sh)")
    run(args.delay_ms)


if __name__ == "__main__":
    main()
