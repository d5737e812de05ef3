"""Command line: the GUI by default, headless sub-commands for scripts and boot time."""
from __future__ import annotations

import argparse
import os
import sys

from .. import APP_NAME, __version__
from ..services.core.executors import leave_stuck_threads


EXIT_CODES = ("exit codes: 0 done; 1 some of the work failed (listed); 2 bad input (option, URI, database URL, "
              "name pattern); 3 a host could not be reached; a command's own help says which apply")


def _command(sub, name: str, help: str, **kwargs) -> argparse.ArgumentParser:  # noqa: A002
    """A sub-command whose own --help starts with what it does."""
    return sub.add_parser(name, help=help, description=help[:1].upper() + help[1:] + ".", **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecp-desktop",
        description=f"{APP_NAME}: manage libvirt virtual machines on one or many hosts. "
                    "Without a sub-command, opens the main window (a second launch on the same database "
                    "raises the first one's window).",
        epilog=f"{EXIT_CODES}. Run 'ecp-desktop COMMAND --help' for a command's options. "
               "Passwords are read from the system keyring, ~/.pgpass or PGPASSWORD, never from files of ours.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--database", metavar="URL",
                        help="inventory database: sqlite:///PATH (default: in the user data directory) "
                             "or postgresql://USER@HOST/DB; also $ECP_DESKTOP_DATABASE")
    parser.add_argument("--connect", metavar="URI", action="append", default=[],
                        help="libvirt connection to use for this command instead of the configured hosts "
                             "(repeatable), e.g. qemu:///system, qemu+ssh://root@host/system, test:///default; "
                             "not saved: setup (or the window's Add Connection) configures hosts")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    machines = _command(sub, "machines", help="list the machines of the hosts")
    machines.add_argument("--json", action="store_true", help="print JSON: name, uuid, host, state, persistent, ...")
    hosts = _command(sub, "hosts", help="list the hosts with their state, facts and maintenance mark (since when, "
                                         "set by whom)")
    hosts.add_argument("--json", action="store_true", help="print JSON: uri, label, state, facts, machines, "
                                                         "maintenance, maintenance_since, maintenance_by")
    setup = _command(sub, "setup", help="set up the inventory: tables, local host, connections, import "
                                         "(remembers the database and the connections)")
    setup.add_argument("--no-import", action="store_true", help="do everything but import existing machines")
    setup.add_argument("--local", metavar="URI", help="the connection that describes this host "
                                                     "(default: the first local hypervisor that answers)")
    from ..services.config.preferences import AT_START
    setup.add_argument("--restore-at-start", choices=AT_START,
                       help="which machines the window starts again when it opens: last (those that were "
                            "running), always (only those marked Always On), never (none); saved in the "
                            "preferences (default: left as it is; unanswered, the first window asks)")
    setup.add_argument("--json", action="store_true", help="print the summary as JSON")
    imp = _command(sub, "import", help="import the existing machines of the connections into the inventory")
    imp.add_argument("--json", action="store_true", help="print the summary as JSON")
    restore = _command(sub, "restore", help="start the machines that should run (at boot, after libvirtd); "
                                             "exit 0 all restored, 1 some failed, 3 a host unreachable (3 wins "
                                             "over 1; a host that goes away meanwhile is waited for up to "
                                             "$ECP_DESKTOP_RECONNECT_WAIT seconds, 30)")
    restore.add_argument("--dry-run", action="store_true", help="say what would start, start nothing")
    restore.add_argument("--json", action="store_true", help="print JSON")
    clone = _command(sub, "clone-template", help="create machines from a shut-off template machine: clones of "
                                                  "its disks in the same pool, new UUIDs and MAC addresses; "
                                                  "undone completely if a step fails")
    clone.add_argument("template", help="the template machine's name or UUID")
    clone.add_argument("--count", type=int, required=True, metavar="N", help="how many machines")
    clone.add_argument("--name-pattern", required=True, metavar="PATTERN",
                       help="names with {n} for the number (from 1), e.g. web-{n} or web-{n:03}; "
                            "a plain name for one machine")
    clone.add_argument("--start", action="store_true", help="start each machine once defined")
    clone.add_argument("--leave-out-disks", action="store_true",
                       help="define the copies without the disks that cannot be cloned (a file in no storage pool)")
    clone.add_argument("--host", metavar="URI", help="the template's host, when its name is on several hosts")
    clone.add_argument("--json", action="store_true", help="print the task tree as JSON")
    one = _command(sub, "clone", help="copy a shut-off or paused machine as Machine → Clone… does: full copies of "
                                      "its disks in their pools (or, --linked, overlays reading them), a new UUID "
                                      "and MAC addresses, named MACHINE-clone unless --name; undone completely if "
                                      "a step fails; exit 0 done, 1 failed, 2 bad input (a running machine, a "
                                      "taken name), 3 the host unreachable")
    one.add_argument("machine", metavar="MACHINE", help="the machine's name or UUID")
    one.add_argument("--name", metavar="NAME", help="the copy's name (with --count: a pattern with {n})")
    one.add_argument("--count", type=int, default=1, metavar="N", help="how many copies (default 1)")
    one.add_argument("--start", action="store_true", help="start each copy once defined")
    one.add_argument("--linked", action="store_true",
                     help="linked clones: each disk a qcow2 overlay on the machine's disk in the same pool (made "
                          "at once, holding only what the copy writes); the machine must be shut off and stay "
                          "so, as their base")
    one.add_argument("--host", metavar="URI", help="the machine's host, when its name is on several hosts")
    one.add_argument("--json", action="store_true", help="print the task tree as JSON")
    tasks = _command(sub, "tasks", help="the task history: recent tasks with their steps and rollbacks")
    tasks.add_argument("--limit", type=int, default=50, metavar="N", help="how many top-level tasks (default 50)")
    tasks.add_argument("--json", action="store_true", help="print JSON")
    tasks.add_argument("retry", nargs="*", metavar="retry ID",
                       help="undo again what the rollback of task ID left behind (any task of its tree); exit 0 "
                            "all undone, 1 something is still left (with why), 3 a host it needs is unreachable")
    interrupted = _command(sub, "finish-interrupted",
                           help="finish tasks a crashed instance left in flight (undo their steps); exit 3 if a host "
                                "they need is unreachable")
    interrupted.add_argument("--json", action="store_true", help="print JSON")
    migrate = _command(sub, "migrate", help="move a machine to another host: both hosts are checked first (a "
                                             "table of checks), then the best method they share runs; exit 0 "
                                             "done (or possible, with --check-only), 1 failed and cleaned up, "
                                             "3 a host unreachable, 4 refused (every reason listed)")
    migrate.add_argument("machine", help="the machine's name or UUID")
    migrate.add_argument("destination", metavar="DEST_URI", help="the destination host, e.g. qemu+ssh://host2/system")
    migrate.add_argument("--host", metavar="URI", help="the machine's host, when its name is on several hosts")
    migrate.add_argument("--check-only", action="store_true",
                         help="print the checks and every way of migrating, in the order it would be tried "
                              "(each with its verdict and reasons); migrate nothing")
    migrate.add_argument("--json", action="store_true", help="print the checks, the plan and the task as JSON")
    migrate.add_argument("--method", choices=["p2p", "managed", "offline", "copy-storage"],
                         help="insist on one method (default: the best one both hosts allow: live peer-to-peer, "
                              "live managed, offline for a shut-off machine, live with copy-storage)")
    migrate.add_argument("--keep-source", action="store_true",
                         help="keep the machine's definition on the source (default: remove it)")
    migrate.add_argument("--transient", action="store_true",
                         help="do not define the machine on the destination (it vanishes when it stops)")
    migrate.add_argument("--bandwidth", type=int, default=0, metavar="MIB_S", help="limit the stream (MiB/s)")
    migrate.add_argument("--max-downtime", type=int, default=0, metavar="MS",
                         help="longest pause allowed at the switch-over (milliseconds)")
    migrate.add_argument("--auto-converge", action="store_true",
                         help="slow the machine's CPUs down if its memory changes faster than it moves")
    migrate.add_argument("--postcopy", action="store_true",
                         help="after the first pass, run on the destination and fetch the rest on demand")
    migrate.add_argument("--tunnelled", action="store_true",
                         help="send the stream through the libvirt connection (peer-to-peer only)")
    migrate.add_argument("--migration-address", metavar="ADDR",
                         help="address the destination's hypervisor listens on for the stream")
    migrate.add_argument("--stall-timeout", type=float, default=30.0, metavar="S",
                         help="abort when no data moves for this long (default 30 s; 0: never)")
    evacuate = _command(sub, "evacuate", help="move every machine off a host (for maintenance): a plan first (for "
                                               "each machine the destination, the negotiated method, or why it "
                                               "cannot move; largest memory first, destinations balanced by free "
                                               "memory and vCPUs), then one task that marks the host in maintenance "
                                               "and migrates; exit 0 done (or possible, with --check-only), 1 failed "
                                               "(who is where is listed), 3 a host unreachable, 4 refused (every "
                                               "reason listed)")
    evacuate.add_argument("host", metavar="HOST_URI", help="the host to empty, e.g. qemu+ssh://host1/system")
    evacuate.add_argument("--to", metavar="URI", action="append", default=[],
                          help="a destination host (repeatable; default: every other connected host not in "
                               "maintenance)")
    evacuate.add_argument("--check-only", action="store_true", help="print the plan; move nothing")
    evacuate.add_argument("--on-failure", choices=["move-back", "keep-going"], default="move-back",
                          help="move-back (default): stop, migrate back the machines already moved and take the "
                               "host out of maintenance; keep-going: the failed machine stays, the others move")
    evacuate.add_argument("--parallel", type=int, default=2, metavar="N",
                          help="migrations at a time per destination (default 2)")
    evacuate.add_argument("--shut-off", choices=["move", "leave"], default="move",
                          help="shut-off machines: move their definition (offline, the default) or leave them")
    evacuate.add_argument("--json", action="store_true", help="print the plan, the task and where each machine is now "
                                                               "as JSON")
    maintenance = _command(sub, "maintenance", help="show, set or clear a host's maintenance mark in the inventory "
                                                     "(every instance on the database sees it; restore starts nothing "
                                                     "on a host in maintenance); exit 2 for a host not in the "
                                                     "inventory")
    maintenance.add_argument("host", metavar="HOST_URI", help="the host's connection URI")
    maintenance.add_argument("state", nargs="?", choices=["on", "off"], help="on: enter maintenance; off: leave it; "
                                                                             "none: show the mark")
    maintenance.add_argument("--return", dest="bring_back", action="store_true",
                             help="with off: also migrate back the machines the host's last evacuation moved away "
                                  "(a plan first; exit 1 when a migration failed, each machine then on one host)")
    maintenance.add_argument("--check-only", action="store_true", help="with off --return: print the plan; change "
                                                                        "nothing")
    maintenance.add_argument("--parallel", type=int, default=2, metavar="N",
                             help="with off --return: migrations at a time (default 2)")
    maintenance.add_argument("--json", action="store_true", help="print JSON: host, maintenance, by, since (with "
                                                                 "--return: the plan and the task)")
    from . import recover as cli_recover
    cli_recover.add_parser(sub)
    from . import delete as cli_delete
    cli_delete.add_parser(sub)
    from . import storage as cli_storage
    cli_storage.add_parsers(sub)
    from . import networks as cli_networks
    cli_networks.add_parser(sub)
    for command, words in (("start", "start"), ("shutdown", "shut down (ask the guest)"),
                           ("force-off", "force off (pull the plug)"), ("reboot", "reboot"),
                           ("pause", "pause"), ("resume", "resume")):
        action = _command(sub, command, help=f"{words} machines as the window's action does (the machine's lock, "
                                              "the task history); exit 0 all done, 1 some failed (each libvirt "
                                              "error listed), 2 bad input, 3 a host unreachable (3 wins over 1); "
                                              "a host that goes away meanwhile is waited for up to "
                                              "$ECP_DESKTOP_RECONNECT_WAIT seconds (30)")
        action.add_argument("machines", nargs="+", metavar="MACHINE", help="a machine's name or UUID")
        action.add_argument("--host", metavar="URI", help="the machines' host, when a name is on several hosts")
        action.add_argument("--json", action="store_true", help="print the task tree as JSON")
    snapshot = _command(sub, "snapshot", help="list, take, revert to or delete a machine's snapshots as the "
                                               "Snapshots tab does (the machine's lock, the task history); exit 0 "
                                               "done, 1 libvirt refused (its error on stderr), 2 bad input (a name, "
                                               "or a machine or snapshot not there), 3 the host unreachable")
    snapshot.add_argument("action", choices=["list", "create", "revert", "delete"],
                          help="list: the snapshot tree (NAME: that one and those below it); create: take snapshot "
                               "NAME (default: snapshot-DATE-TIME); revert: go back to NAME (the machine's state "
                               "since then is lost; not asked); delete: delete NAME")
    snapshot.add_argument("machine", metavar="MACHINE", help="the machine's name or UUID")
    snapshot.add_argument("name", nargs="?", metavar="NAME", help="the snapshot's name")
    snapshot.add_argument("--description", default="", metavar="TEXT", help="create: what the snapshot is for")
    snapshot.add_argument("--memory", action="store_true",
                          help="create: include a running machine's memory (QEMU's internal snapshots of a running "
                               "machine need it); without it, disks only")
    snapshot.add_argument("--external", action="store_true",
                          help="create: disks only, into new overlay files (hosts that make them: QEMU)")
    snapshot.add_argument("--children", action="store_true",
                          help="delete: the snapshots below NAME too (default: they move up to its parent)")
    snapshot.add_argument("--host", metavar="URI", help="the machine's host, when its name is on several hosts")
    snapshot.add_argument("--json", action="store_true",
                          help="print JSON: list: machine, host, snapshots (name, parent, current, created, "
                               "description, state, memory, disk_only, disks, children); else the task")
    rename = _command(sub, "rename", help="rename a shut-off machine (libvirt's own rename) as the window's F2 "
                                           "does; its inventory row, notes and history follow it; exit 0 done, 1 "
                                           "libvirt refused, 2 bad input (the name, or a running machine), 3 the "
                                           "host unreachable")
    rename.add_argument("machine", metavar="MACHINE", help="the machine's name or UUID")
    rename.add_argument("new_name", metavar="NEW-NAME", help="its new name (checked as a new machine's is)")
    rename.add_argument("--host", metavar="URI", help="the machine's host, when its name is on several hosts")
    rename.add_argument("--json", action="store_true", help="print the task as JSON")
    from .create import add_parser as add_create_parser
    add_create_parser(sub)
    notes = _command(sub, "notes", help="read or change a machine's notes in the inventory; a change made on "
                                         "an older version than the one stored is refused (exit 4) with the "
                                         "other text")
    notes.add_argument("machine", help="the machine's name or UUID")
    notes.add_argument("--set", metavar="TEXT", help="replace the notes with TEXT")
    notes.add_argument("--version", type=int, metavar="N",
                       help="the version TEXT was written against (from an earlier read); default: the current one")
    notes.add_argument("--host", metavar="URI", help="the machine's host, when its name is on several hosts")
    notes.add_argument("--json", action="store_true", help="print JSON: machine, host, saved, notes, version")
    desktop = _command(sub, "install-desktop", help="install the menu entry, AppStream metainfo and icons "
                                                     "(system-wide under /usr/local/share, or --user)")
    desktop.add_argument("--user", action="store_true", help="for this user only ($XDG_DATA_HOME, ~/.local/share)")
    desktop.add_argument("--prefix", metavar="DIR", help="install under DIR/share instead")
    desktop.add_argument("--uninstall", action="store_true", help="remove what install-desktop installed")
    from .edit import add_parser as add_edit_parser
    add_edit_parser(sub)
    from .history import add_parser as add_history_parser
    add_history_parser(sub)
    _command(sub, "gui", help="open the main window (the default)")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        code = _run(argv)
    except BrokenPipeError:
        # A script that piped us into `head` closed the pipe early: end quietly, as Unix tools
        # do. (Not by SIGPIPE's default action: libvirt's socket shares the signal, and a
        # write after a daemon restart would kill the command mid-work, silently.)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    leave_stuck_threads(code)  # (the work is saved and the output written)
    return code


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from ..services.config import credentials
    credentials.register_database_passwords()  # PostgreSQL passwords: the keyring, this session's answers
    from ..services.config.app_config import ConfigDamaged
    if args.command in (None, "gui"):
        from ..app import run_gui  # Qt is imported only for the GUI; it opens the database itself
        try:
            return run_gui(args.connect, args.database)
        except ConfigDamaged as exc:  # the window's own handling comes first; this is the last word
            from .common import say
            say(str(exc))
            return 2
    if args.command == "install-desktop":
        return _install_desktop(args)
    from .common import say
    from ..models.db import DatabaseUrlError
    from ..services.config import app_config
    from ..services.setup.startup import database_url, open_for_setup, open_inventory
    try:
        app_config.check()  # a damaged settings file stops us here: never another database instead
        url = database_url(args.database)
        # setup makes or repairs the tables itself, and reports what it did
        _open_asking_on_a_terminal(url, open_for_setup if args.command == "setup" else open_inventory)
    except (ConfigDamaged, DatabaseUrlError) as exc:
        say(str(exc))
        return 2
    from .common import start_headless_logging
    start_headless_logging()  # every command's libvirt errors reach the log, setup's and import's too
    if args.command in ("setup", "import"):
        from . import setup as cli_setup
        return cli_setup.run(args.command, url, args.connect, no_import=getattr(args, "no_import", False),
                             as_json=args.json, local=getattr(args, "local", None),
                             restore_at_start=getattr(args, "restore_at_start", None))
    if args.command == "restore":
        from . import restore as cli_restore
        return cli_restore.run(args.dry_run, args.json)
    if args.command in ("clone-template", "clone", "tasks", "finish-interrupted"):
        from . import tasks as cli_tasks
        if args.command == "clone":
            return cli_tasks.clone_template(args.machine, args.count, args.name, args.start, args.host,
                                            args.connect, args.json, linked=args.linked)
        if args.command == "clone-template":
            return cli_tasks.clone_template(args.template, args.count, args.name_pattern, args.start, args.host,
                                            args.connect, args.json, leave_out_disks=args.leave_out_disks)
        if args.command == "finish-interrupted":
            return cli_tasks.finish_interrupted_now(args.connect, args.json)
        if args.retry:
            return cli_tasks.retry(args.retry, args.connect, args.json)
        return cli_tasks.list_tasks(args.limit, args.json)
    if args.command in ("start", "shutdown", "force-off", "reboot", "pause", "resume"):
        from . import lifecycle as cli_lifecycle
        return cli_lifecycle.run(args.command, args.machines, args.host, args.connect, args.json)
    if args.command == "snapshot":
        from . import snapshot as cli_snapshot
        return cli_snapshot.run(args.action, args.machine, args.name, host_uri=args.host, connect=args.connect,
                                description=args.description, memory=args.memory, external=args.external,
                                children=args.children, as_json=args.json)
    if args.command == "create":
        from . import create as cli_create
        return cli_create.run_from_args(args)
    if args.command == "recover-host":
        from . import recover as cli_recover_host
        return cli_recover_host.run_from_args(args)
    if args.command == "delete":
        from . import delete as cli_delete_machines
        return cli_delete_machines.run_from_args(args)
    if args.command in ("pool", "volume"):
        from . import storage as cli_storage_commands
        return (cli_storage_commands.run_pool if args.command == "pool" else cli_storage_commands.run_volume)(args)
    if args.command == "network":
        from . import networks as cli_network_commands
        return cli_network_commands.run_network(args)
    if args.command == "rename":
        from . import lifecycle as cli_lifecycle
        return cli_lifecycle.rename(args.machine, args.new_name, args.host, args.connect, args.json)
    if args.command == "history":
        from . import history as cli_history
        return cli_history.run_from_args(args)
    if args.command == "notes":
        from . import notes as cli_notes
        return cli_notes.run(args.machine, args.host, args.set, args.version, args.json)
    if args.command == "migrate":
        from . import migrate as cli_migrate
        return cli_migrate.run(args.machine, args.destination, _migration_options(args), host_uri=args.host,
                               connect=args.connect, check_only=args.check_only, as_json=args.json)
    if args.command in ("evacuate", "maintenance"):
        from . import maintenance as cli_maintenance
        if args.command == "maintenance" and args.bring_back:
            if args.state != "off":
                print("ecp-desktop: --return goes with off", file=sys.stderr)
                return 2
            return cli_maintenance.leave_with_return(args.host, args.connect, check_only=args.check_only,
                                                     parallel=args.parallel, as_json=args.json)
        if args.command == "maintenance":
            return cli_maintenance.maintenance_mark(args.host, args.state, args.json)
        return cli_maintenance.evacuate(args.host, args.to, args.connect, check_only=args.check_only,
                                        on_failure=args.on_failure, parallel=args.parallel, shut_off=args.shut_off,
                                        as_json=args.json)
    if args.command == "edit":
        from . import edit as cli_edit
        return cli_edit.run_from_args(args)
    from . import listing as cli
    return cli.run(args.command, args.connect, args.json)


