"""Host → Storage… and ``ecp-desktop pool|volume``: each change to a host's pools and volumes,
checked first (``Refusal`` in words, before any task: a bad name, a pool or volume a machine
uses, named), then run as a task on the host's worker, where the check is made again (the
host may have changed meanwhile).

Creating a pool defines it, builds it (a directory pool's folder, when missing) and starts
it; if building or starting fails, what this task made is removed again (the definition,
and the folder only when it built it empty), and the outcome says so. A deletion is final.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from dataclasses import dataclass

import libvirt

from ..core.events import Event
from ..core.last_known import LastKnown
from ..core.errors import HypervisorError, Refusal
from ..core.names import BadName, check_file_name, file_name_part, name_problem, text_problem
from ..core.wording import size_text
from ..hosts.connection import HostConnection, connected_host
from ..hosts.states import ACTIVE_STATES
from ..images.image_file import HEAD_BYTES, ImageFile, flatten_hint, parse_image
from ..images.streams import download_to_file, file_chunks, open_regular, send
from ..inventory.live import Inventory
from ..libvirt_xml.storage import DiskUsers, Pool, PoolSource, PoolSources, disk_users, volume_xml
from ..tasks.records import TaskRecord
from ..tasks.service import TaskService
from .pools import PoolRow, VolumeRow, read_storage, with_users_elsewhere

CREATABLE_KINDS = ("dir", "fs", "netfs", "logical", "iscsi")
# pools other hosts can reach too: their volumes may be disks of machines elsewhere
SHARED_KINDS = ("netfs", "iscsi", "iscsi-direct", "rbd", "gluster")
VOLUME_FORMATS = ("qcow2", "raw")


SEARCHABLE_KINDS = ("netfs", "logical", "iscsi")


@dataclass(frozen=True)
class FoundSource:
    """One source findStoragePoolSources listed, to fill New Pool's fields with."""
    host: str = ""
    dir: str = ""
    name: str = ""    # an LVM volume group
    device: str = ""  # an iSCSI target's IQN, a volume group's physical volume
    format: str = ""

    @property
    def words(self) -> str:
        if self.dir:
            return f"{self.host}:{self.dir}"
        if self.name:
            return f"volume group {self.name}" + (f" ({self.device})" if self.device else "")
        return f"{self.host} {self.device}".strip()


@dataclass(frozen=True)
class PoolSpec:
    """A new pool: its name, type and the fields that type needs."""
    name: str
    kind: str = "dir"
    path: str = ""           # target: the folder (dir, fs, netfs), /dev/VG (logical), /dev/disk/by-path (iscsi)
    source_host: str = ""    # netfs, iscsi
    source_dir: str = ""     # netfs: the export
    source_device: str = ""  # fs: the device; iscsi: the target's IQN
    source_name: str = ""    # logical: the volume group

    def problem(self, taken: set[str]) -> str | None:
        """Why it cannot be made, in words, or None."""
        problem = name_problem(self.name)
        if problem:
            return problem.replace("a name", "a pool name", 1)
        if self.name in taken:
            return f"a pool named {self.name!r} exists on this host already"
        if self.kind not in CREATABLE_KINDS:
            return f"a pool of type {self.kind!r} cannot be made here (one of: {', '.join(CREATABLE_KINDS)})"
        needs = {"dir": ("path",), "fs": ("source_device", "path"), "netfs": ("source_host", "source_dir", "path"),
                 "logical": ("source_name",), "iscsi": ("source_host", "source_device")}[self.kind]
        words = {"path": "a target folder", "source_host": "a server", "source_dir": "an exported folder",
                 "source_device": "a device" if self.kind == "fs" else "a target IQN",
                 "source_name": "a volume group"}
        for field_name in needs:
            if not getattr(self, field_name).strip():
                return f"a {self.kind} pool needs {words[field_name]}"
        for field_name in ("path", "source_dir", "source_device", "source_host", "source_name"):
            value = getattr(self, field_name)
            problem = text_problem(words.get(field_name, field_name), value)
            if problem:
                return problem
        for field_name in ("path", "source_dir"):
            value = getattr(self, field_name)
            if value and (not value.startswith("/") or os.path.normpath(value) != value.rstrip("/") or "//" in value):
                return f"{words[field_name]} must be an absolute path without .. ({value!r})"
        if self.kind == "fs" and not self.source_device.startswith("/dev/"):
            return f"a file system pool's device is under /dev ({self.source_device!r})"
        return None

    def to_xml(self) -> str:
        pool = Pool(kind=self.kind, name=self.name)
        path = self.path or (f"/dev/{self.source_name}" if self.kind == "logical" else
                             "/dev/disk/by-path" if self.kind == "iscsi" else "")
        if path:
            pool.path = path
        if self.source_host:
            pool.source_host = self.source_host
        if self.source_dir:
            pool.source_dir = self.source_dir
        if self.source_device:
            pool.source_device = self.source_device
        if self.source_name:
            pool.source_name = self.source_name
        if self.kind == "netfs":
            pool.source_format = "nfs"
        return pool.to_xml()


