"""``ecp-desktop edit MACHINE [--memory MIB] [--vcpus N] [--add-disk SIZE_GIB[:POOL]] ...``: the
Edit Hardware dialog without a window, through the same plan and flow (the machine's lock,
the task history, the previous definition back if a step fails). ``--dry-run`` prints the
diff of the definition and when each change takes effect, and changes nothing."""
from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

from .text import table, terminal_text
from ..services.hardware.changes import (ChangeSet, DiskRemoval, DiskResize, ExistingDisk, NewDisk, NewNic,
                                         NicChange, NicRemoval)

HELP = ("change a machine's vCPUs, memory, disks, network interfaces, autostart, title or description as "
        "the Edit Hardware dialog does: the new definition (and, on a running machine, what the host can "
        "change while it runs) as one task whose failure puts the previous definition back; the output "
        "says which changes wait for the next boot; exit 0 applied, 1 failed and undone, 2 bad input, "
        "3 the host unreachable")


class BadOption(ValueError):
    """An option's value cannot be read; the message says which and why."""


def add_parser(sub) -> argparse.ArgumentParser:
    edit = sub.add_parser("edit", help=HELP, description=HELP[:1].upper() + HELP[1:] + ".")
    edit.add_argument("machine", metavar="MACHINE", help="the machine's name or UUID")
    edit.add_argument("--host", metavar="URI", help="the machine's host, when its name is on several hosts")
    edit.add_argument("--memory", type=int, metavar="MIB", help="its memory (MiB)")
    edit.add_argument("--max-memory", type=int, metavar="MIB", help="the most memory it may have (MiB)")
    edit.add_argument("--vcpus", type=int, metavar="N", help="its vCPUs")
    edit.add_argument("--max-vcpus", type=int, metavar="N", help="the most vCPUs it may have")
    edit.add_argument("--add-disk", action="append", default=[], metavar="SIZE_GIB[:POOL]",
                      help="a new qcow2 volume of SIZE_GIB in POOL (default: pool 'default') as a virtio disk "
                           "(repeatable)")
    edit.add_argument("--attach-disk", action="append", default=[], metavar="PATH|POOL/VOLUME",
                      help="an existing file or volume as a virtio disk (repeatable)")
    edit.add_argument("--remove-disk", action="append", default=[], metavar="TARGET",
                      help="remove disk TARGET (e.g. vdb; repeatable); its volume is kept")
    edit.add_argument("--delete-volume", action="store_true",
                      help="with --remove-disk: delete the removed disks' volumes too (last, after the edit "
                           "succeeded; their data cannot be brought back)")
    edit.add_argument("--resize-disk", action="append", default=[], metavar="TARGET:SIZE_GIB",
                      help="grow disk TARGET to SIZE_GIB (never shrinks; repeatable)")
    edit.add_argument("--add-nic", action="append", default=[], metavar="NETWORK",
                      help="a virtio interface on libvirt network NETWORK, or on a host bridge with "
                           "bridge:NAME (repeatable)")
    edit.add_argument("--remove-nic", action="append", default=[], metavar="MAC",
                      help="remove the interface with this MAC address (repeatable)")
    edit.add_argument("--link", action="append", default=[], metavar="MAC:up|down",
                      help="set an interface's link up or down (repeatable)")
    edit.add_argument("--autostart", choices=["on", "off"], help="start the machine when its host starts")
    edit.add_argument("--title", metavar="T", help="its title (one line; empty: none)")
    edit.add_argument("--description", metavar="D", help="its description (empty: none)")
    edit.add_argument("--dry-run", action="store_true",
                      help="print the diff of the definition and when each change takes effect; change nothing")
    edit.add_argument("--json", action="store_true",
                      help="print JSON: machine, host, diff, changes (change, when, why), deletes_volumes, steps; "
                           "applied: the task too")
    return edit


def _size(text: str, what: str) -> float:
    try:
        size = float(text)
    except ValueError:
        raise BadOption(f"{what}: {text!r} is not a size in GiB") from None
    if not 0 < size < 1 << 20:
        raise BadOption(f"{what}: {text!r} is not a size in GiB above 0")
    return size


def changes_from(args) -> ChangeSet:
    """The change set the options ask for (``BadOption`` for a value that cannot be read)."""
    changes = ChangeSet(vcpus=args.vcpus, max_vcpus=args.max_vcpus, memory_mib=args.memory,
                        max_memory_mib=args.max_memory, title=args.title, description=args.description)
    if args.autostart is not None:
        changes.autostart = args.autostart == "on"
    for value in args.add_disk:
        size, _, pool = value.partition(":")
        changes.new_disks.append(NewDisk(_size(size, "--add-disk"), pool or "default"))
    changes.new_disks += [ExistingDisk(source) for source in args.attach_disk]
    changes.removed_disks = [DiskRemoval(target, delete_volume=args.delete_volume) for target in args.remove_disk]
    if args.delete_volume and not args.remove_disk:
        raise BadOption("--delete-volume goes with --remove-disk TARGET")
    for value in args.resize_disk:
        target, colon, size = value.rpartition(":")
        if not colon or not target:
            raise BadOption(f"--resize-disk: {value!r} is not TARGET:SIZE_GIB")
        changes.resizes.append(DiskResize(target, _size(size, "--resize-disk")))
    for value in args.add_nic:
        kind, colon, name = value.partition(":")
        changes.new_nics.append(NewNic(name, "bridge") if colon and kind == "bridge" else NewNic(value))
    changes.removed_nics = [NicRemoval(mac) for mac in args.remove_nic]
    for value in args.link:
        mac, _, state = value.rpartition(":")
        if state not in ("up", "down") or not mac:
            raise BadOption(f"--link: {value!r} is not MAC:up or MAC:down")
        changes.nic_changes.append(NicChange(mac, link=state))
    return changes