def _migration_options(args):
    from .migrate import METHOD_NAMES
    from ..services.migration.checks import MigrationOptions
    return MigrationOptions(
        persistent=not args.transient, undefine_source=not args.keep_source, bandwidth_mib=args.bandwidth,
        max_downtime_ms=args.max_downtime, auto_converge=args.auto_converge, postcopy=args.postcopy,
        tunnelled=args.tunnelled, migration_address=args.migration_address or "",
        method=METHOD_NAMES.get(args.method or "", ""), stall_timeout_s=args.stall_timeout)


def _open_asking_on_a_terminal(url: str, opener) -> None:
    """Open the inventory with ``opener``; on a terminal, ask once for a PostgreSQL password
    nobody stored."""
    from .common import terminal_text
    from ..models.db import DatabaseUrlError
    from ..services.config import credentials
    try:
        opener(url)
    except DatabaseUrlError as exc:
        if not (exc.needs_password and sys.stdin.isatty()):
            raise
        import getpass
        account = credentials.database_account(url)
        credentials.remember_for_session(account, getpass.getpass(f"Password for {terminal_text(account)}: "))
        opener(url)


def _install_desktop(args) -> int:
    from pathlib import Path

    from .common import say, terminal_text
    from ..services.config import desktop_install
    share = (Path(args.prefix) / "share" if args.prefix else desktop_install.user_share() if args.user
             else Path("/usr/local/share"))
    try:
        files = (desktop_install.uninstall if args.uninstall else desktop_install.install)(share)
    except PermissionError as exc:
        say(f"cannot write {exc.filename}: permission denied (use --user, or run as root)")
        return 1
    verb = "removed" if args.uninstall else "installed"
    for path in files:
        print(f"{verb} {terminal_text(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
