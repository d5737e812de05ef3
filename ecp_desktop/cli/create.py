"""``ecp-desktop create``: a new machine from an installer ISO, a cloud image, an existing disk
or network boot, as the New Machine wizard makes it (the same plan, the same flow, undone
completely when a step fails)."""
from __future__ import annotations

import argparse
import asyncio
import os
import stat
import sys
from pathlib import Path
from typing import TextIO

from ..services.provisioning.seed_iso import SeedConfig, default_ssh_keys
from ..services.provisioning.spec import GRAPHICS, MachineSpec, spec_problems

# The services, the task engine and libvirt are imported when the command runs, not when
# cli/main.py builds its parser for every command.

HELP = ("create a machine from an installer ISO, a cloud image (a copy-on-write overlay and a cloud-init seed "
        "ISO), an existing disk or network boot; every step is undone if one fails; exit 0 created, 1 failed "
        "and undone, 2 bad input, 3 the host unreachable")


def _command(sub, name: str, help: str, **kwargs) -> argparse.ArgumentParser:  # noqa: A002
    """A sub-command whose own --help starts with what it does (as cli/main.py's)."""
    return sub.add_parser(name, help=help, description=help[:1].upper() + help[1:] + ".", **kwargs)


def add_parser(sub) -> argparse.ArgumentParser:
    create = _command(sub, "create", help=HELP)
    create.add_argument("--name", required=True, help="the new machine's name")
    create.add_argument("--host", required=True, metavar="URI", help="the host to create it on, e.g. qemu:///system")
    source = create.add_mutually_exclusive_group(required=True)
    source.add_argument("--iso", metavar="PATH", help="boot an installer ISO: a file on the host (or, with --upload, "
                                                       "on this computer)")
    source.add_argument("--cloud-image", metavar="PATH",
                        help="a cloud image (qcow2 or raw) in a storage pool of the host (or, with --upload, on this "
                             "computer): the new disk is a copy-on-write overlay on it, or a copy with --full-copy")
    source.add_argument("--import-disk", metavar="PATH", help="use an existing disk image on the host as it is")
    source.add_argument("--pxe", action="store_true", help="boot from the network (an empty disk)")
    create.add_argument("--upload", action="store_true",
                        help="the ISO or cloud image is a file on this computer: upload it into --pool first")
    create.add_argument("--full-copy", action="store_true", help="cloud image: a full copy instead of an overlay")
    create.add_argument("--flatten", action="store_true",
                        help="with --upload: a cloud image that reads other files (a backing file) is flattened "
                             "here with qemu-img and the copy uploaded (without it, such an image is refused)")
    create.add_argument("--os", default="generic", metavar="ID",
                        help="the operating system's libosinfo short id (osinfo-query os), e.g. debian12; sets "
                             "the recommended memory, vCPUs, disk, firmware and device models (default: generic)")
    create.add_argument("--memory", type=int, default=0, metavar="MIB", help="memory (default: the OS's)")
    create.add_argument("--vcpus", type=int, default=0, metavar="N", help="vCPUs (default: the OS's)")
    create.add_argument("--disk-size", type=int, default=0, metavar="GIB", help="disk size (default: the OS's)")
    create.add_argument("--no-disk", action="store_true",
                        help="with --iso or --pxe: no disk (a live ISO, a diskless network boot)")
    create.add_argument("--disk-format", choices=["qcow2", "raw"], default="qcow2", help="a new empty disk's format")
    create.add_argument("--pool", default="", metavar="NAME", help="storage pool for new volumes (default: "
                                                                    "'default', else the first active one)")
    create.add_argument("--network", default=None, metavar="NAME", help="libvirt network (default: 'default')")
    create.add_argument("--bridge", default="", metavar="NAME", help="a host bridge instead of a libvirt network")
    create.add_argument("--no-network", action="store_true", help="no network card")
    create.add_argument("--graphics", choices=GRAPHICS, default="vnc", help="display (default vnc, on the host's "
                                                                            "loopback); a serial console always")
    create.add_argument("--firmware", choices=["bios", "efi"], default="", help="default: the OS's recommendation")
    create.add_argument("--secure-boot", action="store_true", help="UEFI secure boot (where the host offers it)")
    create.add_argument("--virt-type", choices=["kvm", "qemu"], default="",
                        help="kvm (hardware acceleration) or qemu (software emulation, slower); default: kvm where "
                             "the host offers it")
    create.add_argument("--user", default="user", help="cloud image: the user cloud-init makes (default: user)")
    create.add_argument("--ssh-key", action="append", default=[], metavar="FILE",
                        help="cloud image: a public key file that may log in (repeatable; default: ~/.ssh/*.pub)")
    password = create.add_mutually_exclusive_group()
    password.add_argument("--password-file", metavar="FILE",
                          help="cloud image: a file holding the user's password (its first line), hashed here with "
                               "`openssl passwd -6`; the file must not be readable by other users (chmod 600). "
                               "Default: no password (SSH keys only)")
    password.add_argument("--password-stdin", action="store_true",
                          help="cloud image: read the user's password from the first line of standard input")
    create.add_argument("--hostname", default="", help="cloud image: the guest's host name (default: from --name)")
    create.add_argument("--user-data", metavar="FILE", help="cloud image: extra cloud-config or script to add")
    create.add_argument("--start", action="store_true", help="start the machine once defined")
    create.add_argument("--print-xml", action="store_true", help="print the domain XML and create nothing")
    create.add_argument("--json", action="store_true", help="print the plan and the task tree as JSON")
    return create


class BadPassword(ValueError):
    """The password option cannot be used; the message says why in words."""


