"""The shared-inventory figures on both backends, side by side (issue 7).

    python bench/shared_inventory.py [MACHINES] [TASKS] [PROCESSES]     (default 10000 1000 4)

For SQLite (a file) and PostgreSQL (a private server started with scripts/pg-test-server.sh
for the run, as the tests do), in one run:
  write_N:  a host listing of N machines written to the inventory (the app's upsert)
  read_N:   every machine row read back (what `ecp-desktop machines` reads)
  claim_T:  T orphaned tasks (their instance is gone) taken over by P processes racing for
            them through the recovery path (one conditional UPDATE per tree; on PostgreSQL
            the root row locked with SKIP LOCKED): time until all are taken, how many each
            process got, and that none was taken twice
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid as uuidlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecp_desktop.models import schema  # noqa: E402
from ecp_desktop.models.db import database  # noqa: E402
from ecp_desktop.services.inventory import store as inventory_store  # noqa: E402
from ecp_desktop.services.tasks import store as task_store  # noqa: E402
from ecp_desktop.services.inventory.machines import MachineInfo  # noqa: E402
from ecp_desktop.services.setup.startup import open_inventory  # noqa: E402

DEAD = "gone-host:1:1"


def claimer(url: str) -> None:
    """One racing process: take every orphan it can, print how many it took (JSON)."""
    open_inventory(url)
    rows = task_store.unfinished_trees({"running"})
    trees = [([row["id"]], DEAD, None) for row in rows if row["parent_id"] is None and row["owner"] == DEAD]
    taken = task_store.claim_each(trees, f"bench:{os.getpid()}:{time.monotonic_ns()}")  # {root id: its rows}
    print(json.dumps(sorted(taken)))


def measure(url: str, machines: int, tasks: int, processes: int) -> dict:
    open_inventory(url)
    listing = [MachineInfo("test:///bench", str(uuidlib.uuid4()), f"vm-{n:05}", "running", 1, 65536)
               for n in range(machines)]
    host_id = inventory_store.ensure_host("test:///bench", "bench", True)
    started = time.perf_counter()
    inventory_store.replace_host_machines(host_id, listing)
    write = time.perf_counter() - started
    started = time.perf_counter()
    with database.connection_context():
        rows = list(schema.Machine.select().dicts())
    read = time.perf_counter() - started
    assert len(rows) == machines
    with database.connection_context(), database.atomic():
        schema.Task.insert_many([{"kind": "start", "title": f"Start vm-{n:05}", "status": "running",
                                  "owner": DEAD} for n in range(tasks)]).execute()
    database.close()
    started = time.perf_counter()
    racers = [subprocess.Popen([sys.executable, __file__, "--claimer", url], stdout=subprocess.PIPE, text=True)
              for _ in range(processes)]
    per_process = [json.loads(r.communicate(timeout=600)[0]) for r in racers]
    claim = time.perf_counter() - started
    taken = [i for got in per_process for i in got]
    assert len(taken) == len(set(taken)) == tasks, "a task was taken twice, or not at all"
    return {"write": write, "read": read, "claim": claim, "per_process": [len(p) for p in per_process]}


def postgres() -> tuple[str, callable] | None:
    if not list(Path("/usr/lib/postgresql").glob("*/bin/postgres")):
        return None
    pgdir = tempfile.mkdtemp(prefix="ecp-bench-pg.")  # in /tmp itself: the server's user must reach it
    out = subprocess.run([str(ROOT / "scripts/pg-test-server.sh"), "start", pgdir], capture_output=True,
                         text=True, timeout=120)
    if out.returncode != 0:
        print(f"no PostgreSQL server ({out.stderr.strip()})", file=sys.stderr)
        return None
    url = out.stdout.strip().splitlines()[-1]
    def stop() -> None:
        subprocess.run([str(ROOT / "scripts/pg-test-server.sh"), "stop", pgdir], capture_output=True, timeout=120)
        shutil.rmtree(pgdir, ignore_errors=True)
    return url, stop


def main() -> int:
    if sys.argv[1:2] == ["--claimer"]:
        claimer(sys.argv[2])
        return 0
    machines, tasks, processes = (int(a) for a in (sys.argv[1:] + ["10000", "1000", "4"][len(sys.argv) - 1:])[:3])
    results = {}
    with tempfile.TemporaryDirectory(prefix="ecp-bench-") as work:
        results["sqlite"] = measure(f"sqlite:///{work}/inventory.sqlite3", machines, tasks, processes)
        server = postgres()
        if server:
            url, stop = server
            try:
                results["postgresql"] = measure(url, machines, tasks, processes)
            finally:
                stop()
    names = list(results)
    print(f"shared inventory bench: {machines} machines, {tasks} orphaned tasks, {processes} processes")
    print(f"{'figure':<34}" + "".join(f"{n:>14}" for n in names))
    for key, label in (("write", f"write_{machines} (s)"), ("read", f"read_{machines} (s)"),
                       ("claim", f"claim_{tasks} by {processes} processes (s)")):
        print(f"{label:<34}" + "".join(f"{results[n][key]:>14.2f}" for n in names))
    print(f"{'claims per process':<34}" + "".join(f"{str(results[n]['per_process']):>14}" for n in names))
    print("each task taken exactly once on " + " and ".join(names))
    if "postgresql" not in results:
        print("postgresql: no server here (Debian's postgresql package; ./test.sh installs it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
