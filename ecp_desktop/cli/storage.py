"""``ecp-desktop pool ...`` and ``volume ...``: Host → Storage… without a window, through the
same service (services/storage). ``network ...`` is cli/networks.py; both pick their host the
same way (:func:`the_host`)."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import TextIO

from ..services.core.errors import HypervisorError, Refusal, install_quiet_error_handler
from ..services.core.wording import parse_size, size_text
from ..services.hosts.connection import HostConnection
from ..services.storage.service import CREATABLE_KINDS, VOLUME_FORMATS, PoolSpec
from ..services.tasks.records import SUCCEEDED, TaskRecord
from ..services.tasks.tree import host_was_away
from .common import (EXIT_CONNECTION, EXIT_FAILED, EXIT_OK, EXIT_USAGE, bad_uri, close, connect_hosts,
                     headless_services, print_json, print_tree, say)
from .text import table, terminal_text

EXITS = "exit 0 done, 1 libvirt refused (its words on stderr), 2 bad input or in use (named), 3 the host unreachable"
POOL_ACTIONS = ("list", "create", "start", "stop", "refresh", "autostart", "delete", "sources")
VOLUME_ACTIONS = ("list", "create", "delete", "resize", "clone", "upload", "download")


def add_parsers(sub) -> None:
    words = f"a host's storage pools as Host → Storage… shows and changes them; {EXITS}"
    pool = sub.add_parser("pool", help=words, description=words[:1].upper() + words[1:] + ".")
    pool.add_argument("action", choices=POOL_ACTIONS)
    pool.add_argument("name", nargs="?", metavar="POOL", help="the pool (every action but list)")
    pool.add_argument("--type", default="dir", choices=CREATABLE_KINDS,
                      help="create: the pool's type (default dir); sources: netfs, logical or iscsi")
    pool.add_argument("--path", default="", metavar="FOLDER", help="create: the target folder (dir, fs, netfs)")
    pool.add_argument("--source-host", default="", metavar="SERVER", help="create: the NFS or iSCSI server")
    pool.add_argument("--source-dir", default="", metavar="EXPORT", help="create: the NFS export")
    pool.add_argument("--source-device", default="", metavar="DEVICE",
                      help="create: the file system's device (fs) or the target's IQN (iscsi)")
    pool.add_argument("--volume-group", default="", metavar="VG", help="create: the LVM volume group (logical)")
    pool.add_argument("--off", action="store_true", help="autostart: do not start with the host; create: the same")
    pool.add_argument("--remove-folder", action="store_true",
                      help="delete: a directory pool's folder too (only when it holds no volume)")
    add_host_and_json(pool)
    words = f"a pool's volumes as Host → Storage… shows and changes them; {EXITS}"
    volume = sub.add_parser("volume", help=words, description=words[:1].upper() + words[1:] + ".")
    volume.add_argument("action", choices=VOLUME_ACTIONS)
    volume.add_argument("pool", metavar="POOL")
    volume.add_argument("name", nargs="?", metavar="VOLUME", help="the volume (every action but list)")
    volume.add_argument("--size", default="", metavar="SIZE", help="create, resize: 10G, 512M, ... (powers of 1024)")
    volume.add_argument("--format", default="qcow2", choices=VOLUME_FORMATS, help="create: qcow2 (default) or raw")
    volume.add_argument("--backing", default="", metavar="VOLUME",
                        help="create: a volume of the same pool the new qcow2 one reads as its base")
    volume.add_argument("--wipe", action="store_true", help="delete: overwrite its data first")
    volume.add_argument("--to", default="", metavar="NAME", help="clone: the copy's name")
    volume.add_argument("--file", default="", metavar="PATH",
                        help="upload: the local file (VOLUME defaults to its name); download: the new local file")
    add_host_and_json(volume)


def add_host_and_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", metavar="URI", help="the host (needed when several are configured)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def the_host(hosts: list[HostConnection], wanted: str | None, err: TextIO) -> tuple[HostConnection | None, int]:
    """The one host a storage or network command is about: ``--host``, else the only one."""
    if wanted:
        host = next((h for h in hosts if h.uri == wanted), None)
    elif len(hosts) == 1:
        host = hosts[0]
    else:
        say("say which host with --host URI: " + (", ".join(h.uri for h in hosts) or "none is configured"), err)
        return None, EXIT_USAGE
    if host is None or not host.connected:
        say(f"cannot connect to {wanted or hosts[0].uri}: {host.reason if host else 'not configured'}", err)
        return None, EXIT_CONNECTION
    return host, EXIT_OK


def finish(record: TaskRecord, as_json: bool, out: TextIO, err: TextIO) -> int:
    print_tree([record], as_json, out)
    if record.status == SUCCEEDED:
        return EXIT_OK
    say(f"{record.title}: {record.status}: {record.error_message or record.outcome}", err)
    return EXIT_CONNECTION if host_was_away(record.error) else EXIT_FAILED


@contextlib.contextmanager
def shown_progress(tasks, err: TextIO):
    """While a transfer runs: its progress on one line of a terminal (nothing when piped)."""
    if not err.isatty():
        yield
        return

    def show(record: TaskRecord) -> None:
        if record.summary and record.progress is not None:
            err.write(f"\r{terminal_text(record.title)}: {record.progress:3d}% ({terminal_text(record.summary)})\x1b[K")
            err.flush()
    tasks.task_changed.connect(show)
    try:
        yield
    finally:
        tasks.task_changed.disconnect(show)
        err.write("\n")


def run_command(args, body, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Connect, pick the host, run ``body(services, uri)``; refusals exit 2, a host away 3."""
    uris = args.connect or ([args.host] if args.host else [])
    if bad_uri(uris, err):
        return EXIT_USAGE
    install_quiet_error_handler()
    services = headless_services()

    async def go() -> int:
        hosts = await connect_hosts(services, uris, load=True)
        host, code = the_host(hosts, args.host, err)
        if host is None:
            return code
        try:
            return await body(services, host.uri)
        except Refusal as refusal:
            say(str(refusal), err)
            return EXIT_USAGE
        except ValueError as exc:
            say(str(exc), err)
            return EXIT_USAGE
        except HypervisorError as error:
            say(error.one_line(), err)
            return EXIT_CONNECTION if host_was_away(error) else EXIT_FAILED
        finally:
            await services.tasks.flush()

    try:
        return asyncio.run(go())
    finally:
        close(services)


