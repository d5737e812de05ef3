"""A host's virtual networks on a real libvirtd (issue 32). The lab's hosts have no firewall
tool or dnsmasq (docs/architecture.md, the tests), so a network cannot start there: what is proven is that
a network the host cannot start is removed again, with the host's own words, and nothing is
left defined."""
from __future__ import annotations

import json

import libvirt
import pytest

from ecp_desktop.services.core.errors import HypervisorError
from ecp_desktop.services.networks.networks import inactive_network_in

from ..helpers import TINY_XML
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


def test_a_machine_started_on_a_stopped_network_is_recognised_for_start_network(lab_daemon, db_url):
    """The error dialog's Start Network offer rests on libvirt's own words for this failure."""
    uri = lab_daemon.uri("qemu")
    conn = libvirt.open(uri)
    try:
        conn.networkDefineXML("<network><name>off</name><bridge name='virbr7'/></network>")  # defined, not started
        conn.defineXML(TINY_XML.replace("<devices>", "<devices><interface type='network'><source network='off'/>"
                                                     "</interface>"))
    finally:
        conn.close()
    started = app(db_url, "--connect", uri, "start", "tiny1", "--json")
    assert started.returncode == 1, started.stdout + started.stderr
    assert "network 'off' is not active" in started.stdout + started.stderr
    conn = libvirt.open(uri)
    try:
        with pytest.raises(libvirt.libvirtError) as failed:
            conn.lookupByName("tiny1").create()
        assert inactive_network_in(HypervisorError.from_libvirt(failed.value, operation="start")) == "off"
    finally:
        conn.close()
