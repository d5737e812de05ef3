"""A host's virtual networks on a real libvirtd (issue 32). The lab's hosts have no firewall
tool or dnsmasq (docs/architecture.md, the tests), so a network cannot start there: what is proven is that
a network the host cannot start is removed again, with the host's own words, and nothing is
left defined."""
from __future__ import annotations

import json

import libvirt
import pytest

from .template_lab import app

pytestmark = pytest.mark.lab


def test_a_network_the_host_cannot_start_is_removed_again_in_its_words(lab_daemon, db_url):
    uri = lab_daemon.uri("qemu")
    made = app(db_url, "--connect", uri, "network", "create", "labnat", "--json")
    assert made.returncode == 1, made.stdout + made.stderr
    [task] = json.loads(made.stdout)
    assert task["status"] == "failed" and "network labnat could not be started" in task["outcome"]
    assert "firewall" in task["outcome"] and "its definition removed" in task["outcome"]
    conn = libvirt.open(uri)
    try:
        assert "labnat" not in [n.name() for n in conn.listAllNetworks()]
    finally:
        conn.close()