def run_pool(args, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    async def body(services, uri: str) -> int:
        storage = services.storage
        if args.action == "list":
            pools = await storage.read(uri, args.name or "")
            if args.json:
                print_json([p.as_json() for p in pools], out)
            else:
                print("\n".join(table(("POOL", "TYPE", "STATE", "AUTOSTART", "SIZE", "FREE", "VOLUMES", "PATH"), [
                    (p.name, p.kind_text, "active" if p.active else "inactive", "yes" if p.autostart else "no",
                     size_text(p.capacity), size_text(p.available), len(p.volumes), p.path or p.source)
                    for p in pools])), file=out)
            return EXIT_OK
        if args.action == "sources":
            found = await storage.find_sources(uri, args.type, args.source_host)
            if args.json:
                print_json([{"host": f.host, "dir": f.dir, "name": f.name, "device": f.device, "format": f.format}
                            for f in found], out)
            else:
                # (a remote server's words: escaped, they reach a terminal)
                print("\n".join(terminal_text(f.words) for f in found) or f"no {args.type} source found", file=out)
            return EXIT_OK
        if not args.name:
            raise Refusal(f"pool {args.action} needs the pool's name")
        name = args.name
        if args.action == "create":
            spec = PoolSpec(name, args.type, args.path, args.source_host, args.source_dir, args.source_device,
                            args.volume_group)
            record = await storage.create_pool(uri, spec, autostart=not args.off)
        elif args.action == "start":
            record = await storage.start_pool(uri, name)
        elif args.action == "stop":
            record = await storage.stop_pool(uri, name)
        elif args.action == "refresh":
            record = await storage.refresh_pool(uri, name)
        elif args.action == "autostart":
            record = await storage.set_pool_autostart(uri, name, not args.off)
        else:
            record = await storage.delete_pool(uri, name, remove_folder=args.remove_folder)
        return finish(record, args.json, out, err)
    return run_command(args, body, out, err)


def run_volume(args, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    async def body(services, uri: str) -> int:
        storage = services.storage
        if args.action == "list":
            [pool] = await storage.read(uri, args.pool) if args.pool else [None]
            if pool is None:
                raise Refusal("volume list needs the pool's name")
            volumes = [v for v in pool.volumes if not args.name or v.name == args.name]
            if args.json:
                print_json([v.as_json() for v in volumes], out)
            else:
                print("\n".join(table(("VOLUME", "FORMAT", "SIZE", "ALLOCATED", "USED BY", "PATH"), [
                    (v.name, v.format or "-", size_text(v.capacity), size_text(v.allocation),
                     ", ".join(v.users) or (f"base of {', '.join(v.overlays)}" if v.overlays else "-"), v.path)
                    for v in volumes])), file=out)
            return EXIT_OK
        if args.action in ("upload", "download") and not args.file:
            raise Refusal(f"volume {args.action} needs --file PATH")
        if args.action == "upload":
            with shown_progress(services.tasks, err):
                record = await storage.upload_volume(uri, args.pool, args.file, args.name or "")
            return finish(record, args.json, out, err)
        if not args.name:
            raise Refusal(f"volume {args.action} needs the volume's name")
        if args.action == "download":
            with shown_progress(services.tasks, err):
                record = await storage.download_volume(uri, args.pool, args.name, args.file)
        elif args.action == "clone":
            if not args.to:
                raise Refusal("volume clone needs --to NAME (the copy's name)")
            record = await storage.clone_volume(uri, args.pool, args.name, args.to)
        elif args.action == "create":
            if not args.size:
                raise Refusal("volume create needs --size (10G, 512M, ...)")
            record = await storage.create_volume(uri, args.pool, args.name, parse_size(args.size), args.format,
                                                 backing=args.backing)
        elif args.action == "resize":
            if not args.size:
                raise Refusal("volume resize needs --size (the new size: 20G, ...)")
            record = await storage.resize_volume(uri, args.pool, args.name, parse_size(args.size))
        else:
            record = await storage.delete_volume(uri, args.pool, args.name, wipe=args.wipe)
        return finish(record, args.json, out, err)
    return run_command(args, body, out, err)