def volume_problem(name: str, capacity: int, fmt: str, taken: set[str]) -> str | None:
    try:
        check_file_name(name)
    except BadName as exc:
        return f"the volume name cannot be used: {exc}"
    if name in taken:
        return f"a volume named {name!r} exists in this pool already"
    if capacity <= 0:
        return "a volume needs a size above 0"
    if fmt not in VOLUME_FORMATS:
        return f"a volume's format is one of {', '.join(VOLUME_FORMATS)} (not {fmt!r})"
    return None


def resize_problem(volume: VolumeRow, capacity: int) -> str | None:
    """Growing is always allowed; shrinking loses data at the end: only a raw volume no
    machine uses, and never below 1 byte."""
    if capacity <= 0:
        return "a volume needs a size above 0"
    if capacity < volume.capacity:
        if volume.format != "raw":
            return (f"{volume.name} is {volume.format or 'of no known format'}: only a raw volume can be shrunk "
                    "(a qcow2 image would lose its own data)")
        if volume.users:
            return f"{volume.name} is used by {', '.join(volume.users)}: shrinking it would cut their disk"
    return None


class StorageService:
    def __init__(self, inventory: Inventory, tasks: TaskService) -> None:
        self.inventory = inventory
        self.tasks = tasks
        self.last_known: LastKnown[PoolRow] = LastKnown()  # each host's last whole reading

    def changes(self, uri: str) -> Event | None:
        """The host's event when its pools change in libvirt, by this app or anyone (None: not listed)."""
        host = self.inventory.hosts.get(uri)
        return host.storage_event if host is not None else None

    def host_state(self, uri: str) -> Event | None:
        """The host's event when it connects or goes away (None: not listed)."""
        host = self.inventory.hosts.get(uri)
        return host.state_changed if host is not None else None

    def _host(self, uri: str, operation: str) -> HostConnection:
        return connected_host(self.inventory.hosts.get(uri), uri, operation=operation)

    async def read(self, uri: str, pool: str = "") -> list[PoolRow]:
        """The host's pools (``pool``: that one) with their volumes (``HypervisorError`` when
        the host does not answer; a whole reading is kept as last known). A shared pool's
        volumes also name the machines of the inventory's other connected hosts that use them,
        as "name (on host)"."""
        rows = await self._host(uri, "list storage").call(lambda conn: read_storage(conn, pool),
                                                         operation="list storage")
        if any(r.active and r.kind in SHARED_KINDS for r in rows):
            elsewhere = await self._users_elsewhere(uri)
            rows = [with_users_elsewhere(r, elsewhere) if r.kind in SHARED_KINDS else r for r in rows]
        return rows if pool else self.last_known.keep(uri, rows)

    async def _users_elsewhere(self, uri: str) -> DiskUsers:
        """The machines of every other connected host, by the storage they name (a host that
        does not answer is left out: its machines are unknown, not absent)."""
        others = [h for h in self.inventory.hosts.values() if h.uri != uri and h.connected]
        found = DiskUsers()
        answers = await asyncio.gather(*(h.call(disk_users, operation="list disks") for h in others),
                                       return_exceptions=True)
        for host, users in zip(others, answers, strict=True):
            if isinstance(users, BaseException):
                continue
            for key, names in users.by_key.items():
                found.by_key.setdefault(key, []).extend(f"{n} (on {host.label})" for n in names)
        return found

    async def pool(self, uri: str, name: str) -> PoolRow:
        try:
            [row] = await self.read(uri, name)
        except HypervisorError as err:
            if err.code == libvirt.VIR_ERR_NO_STORAGE_POOL:
                raise Refusal(f"the host has no pool named {name!r}") from None
            raise
        return row

    async def _run(self, uri: str, kind: str, title: str, fn) -> TaskRecord:
        host = self._host(uri, title)

        async def work() -> str:
            return await host.call(fn, operation=title)
        return await self.tasks.run(kind, title, work, host_uri=uri)

    async def _run_transfer(self, uri: str, kind: str, title: str, fn) -> TaskRecord:
        """A task moving bytes: ``fn(conn, progress, stopped)`` on the host's worker, its
        progress shown on the task (a step per percent), cancellable from the tasks pane (or by
        cancelling the caller, as Ctrl-C does)."""
        host = self._host(uri, title)
        loop = asyncio.get_running_loop()
        stop = threading.Event()

        async def work(record: TaskRecord) -> str:
            shown = [-1]

            def show(percent: int, words: str) -> None:
                record.progress, record.summary = percent, words
                self.tasks.changed(record)

            def progress(done: int, total: int) -> None:  # on the worker: shown on the loop
                percent = int(100 * done / total) if total else 100
                if percent != shown[0]:
                    shown[0] = percent
                    loop.call_soon_threadsafe(show, percent, f"{size_text(done)} of {size_text(total)}")
            record.cancel = stop.set
            moving = asyncio.ensure_future(host.call(lambda conn: fn(conn, progress, stop.is_set), operation=title,
                                                     unbounded=True))
            try:
                return await asyncio.shield(moving)
            except asyncio.CancelledError:
                # The worker aborts its stream at its next chunk and removes what it made; the
                # connection is released only then (never under a call still inside libvirt).
                stop.set()
                with contextlib.suppress(Exception):
                    await moving
                raise
            finally:
                record.cancel = None
        return await self.tasks.run(kind, title, work, host_uri=uri, pass_record=True)

    # ----- pools -----------------------------------------------------------------------------
    async def create_pool(self, uri: str, spec: PoolSpec, *, autostart: bool = True) -> TaskRecord:
        taken = {p.name for p in await self.read(uri)}
        problem = spec.problem(taken)
        if problem:
            raise Refusal(problem)

        def create(conn: libvirt.virConnect) -> str:
            pool = conn.storagePoolDefineXML(spec.to_xml(), 0)
            folder = spec.path if spec.kind == "dir" else ""
            made_folder = bool(folder) and not os.path.exists(folder) and _is_local(conn)
            try:
                if spec.kind in ("dir", "fs", "netfs"):
                    pool.build(0)  # the target folder (a file system pool: only the folder)
                pool.create(0)
                if autostart:
                    pool.setAutostart(1)
            except libvirt.libvirtError as exc:
                undone = _undo_pool(pool, made_folder)
                raise Refusal(f"pool {spec.name} could not be started: {exc.get_error_message()}; {undone}") from None
            return f"created and started pool {spec.name}" + (" (starts with the host)" if autostart else "")
        return await self._run(uri, "create_pool", f"Create pool {spec.name}", create)

    async def find_sources(self, uri: str, kind: str, server: str = "") -> list[FoundSource]:
        """What the host can see to make a ``kind`` pool from: an NFS server's exports, the
        host's LVM volume groups, an iSCSI server's targets (libvirt's findStoragePoolSources)."""
        if kind not in SEARCHABLE_KINDS:
            raise Refusal(f"libvirt lists sources of {', '.join(SEARCHABLE_KINDS)} pools, not {kind}")
        if kind in ("netfs", "iscsi") and not server:
            raise Refusal("say which server to ask")
        if server:
            problem = text_problem("a server", server)
            if problem:
                raise Refusal(problem)
        probe = PoolSource(host=server).to_xml() if server else None

        def find(conn: libvirt.virConnect) -> list[FoundSource]:
            described = PoolSources.from_xml(conn.findStoragePoolSources(kind, probe, 0))
            return [FoundSource(s.host, s.dir, s.name, s.device, s.format) for s in described.sources]
        try:
            return await self._host(uri, "find pool sources").call(find, operation="find pool sources")
        except HypervisorError as err:
            if err.code == libvirt.VIR_ERR_NO_SUPPORT:
                raise Refusal(f"this host cannot list {kind} sources (its libvirt lacks the tool); "
                              "type them in") from None
            raise

    async def start_pool(self, uri: str, name: str) -> TaskRecord:
        return await self._run(uri, "start_pool", f"Start pool {name}",
                               lambda conn: (conn.storagePoolLookupByName(name).create(0), f"started pool {name}")[1])

    async def stop_pool(self, uri: str, name: str) -> TaskRecord:
        row = await self.pool(uri, name)
        running = _running_users(self.inventory, uri, row.users)
        if running:
            raise Refusal(f"pool {name} holds disks of running machines ({', '.join(running)}); shut them down first")
        return await self._run(uri, "stop_pool", f"Stop pool {name}",
                               lambda conn: (conn.storagePoolLookupByName(name).destroy(), f"stopped pool {name}")[1])

    async def refresh_pool(self, uri: str, name: str) -> TaskRecord:
        return await self._run(uri, "refresh_pool", f"Refresh pool {name}", lambda conn: (
            conn.storagePoolLookupByName(name).refresh(0), f"refreshed pool {name}")[1])

    async def set_pool_autostart(self, uri: str, name: str, on: bool) -> TaskRecord:
        words = "starts with the host" if on else "no longer starts with the host"
        return await self._run(uri, "pool_autostart", f"Pool {name} {words}", lambda conn: (
            conn.storagePoolLookupByName(name).setAutostart(int(on)), f"pool {name} {words}")[1])

    async def delete_pool(self, uri: str, name: str, *, remove_folder: bool = False) -> TaskRecord:
        """Refused while a machine uses one of its volumes; ``remove_folder``: a directory
        pool's folder too, only when it holds no volume."""
        row = await self.pool(uri, name)
        if row.users:
            raise Refusal(f"pool {name} holds disks of {', '.join(row.users)}; not deleted")
        if remove_folder and (row.kind != "dir" or row.volumes):
            raise Refusal(f"the folder of pool {name} is removed only for an empty directory pool "
                          f"({row.kind_text}, {len(row.volumes)} volumes)")

        def delete(conn: libvirt.virConnect) -> str:
            pool = conn.storagePoolLookupByName(name)
            if pool.isActive():
                again = read_storage(conn, name)[0]
                if again.users:  # (a machine took one of its volumes meanwhile)
                    raise Refusal(f"pool {name} holds disks of {', '.join(again.users)} now; not deleted")
                if remove_folder and again.volumes:
                    raise Refusal(f"pool {name} is no longer empty; its folder is kept and the pool too")
                pool.destroy()
            if remove_folder:
                pool.delete(0)
            pool.undefine()
            return f"deleted pool {name}" + (" and its folder" if remove_folder else " (its volumes are kept)")
        return await self._run(uri, "delete_pool", f"Delete pool {name}", delete)

    # ----- volumes ---------------------------------------------------------------------------
    async def create_volume(self, uri: str, pool: str, name: str, capacity: int, fmt: str = "qcow2", *,
                            backing: str = "") -> TaskRecord:
        """``backing``: a volume of the same pool the new one reads as its base (qcow2 only)."""
        row = await self.pool(uri, pool)
        if not row.active:
            raise Refusal(f"pool {pool} is not active; start it first")
        problem = volume_problem(name, capacity, fmt, {v.name for v in row.volumes})
        if problem:
            raise Refusal(problem)
        base = next((v for v in row.volumes if v.name == backing), None) if backing else None
        if backing and base is None:
            raise Refusal(f"pool {pool} has no volume {backing!r} to read as a base")
        if base is not None and fmt != "qcow2":
            raise Refusal("only a qcow2 volume can read another as its base")
        xml = volume_xml(name, capacity, fmt, backing_path=base.path if base else "",
                         backing_format=(base.format or "raw") if base else "")
        return await self._run(uri, "create_volume", f"Create volume {pool}/{name}", lambda conn: (
            conn.storagePoolLookupByName(pool).createXML(xml, 0), f"created volume {pool}/{name}")[1])

    async def volume(self, uri: str, pool: str, name: str) -> VolumeRow:
        row = await self.pool(uri, pool)
        found = next((v for v in row.volumes if v.name == name), None)
        if found is None:
            raise Refusal(f"pool {pool} has no volume {name!r}" + ("" if row.active else " (it is not active)"))
        return found

    async def delete_volume(self, uri: str, pool: str, name: str, *, wipe: bool = False) -> TaskRecord:
        """Refused while a machine uses it or a linked clone reads it; ``wipe``: its data
        overwritten first."""
        volume = await self.volume(uri, pool, name)
        if volume.why_kept:
            raise Refusal(f"volume {pool}/{name} is {volume.why_kept}; not deleted")

        def delete(conn: libvirt.virConnect) -> str:
            again = next((v for v in read_storage(conn, pool)[0].volumes if v.name == name), None)
            if again is None:
                return f"volume {pool}/{name} was already gone"
            if again.why_kept:
                raise Refusal(f"volume {pool}/{name} is {again.why_kept} now; not deleted")
            target = conn.storagePoolLookupByName(pool).storageVolLookupByName(name)
            if wipe:
                target.wipe(0)
            target.delete(0)
            return f"{'wiped and ' if wipe else ''}deleted volume {pool}/{name}"
        return await self._run(uri, "delete_volume", f"Delete volume {pool}/{name}", delete)

    async def resize_volume(self, uri: str, pool: str, name: str, capacity: int) -> TaskRecord:
        volume = await self.volume(uri, pool, name)
        problem = resize_problem(volume, capacity)
        if problem:
            raise Refusal(problem)
        flags = libvirt.VIR_STORAGE_VOL_RESIZE_SHRINK if capacity < volume.capacity else 0
        return await self._run(uri, "resize_volume", f"Resize volume {pool}/{name}", lambda conn: (
            conn.storagePoolLookupByName(pool).storageVolLookupByName(name).resize(capacity, flags),
            f"resized volume {pool}/{name} to {capacity:,} bytes")[1])


    async def upload_volume(self, uri: str, pool: str, local_path: str, name: str = "") -> TaskRecord:
        """A local file into a new volume of ``pool`` (named ``name``, else as the file, made safe), its
        format read from its header (a qcow2 image that reads other files is refused)."""
        loop, workers = asyncio.get_running_loop(), self.inventory.executors.calls  # a hung mount never blocks the loop
        try:
            image, size = await loop.run_in_executor(workers, _local_image, local_path)
        except OSError as exc:
            raise Refusal(f"cannot read {local_path}: {exc.strerror or exc}") from None
        if image.reads_other_files():
            raise Refusal(f"{local_path}: {image.reads_other_files()}; {flatten_hint(local_path)}")
        name = name or file_name_part(os.path.basename(local_path))  # "Fedora Cloud 40.qcow2": Fedora_Cloud_40.qcow2
        row = await self.pool(uri, pool)
        if not row.active:
            raise Refusal(f"pool {pool} is not active; start it first")
        problem = volume_problem(name, max(size, 1), image.format, {v.name for v in row.volumes})
        if problem:
            raise Refusal(problem)
        if row.available and size > row.available:
            raise Refusal(f"{local_path} is {size_text(size)}; pool {pool} has {size_text(row.available)} free")

        def upload(conn, progress, stopped) -> str:
            # What is sent is what is checked: one handle, its header read again, its size fixed.
            with open_regular(local_path) as handle:
                again = parse_image(handle.read(HEAD_BYTES), os.fstat(handle.fileno()).st_size)
                if again != image or os.fstat(handle.fileno()).st_size != size:
                    raise Refusal(f"{local_path} changed while the upload was being prepared; try again")
                target = conn.storagePoolLookupByName(pool).createXML(volume_xml(name, size, image.format), 0)
                try:
                    send(conn, target, file_chunks(handle, size), size, progress, stopped)
                except BaseException:
                    target.delete(0)  # made by this task, half-written: nothing half-uploaded stays
                    raise
            return f"uploaded {os.path.basename(local_path)} to {pool}/{name} ({size_text(size)}, {image.format})"
        return await self._run_transfer(uri, "upload_volume", f"Upload {os.path.basename(local_path)} to {pool}",
                                        upload)

    async def download_volume(self, uri: str, pool: str, name: str, local_path: str) -> TaskRecord:
        """The volume's bytes into the new local file ``local_path`` (an existing file is never
        replaced)."""
        await self.volume(uri, pool, name)
        problem = await asyncio.get_running_loop().run_in_executor(self.inventory.executors.calls,
                                                                   _new_file_problem, local_path)
        if problem:
            raise Refusal(problem)

        def download(conn, progress, stopped) -> str:
            volume = conn.storagePoolLookupByName(pool).storageVolLookupByName(name)
            got = download_to_file(conn, volume, local_path, progress, stopped)
            return f"downloaded {pool}/{name} to {local_path} ({size_text(got)})"
        return await self._run_transfer(uri, "download_volume", f"Download {pool}/{name}", download)

    async def clone_volume(self, uri: str, pool: str, name: str, new_name: str) -> TaskRecord:
        """A full copy of the volume, in the same pool, of the same format and size."""
        volume = await self.volume(uri, pool, name)
        row = await self.pool(uri, pool)
        problem = volume_problem(new_name, volume.capacity, volume.format or "raw", {v.name for v in row.volumes})
        if problem:
            raise Refusal(problem)
        running = _running_users(self.inventory, uri, list(volume.users))
        if running:
            raise Refusal(f"volume {pool}/{name} is in use by running machines ({', '.join(running)}); "
                          "a copy now would be torn: shut them down first")
        xml = volume_xml(new_name, volume.capacity, volume.format or "raw")

        def clone(conn: libvirt.virConnect) -> str:
            target = conn.storagePoolLookupByName(pool)
            target.createXMLFrom(xml, target.storageVolLookupByName(name), 0)
            return f"copied {pool}/{name} to {pool}/{new_name}"
        return await self._run(uri, "clone_volume", f"Copy volume {pool}/{name}", clone)