def read_password(args, stdin: TextIO | None = None) -> str:
    """The plain password of --password-file or --password-stdin ("" : none given). Never an
    argument: a command line is readable by every user (/proc/*/cmdline) and kept in histories."""
    if args.password_stdin:
        line = (stdin or sys.stdin).readline().rstrip("\r\n")
        if not line:
            raise BadPassword("--password-stdin: standard input holds no password")
        return line
    if not args.password_file:
        return ""
    with open(args.password_file, "rb") as handle:  # the mode of what was opened, not of a name
        mode = os.fstat(handle.fileno()).st_mode
        if mode & stat.S_IROTH:
            raise BadPassword(f"{args.password_file} is readable by every user (mode {stat.S_IMODE(mode):04o}) and "
                              f"holds a password: make it private first (chmod 600 {args.password_file})")
        first = handle.readline().decode("utf-8").rstrip("\r\n")
    if not first:
        raise BadPassword(f"{args.password_file} holds no password (its first line is empty)")
    return first


def spec_from_args(args, password_hash: str = "") -> MachineSpec:
    """The request the options make (reads the key and user-data files; OSError when one cannot be read);
    ``password_hash``: the hash of the password given (read_password), for the cloud image's seed."""
    source, path = next(((kind, value) for kind, value in (("iso", args.iso), ("cloud-image", args.cloud_image),
                                                              ("import-disk", args.import_disk)) if value),
                        ("pxe", ""))
    seed = None
    if source == "cloud-image":
        keys = ([Path(f).read_text(encoding="utf-8").strip() for f in args.ssh_key] if args.ssh_key
                else default_ssh_keys())
        extra = Path(args.user_data).read_text(encoding="utf-8") if args.user_data else ""
        seed = SeedConfig(user=args.user, ssh_keys=[k for k in keys if k], password_hash=password_hash,
                          hostname=args.hostname, extra_user_data=extra)
    network = "" if args.no_network or args.bridge else (args.network if args.network is not None else "default")
    return MachineSpec(
        name=args.name, host_uri=args.host, source=source, source_path=path, upload=args.upload, os_id=args.os,
        memory_mib=args.memory, vcpus=args.vcpus, disk_mib=args.disk_size * 1024, no_disk=args.no_disk,
        pool=args.pool, disk_format=args.disk_format, full_copy=args.full_copy, flatten=args.flatten, network=network,
        bridge="" if args.no_network else args.bridge, graphics=args.graphics, firmware=args.firmware,
        secure_boot=args.secure_boot, seed=seed, start=args.start, virt_type=args.virt_type)


def run_from_args(args, out: TextIO = sys.stdout, err: TextIO = sys.stderr, stdin: TextIO | None = None) -> int:
    from .common import (EXIT_CONNECTION, EXIT_FAILED, EXIT_OK, EXIT_USAGE, bad_uri, close, connect_hosts,
                         headless_services, print_json, print_tree, say)
    from ..services.core.errors import install_quiet_error_handler
    from ..services.provisioning.service import PlanError, ProvisioningService, hashed
    from ..services.tasks.records import SUCCEEDED
    from ..services.tasks.tree import host_was_away
    if bad_uri([args.host], err):
        return EXIT_USAGE
    try:
        password = read_password(args, stdin)
        if password and not args.cloud_image:
            raise BadPassword("a password is only for a cloud image (cloud-init makes its user)")
        spec = spec_from_args(args, hashed(password) if password else "")
    except (BadPassword, PlanError) as exc:
        say(str(exc), err)
        return EXIT_USAGE
    except (OSError, UnicodeDecodeError) as exc:
        say(f"cannot read {getattr(exc, 'filename', '') or 'a file'}: {exc}", err)
        return EXIT_USAGE
    problems = spec_problems(spec)  # the cheap checks before connecting
    if problems:
        for problem in problems:
            say(problem, err)
        return EXIT_USAGE
    install_quiet_error_handler()
    services = headless_services()
    provisioning = ProvisioningService(services.inventory, services.engine)

    async def plan_and_create() -> int:
        hosts = await connect_hosts(services, [spec.host_uri], load=False)
        if not hosts or not hosts[0].connected:
            reason = hosts[0].reason if hosts else "not configured"
            say(f"cannot reach {spec.host_uri}: {reason}", err)
            return EXIT_CONNECTION
        try:
            plan = await provisioning.plan(spec)
        except PlanError as exc:
            say(str(exc), err)
            return EXIT_CONNECTION if not hosts[0].connected else EXIT_USAGE
        for note in plan.notes:
            say(note, err)
        if args.print_xml:
            if args.json:
                print_json({"name": spec.name, "uuid": plan.uuid, "os": plan.entry.short_id, "xml": plan.xml,
                            "steps": [s.title for s in plan.flow.children]}, out)
            else:
                print(plan.xml, file=out)
            return EXIT_OK
        root = await provisioning.run(plan)
        await services.tasks.flush()  # in the history (with its id) before it is printed
        print_tree([root], args.json, out)
        if root.status == SUCCEEDED:
            return EXIT_OK
        say(f"{root.title} failed: {root.error_message}" + (f"; {root.summary}" if root.summary else ""), err)
        failed = [leaf for leaf in _leaves(root) if leaf.error is not None]
        return EXIT_CONNECTION if any(host_was_away(leaf.error) for leaf in failed) else EXIT_FAILED

    try:
        return asyncio.run(plan_and_create())
    finally:
        close(services)


def _leaves(record):
    for child in record.children:
        if child.op:
            yield child
        else:
            yield from _leaves(child)
