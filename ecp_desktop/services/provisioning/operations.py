"""The steps only a new machine's flow adds to the task engine, each with its opposite.

Both make a volume, so both are undone the same way as ``clone_volume``: the volume is deleted
when this step made it (``prepare`` notes whether it existed before) and no machine uses it.
Registered with ``OPERATIONS`` by the composition root, like the migration's steps, so recovery after a
crash can undo them (``build_services`` registers them before recovery runs). The new machine's
empty disk or copy-on-write overlay is made by ``create_volume``, which is not here: it is in
``services/tasks/operations.py``, the one step New Machine and Edit Hardware both use.

- ``upload_volume``: a local file into a new volume, with progress (a libvirt stream), and
  stopped when the flow is cancelled; params: pool, name, local_path, size, format.
- ``make_seed_volume``: the NoCloud seed ISO built from its files and uploaded; params: pool,
  name, files (their names), contents (a reference to the files held in memory: see below).
"""
from __future__ import annotations

import asyncio
import os

from ..core.errors import Refusal
from ..images.streams import Progress, file_chunks, open_regular, send
from ..libvirt_xml.storage import volume_xml
from ..tasks.operations import AsyncOperation, CloneVolume
from .seed_iso import build_iso

# A seed's files can hold a password hash or the user's own secrets (extra user-data), so
# they never go into a step's parameters (the task history, which other operators read):
# the flow's runner holds them here, by a random reference, while the flow runs. A step of a
# flow planned by another process (or before a restart) finds nothing and refuses; its undo
# needs only the volume's name.
_HELD_SEEDS: dict[str, dict[str, str]] = {}


def hold_seed(reference: str, files: dict[str, str]) -> None:
    _HELD_SEEDS[reference] = files


def release_seed(reference: str) -> None:
    _HELD_SEEDS.pop(reference, None)


class UploadVolume(CloneVolume, AsyncOperation):
    def execute(self, conn, params):
        return self.upload(conn, params)

    def upload(self, conn, params, progress: Progress | None = None, stopped=lambda: False) -> str:
        path, size = params["local_path"], int(params["size"])
        with open_regular(path) as handle:
            if os.fstat(handle.fileno()).st_size != size:
                raise Refusal(f"{path} changed since the plan was made ({size} bytes then); plan again")
            pool = conn.storagePoolLookupByName(params["pool"])
            volume = pool.createXML(volume_xml(params["name"], size, params.get("format", "raw")), 0)
            try:
                send(conn, volume, file_chunks(handle, size), size, progress, stopped)
            except Exception:
                volume.delete(0)  # made here, half-written: the step failed as a whole (its undo never runs)
                raise
        return f"uploaded {os.path.basename(path)} to {volume.path()} ({size / 2**20:.1f} MiB)"

    async def run(self, context) -> str:
        record = context.record
        loop = asyncio.get_running_loop()
        host = context.host(record.host_uri)

        def progress(sent: int, size: int) -> None:  # in the worker: the report is made on the loop
            words = f"{sent / 2**20:.0f} of {size / 2**20:.0f} MiB"
            loop.call_soon_threadsafe(context.report, int(100 * sent / size) if size else 100, words)

        def work(conn):
            context.guard()
            return self.upload(conn, record.params, progress, context.stop.is_set)
        await context.still_ours()
        return await host.call(work, operation="upload a volume", machine=record.target_name)

    def undo_title(self, params):
        return f"Delete uploaded volume {params['name']}"


class MakeSeedVolume(CloneVolume):
    def execute(self, conn, params):
        files = _HELD_SEEDS.get(params.get("contents", ""))
        if files is None:
            raise Refusal("the seed's files were only in the memory of the process that planned this flow "
                          "(they are never written to the task history); plan the machine again")
        data = build_iso(files)
        pool = conn.storagePoolLookupByName(params["pool"])
        volume = pool.createXML(volume_xml(params["name"], len(data), "raw"), 0)
        try:
            send(conn, volume, [data], len(data))
        except Exception:
            volume.delete(0)  # made here and empty: the step failed as a whole (its undo never runs)
            raise
        return f"seed ISO {volume.path()} ({', '.join(params['files'])})"

    def undo_title(self, params):
        return f"Delete seed ISO {params['name']}"


STEPS = (UploadVolume("upload_volume"), MakeSeedVolume("make_seed_volume"))
