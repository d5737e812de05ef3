"""``ecp-desktop network ...``: Host → Networks… without a window, through the same service
(services/networks); the host is picked as for ``pool`` (cli/storage.py)."""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import TextIO

from ..services.core.errors import Refusal
from ..services.networks.service import NetworkSpec
from .common import EXIT_OK, print_json
from .storage import EXITS, add_host_and_json, finish, run_command
from .text import local_time, table

NETWORK_ACTIONS = ("list", "create", "start", "stop", "autostart", "delete", "leases", "fix-address",
                   "unfix-address", "fixed")
MODES = {"nat": "nat", "routed": "route", "isolated": "", "open": "open", "bridge": "bridge", "macvtap": "macvtap"}


def add_parser(sub) -> None:
    words = f"a host's virtual networks as Host → Networks… shows and changes them, and their DHCP leases; {EXITS}"
    network = sub.add_parser("network", help=words, description=words[:1].upper() + words[1:] + ".")
    network.add_argument("action", choices=NETWORK_ACTIONS)
    network.add_argument("name", nargs="?", metavar="NETWORK", help="the network (every action but list)")
    network.add_argument("--mode", default="nat", choices=list(MODES), help="create: nat (default), routed, "
                         "isolated, open; bridge (guests on the host's LAN through --bridge, an existing host "
                         "bridge) or macvtap (directly on --forward-dev)")
    network.add_argument("--subnet", default="", metavar="CIDR",
                         help="create: e.g. 192.168.100.0/24 (default: a free one, checked against the host's "
                              "other networks)")
    network.add_argument("--bridge", default="", metavar="NAME", help="create: the bridge (default: a free virbrN)")
    network.add_argument("--forward-dev", default="", metavar="DEV",
                         help="create: nat/routed through this device; macvtap: the device")
    network.add_argument("--dns-domain", default="", metavar="DOMAIN", help="create: the DNS domain guests get")
    network.add_argument("--no-dhcp", action="store_true", help="create: hand out no addresses")
    network.add_argument("--off", action="store_true", help="autostart: do not start with the host; create: the same")
    network.add_argument("--mac", default="", metavar="MAC",
                         help="fix-address, unfix-address: the interface's MAC (52:54:00:...)")
    network.add_argument("--ip", default="", metavar="ADDRESS", help="fix-address: the address DHCP always gives it")
    network.add_argument("--hostname", default="", metavar="NAME", help="fix-address: the name DHCP gives it")
    add_host_and_json(network)


def run_network(args, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    async def body(services, uri: str) -> int:
        networks = services.networks
        if args.action == "list":
            rows = await networks.read(uri, args.name or "")
            if args.json:
                print_json([n.as_json() for n in rows], out)
            else:
                header = ("NETWORK", "MODE", "STATE", "AUTOSTART", "BRIDGE", "RANGE", "DHCP", "MACHINES")
                print("\n".join(table(header, [
                    (n.name, n.mode_text, "active" if n.active else "inactive", "yes" if n.autostart else "no",
                     n.bridge or "-", ", ".join(n.ranges) or "-", ", ".join(n.dhcp) or "-",
                     ", ".join(f"{m} (running)" if m in n.running else m for m in n.machines) or "-")
                    for n in rows])), file=out)
            return EXIT_OK
        if not args.name:
            raise Refusal(f"network {args.action} needs the network's name")
        name = args.name
        if args.action == "leases":
            leases = await networks.leases(uri, name)
            if args.json:
                print_json([lease.as_json() for lease in leases], out)
            else:
                print("\n".join(table(("ADDRESS", "MAC", "HOSTNAME", "MACHINE", "EXPIRES"), [
                    (lease.address, lease.mac, lease.hostname or "-", lease.machine or "-",
                     local_time(datetime.fromtimestamp(lease.expires, timezone.utc)) if lease.expires else "never")
                    for lease in leases])), file=out)
            return EXIT_OK
        if args.action == "fixed":
            [row] = await networks.read(uri, name)
            if args.json:
                print_json([h.as_json() for h in row.static_hosts], out)
            else:
                print("\n".join(table(("MAC", "ADDRESS", "HOSTNAME", "MACHINE"), [
                    (h.mac, h.ip, h.hostname or "-", h.machine or "-") for h in row.static_hosts])), file=out)
            return EXIT_OK
        if args.action in ("fix-address", "unfix-address") and not args.mac:
            raise Refusal(f"network {args.action} needs --mac")
        if args.action == "fix-address":
            if not args.ip:
                raise Refusal("network fix-address needs --ip")
            record = await networks.add_static_host(uri, name, args.mac, args.ip, args.hostname)
        elif args.action == "unfix-address":
            record = await networks.remove_static_host(uri, name, args.mac)
        elif args.action == "create":
            spec = NetworkSpec(name, MODES[args.mode], args.subnet, args.bridge, args.forward_dev, not args.no_dhcp,
                               args.dns_domain)
            record = await networks.create(uri, spec, autostart=not args.off)
        elif args.action == "start":
            record = await networks.start(uri, name)
        elif args.action == "stop":
            record = await networks.stop(uri, name)
        elif args.action == "autostart":
            record = await networks.set_autostart(uri, name, not args.off)
        else:
            record = await networks.delete(uri, name)
        return finish(record, args.json, out, err)
    return run_command(args, body, out, err)