def run_from_args(args, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Exit 0 applied (or planned, with --dry-run), 1 failed and undone, 2 bad input, 3 the host unreachable."""
    from .common import EXIT_USAGE, say
    try:
        changes = changes_from(args)
    except BadOption as exc:
        say(str(exc), err)
        return EXIT_USAGE
    if changes.is_empty():
        say("nothing to change: give at least one option (see ecp-desktop edit --help)", err)
        return EXIT_USAGE
    return run_hardware_plan(args, lambda hardware, machine: hardware.plan(machine, changes), args.dry_run, out, err)


def run_hardware_plan(args, planner, dry_run: bool, out: TextIO, err: TextIO) -> int:
    """Connect, find ``args.machine``, plan with ``planner(hardware, machine)`` (awaitable: a
    HardwarePlan, or ``PlanError`` naming every reason), print the plan and, unless ``dry_run``,
    run it as Edit Hardware's flow and print its task (``args.json``: as JSON). Exit 0 applied
    (or planned), 1 failed and undone, 2 bad input or refused, 3 the host unreachable."""
    # Imported here, not when the parser is built: `ecp-desktop --help` and the window stay light.
    from .common import (EXIT_CONNECTION, EXIT_FAILED, EXIT_OK, EXIT_USAGE, bad_uri, close, connect_hosts,
                         find_machine, headless_services, print_json, print_tree, print_while_read, say, task_json)
    from ..services.core.errors import HypervisorError, install_quiet_error_handler
    from ..services.hardware.service import HardwareService, PlanError
    from ..services.tasks.tree import host_was_away
    connect = list(getattr(args, "connect", None) or [])
    if bad_uri(connect + ([args.host] if args.host else []), err):
        return EXIT_USAGE
    install_quiet_error_handler()
    services = headless_services()
    hardware = HardwareService(services.inventory, services.engine)

    async def plan_and_edit() -> int:
        hosts = await connect_hosts(services, connect or ([args.host] if args.host else []), load=True)
        machine, code = find_machine(services, hosts, args.machine, args.host, err)
        if machine is None:
            return code
        try:
            planned = await planner(hardware, machine)
        except HypervisorError as error:
            say(f"cannot read the hardware of {machine.name}: {error.code_name}: {error.one_line()}", err)
            return EXIT_CONNECTION if host_was_away(error) else EXIT_FAILED
        except PlanError as exc:
            for problem in exc.problems:
                say(problem, err)
            return EXIT_USAGE
        if dry_run:
            print_while_read(lambda: _print_plan(planned, args.json, out), out)
            return EXIT_OK
        outcome = await hardware.run(planned)
        await services.tasks.flush()  # in the history (with its id) before it is printed
        record = outcome.record
        if args.json:
            deletion = task_json(outcome.deletion) if outcome.deletion is not None else None
            print_while_read(lambda: print_json({**planned.as_json(), "applied": outcome.applied,
                                                 "task": task_json(record), "deletion_task": deletion}, out), out)
        else:
            shown = [record] + ([outcome.deletion] if outcome.deletion is not None else [])
            print_while_read(lambda: (_print_plan(planned, False, out, diff=False),
                                      print_tree(shown, False, out)), out)
        if outcome.applied:
            if not args.json:
                print_while_read(lambda: print(terminal_text(outcome.words()), file=out), out)
            return EXIT_OK
        failed = next((c for c in _leaves(record) if c.error is not None), None)
        error = failed.error if failed is not None else None
        say(f"{record.title} failed and was undone: {record.outcome}", err)
        return EXIT_CONNECTION if host_was_away(error) else EXIT_FAILED

    try:
        return asyncio.run(plan_and_edit())
    finally:
        close(services)


def _leaves(record):
    for child in record.children:
        yield child
        yield from _leaves(child)


def _print_plan(planned, as_json: bool, out: TextIO, *, diff: bool = True) -> None:
    """A HardwarePlan: the diff, then a row per change (now or next boot, and why)."""
    if as_json:
        from .common import print_json
        print_json(planned.as_json(), out)
        return
    if diff:
        for line in planned.diff.splitlines():
            print(terminal_text(line), file=out)
        print(file=out)
    for line in table(("CHANGE", "WHEN", "WHY"), [(e.change, e.when, e.why) for e in planned.effects]):
        print(line, file=out)
    for volume in planned.deleted_volumes:
        print(terminal_text(f"deletes volume {volume} (its data cannot be brought back)"), file=out)
    print(file=out)
