"""New machines over the inventory's hosts: read what a host offers, plan, run the flow.

The same three calls serve the wizard and ``ecp-desktop create``: :meth:`offer` (pools,
networks, names taken, firmware), :meth:`plan` (the definition to review and the steps, or
``PlanError`` in words) and :meth:`run` (the flow on the task engine: shown in the tasks
pane, undone by its rollback when a step fails). Libvirt is only called in the host's worker;
libosinfo's files, ``osinfo-detect``, ``openssl`` and the plan itself (it reads a local file
to upload) run in the app's own workers, the host's maintenance mark on the database thread:
the event loop never waits on a file, a process or the database.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess

from ..core.errors import HypervisorError
from ..hosts.connection import connected_host
from ..core.names import name_problem
from ..tasks.engine import TaskEngine
from ..tasks.records import TaskRecord
from . import operations
from . import osinfo
from .host_mark import maintenance_refusal
from .host_offer import HostOffer, read_offer
from ..images.image_file import flatten_folder
from .plan import Plan, PlanError, make_plan
from .seed_iso import hash_password
from .spec import MachineSpec

__all__ = ["Plan", "PlanError", "ProvisioningService", "hashed"]


def hashed(password: str) -> str:
    """Blocking: the password's crypt hash (``openssl passwd -6``), or ``PlanError`` in words."""
    try:
        return hash_password(password)
    except subprocess.TimeoutExpired:
        raise PlanError("openssl did not hash the password within 10 s; try again") from None
    except subprocess.CalledProcessError as exc:
        words = (exc.stderr or "").strip().splitlines()
        raise PlanError(f"openssl could not hash the password (it exited with status {exc.returncode}"
                        + (f": {words[-1]}" if words else "") + ")") from None
    except (RuntimeError, OSError) as exc:  # openssl not installed, or not runnable
        raise PlanError(f"cannot hash the password: {exc}") from None


class ProvisioningService:
    def __init__(self, inventory, engine: TaskEngine, *, osinfo_root: str | None = None) -> None:
        self.inventory = inventory
        self.engine = engine
        self.osinfo_root = osinfo_root
        # Files and osinfo-detect run in the app's own workers (never the loop's default
        # executor: qasync's is made of QThreads that outlive the window).
        self._workers = engine.tasks.executors.calls

    async def _in_worker(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._workers, fn, *args)

    def _host(self, host_uri: str, operation: str):
        return connected_host(self.inventory.hosts.get(host_uri), host_uri, operation=operation)

    async def offer(self, host_uri: str, source_path: str = "") -> HostOffer:
        """What the host offers a new machine now (``HypervisorError`` when it cannot be read)."""
        host = self._host(host_uri, "read the host for a new machine")
        return await host.call(lambda conn: read_offer(conn, host_uri, source_path),
                               operation="read the host for a new machine")

    async def database(self) -> osinfo.OsDatabase:
        return await self._in_worker(osinfo.load, self.osinfo_root)

    async def detect(self, local_path: str) -> osinfo.Detection:
        """Which OS the installer ISO at ``local_path`` (a file on this computer) holds."""
        database = await self.database()
        return await self._in_worker(osinfo.detect_iso, local_path, database)

    async def hash_password(self, password: str) -> str:
        """The password's crypt hash (``openssl passwd -6``), for a cloud image's seed
        (``PlanError`` in words when openssl is missing, fails or hangs)."""
        return await self._in_worker(hashed, password)

    async def name_problem(self, host_uri: str, name: str) -> str | None:
        """Why ``name`` cannot name a new machine on the host (as the user types), or None."""
        problem = name_problem(name)
        if problem:
            return problem
        host = self._host(host_uri, "check a machine name")
        taken = await host.call(lambda conn: name in {d.name() for d in conn.listAllDomains(0)},
                                operation="check a machine name")
        return f"a machine named {name!r} exists on this host already" if taken else None

    async def plan(self, spec: MachineSpec) -> Plan:
        """The plan (``PlanError`` in words: the request, the host's maintenance, or the host's
        answer to it)."""
        await self._check_maintenance(spec.host_uri)
        database = await self.database()
        source = spec.source_path if spec.source_path and not spec.upload else ""
        try:
            offer = await self.offer(spec.host_uri, source)
        except HypervisorError as err:
            raise PlanError(f"cannot read the host: {err.one_line()}") from err
        try:  # in a worker: an upload's local file is read (a hung network mount must not freeze the window)
            return await self._in_worker(make_plan, spec, offer, database)
        except OSError as exc:
            raise PlanError(f"cannot read {exc.filename or 'the local file'}: {exc.strerror or exc}") from None

    async def _check_maintenance(self, host_uri: str) -> None:
        """A host in maintenance takes no new machines (the mark is in the shared inventory)."""
        host = self.inventory.hosts.get(host_uri)
        label = getattr(host, "label", "") or host_uri
        loop = asyncio.get_running_loop()
        try:
            refusal = await loop.run_in_executor(self.inventory.executors.database, maintenance_refusal,
                                                 host_uri, label)
        except Exception as exc:  # the database away: not knowing is no permission
            raise PlanError(f"cannot read whether {label} is in maintenance (the inventory database: {exc})") \
                from None
        if refusal:
            raise PlanError(refusal)

    async def run(self, plan: Plan) -> TaskRecord:
        """Run the flow; the seed's files are held in memory only while it runs."""
        for reference, files in plan.seeds.items():
            operations.hold_seed(reference, files)
        try:
            return await self.engine.run(plan.flow)
        finally:
            for reference in plan.seeds:
                operations.release_seed(reference)
            for step in plan.flow.children:  # a flattened copy made for the upload has done its work
                path = step.params.get("local_path", "") if step.op == "upload_volume" else ""
                if path.startswith(flatten_folder() + os.sep):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