def _local_image(path: str) -> tuple[ImageFile, int]:
    """What the local file is, and its size, read from one handle (a FIFO is never waited on)."""
    try:
        with open_regular(path) as handle:
            return parse_image(handle.read(HEAD_BYTES), os.fstat(handle.fileno()).st_size), \
                os.fstat(handle.fileno()).st_size
    except Refusal:
        raise OSError(21, "not a regular file") from None


def _new_file_problem(path: str) -> str:
    """Why a download cannot be written to ``path`` ("" when it can)."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.lexists(path):
        return f"{path} exists; choose a new file name (nothing is overwritten)"
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        return f"cannot write into {folder}"
    return ""


def _undo_pool(pool: libvirt.virStoragePool, made_folder: bool) -> str:
    """Remove what a failed creation made: its folder (only when this task built it, empty) and
    its definition."""
    said = []
    try:
        if pool.isActive():
            pool.destroy()
        if made_folder:
            pool.delete(0)
            said.append("its folder removed")
        pool.undefine()
        said.append("its definition removed")
    except libvirt.libvirtError as exc:
        said.append(f"not all removed: {exc.get_error_message()}")
    return ", ".join(said)


def _is_local(conn: libvirt.virConnect) -> bool:
    """The host is this machine (the folder's existence can be read here)."""
    try:
        uri = conn.getURI()
    except libvirt.libvirtError:
        return False
    return "://" in uri and uri.split("://", 1)[1].startswith("/")


def _running_users(inventory: Inventory, uri: str, names: list[str]) -> list[str]:
    running = {m.name for m in inventory.machines_of(uri) if m.state in ACTIVE_STATES}
    return [n for n in names if n in running]
