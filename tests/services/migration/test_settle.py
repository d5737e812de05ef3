"""Settling a machine on one host after a crash, when it leaves the source at that very moment:
a peer-to-peer migration that a killed app had started ends in the source's daemon by itself,
and the source's domain is gone between the lookup and the next call. That moment cannot be
provoked on purpose (the lab hit it once in CI), so the source here is a stand-in connection
whose domain is found and then reports libvirt's own "no domain" error; the destination is
libvirt's real test driver with the machine running there."""
from __future__ import annotations

import libvirt

from ecp_desktop.services.migration.settle import abort_and_wait, settle


class LeavingDomain:
    """A domain that was there at the lookup and is gone by the next call."""

    def _gone(self, *_args):
        error = libvirt.libvirtError("Domain not found: no domain with matching uuid")
        error.err = (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_FROM_QEMU, "Domain not found", 2, "", None, None, -1, -1)
        raise error
    state = isActive = jobInfo = abortJob = _gone


class SourceWhereItJustLeft:
    def lookupByUUIDString(self, _uuid):  # noqa: N802  (libvirt's name)
        return LeavingDomain()


def test_a_machine_that_leaves_the_source_meanwhile_is_settled_on_the_destination():
    destination = libvirt.open("test:///default")
    try:
        dom = destination.lookupByName("test")  # running there: it arrived
        uuid = dom.UUIDString()
        abort_and_wait(SourceWhereItJustLeft(), uuid)  # no job left to abort: returns, no error
        where, done = settle(SourceWhereItJustLeft(), destination, {"uuid": uuid, "name": "test"})
        assert (where, done) == ("destination", [])
    finally:
        destination.close()
