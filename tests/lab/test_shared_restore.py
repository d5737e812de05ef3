"""Several app processes on one inventory restore the same host at once: every machine is
started exactly once (on SQLite and, in the PostgreSQL run, on the shared server).

The host is the test driver served by a real libvirtd (its state outlives each client),
so four OS processes see one host, as four operators' apps would.
"""
import json
import subprocess
import sys

import libvirt
import pytest

pytestmark = pytest.mark.lab
MACHINES = sorted(f"vm{i:03d}" for i in range(200))


def app(db_url, *args):
    return subprocess.Popen([sys.executable, "-m", "ecp_desktop", "--database", db_url, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_four_instances_restore_one_host_and_each_machine_starts_once(lab_daemon, db_url):
    uri = lab_daemon.uri("test")
    admin = libvirt.open(uri)
    try:
        for name in MACHINES:
            admin.defineXML(f"<domain type='test'><name>{name}</name><memory>65536</memory><vcpu>1</vcpu>"
                            "<os><type>hvm</type></os></domain>").create()  # running: to be restored
        setup = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", uri,
                                "setup", "--local", uri], capture_output=True, text=True, timeout=120)
        assert setup.returncode == 0, setup.stdout + setup.stderr
        for _round in range(3):  # three races: without the lock, one of them double-starts (seen here)
            for name in MACHINES:
                admin.lookupByName(name).destroy()  # "the host rebooted"
            racers = [app(db_url, "restore", "--json") for _ in range(4)]
            outputs = [r.communicate(timeout=120) for r in racers]
            for racer, (out, err) in zip(racers, outputs, strict=True):
                assert racer.returncode == 0, out + err
            results = [row for out, _err in outputs for row in json.loads(out)["machines"]
                       if row["name"] in MACHINES]
            started = sorted(r["name"] for r in results if r["outcome"] == "started")
            assert started == MACHINES  # each once, by one of the four
            assert {r["outcome"] for r in results} <= {"started", "already running"}
            assert sorted(d.name() for d in admin.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)
                          if d.name() in MACHINES) == MACHINES
    finally:
        for name in MACHINES:
            try:
                dom = admin.lookupByName(name)
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
            except libvirt.libvirtError:
                pass
        admin.close()
