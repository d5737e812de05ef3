"""Every registered operation's undo, run from forged task rows: none changes anything.

A forged row is what anyone who can write the inventory can make: a step "succeeded" whose
parameters aim at a machine, a snapshot or a volume this app never touched, with an empty
mark, a guessed one, or a mark some other flow really put on the machine (read from its row)
but other data. Each undo must refuse (``Refusal``, in words) or find nothing to do; the
host must be exactly as it was. An operation added without a libvirt-anchored check fails
here: the test lists the registry, not a hand-made list.
"""
from __future__ import annotations

import libvirt
import pytest

from ecp_desktop.services.core.errors import Refusal
from ecp_desktop.services.libvirt_xml.marks import seal_undo, undo_digest
from ecp_desktop.services.tasks.operations import OPERATIONS, UNATTENDED

from ...helpers import TEMPLATE_URI, TPL_UUID

BUSY_UUID = "1c0ffee0-0000-4000-8000-000000000002"
NIC = "<interface type='network'><mac address='52:54:00:aa:00:01'/><source network='default'/></interface>"
HOST_DISK = "<disk type='block' device='disk'><source dev='/dev/sda'/><target dev='vdz' bus='virtio'/></disk>"
COPIED_MARK = "a-mark-another-flow-really-set"

# Every operation the app registers (the composition root's ``register_operations``): a new
# one must be added here with its forged row, or this list fails first.
REGISTERED = {
    "clone_volume", "create_volume", "define_domain", "start_domain", "create_snapshot", "set_autostart",
    "redefine_domain", "attach_device", "detach_device", "update_device", "set_vcpus_live", "set_memory_live",
    "set_metadata_live", "resize_disk", "delete_volume", "migrate_domain", "precreate_volume",
    "evacuate_domain", "upload_volume", "make_seed_volume", "force_off_domain", "undefine_domain",
}


def forged_params(op: str, mark: str, tpl_xml: str) -> dict:
    """A row aimed at what the host has: the running template machine ``tpl`` (its disks, its
    NIC, its snapshot ``keep-me``), the running ``busy``, a base image no machine uses."""
    machine = {"uuid": TPL_UUID, "name": "tpl", "mark": mark, "existed_before": False, "was_active": False}
    volume = {"pool": "pool-a", "name": "base.iso", "source": "tpl-root.qcow2", "capacity": 1, "allocation": 0,
              "format": "raw", "uuid": TPL_UUID, "mark": mark, "existed_before": False,
              "source_uri": TEMPLATE_URI, "path": "/pool-a/base.iso", "local_path": "/etc/shadow", "size": 1}
    migration = {**machine, "source_uri": TEMPLATE_URI, "dest_uri": "test:///default", "method": "live",
                 "flags": libvirt.VIR_MIGRATE_LIVE, "ladder": [], "methods": [], "dest_had_definition": False,
                 "persistent": True, "policy": "move-back", "was_paused": False}
    hostile = tpl_xml.replace("<devices>", f"<devices>{HOST_DISK}", 1)
    return {
        "define_domain": {**machine, "uuid": BUSY_UUID, "name": "busy", "xml": tpl_xml},
        "start_domain": machine,
        "create_snapshot": {**machine, "snapshot": "keep-me"},
        "set_autostart": {**machine, "value": False, "previous": True},
        "redefine_domain": {**machine, "xml": tpl_xml, "previous": hostile},
        "attach_device": {**machine, "xml": NIC, "key": "52:54:00:aa:00:01"},
        "detach_device": {**machine, "xml": HOST_DISK, "plugged": HOST_DISK, "key": "vdz"},
        "update_device": {**machine, "xml": NIC, "key": "52:54:00:aa:00:01",
                          "previous": NIC.replace("</interface>", "<link state='down'/></interface>")},
        "set_vcpus_live": {**machine, "value": 2, "previous": 1},
        "set_memory_live": {**machine, "kib": 2**20, "previous": 65536},
        "set_metadata_live": {**machine, "field": "title", "value": "x", "previous": "pwned"},
        "resize_disk": {**machine, "target": "vda", "pool": "pool-a", "volume": "tpl-root.qcow2",
                        "capacity": 2**40, "live": True},
        "delete_volume": {**machine, "pool": "pool-a", "volume": "base.iso"},
        "force_off_domain": machine,
        "undefine_domain": {**machine, "definition": tpl_xml},
        "migrate_domain": migration,
        "evacuate_domain": migration,
    }.get(op, volume)


def host_state(conn: libvirt.virConnect) -> dict:
    """What a user could notice of the host: every machine's definitions (live and saved),
    state, autostart, snapshots, memory and vCPUs; every volume."""
    state = {}
    for dom in conn.listAllDomains():
        active = dom.isActive()
        state[dom.UUIDString()] = (
            dom.XMLDesc(0), dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE), active, dom.autostart(),
            sorted(dom.snapshotListNames()), tuple(dom.info()[:4]))  # (not its CPU time)
    for pool in conn.listAllStoragePools():
        state[pool.name()] = sorted(v.name() for v in pool.listAllVolumes())
    return state


@pytest.fixture
def destination():
    """The demo host as a migration's destination holding a shut-off copy of ``tpl`` that no
    migration made (what a forged migration row's undo would undefine)."""
    conn = libvirt.open("test:///default")
    copy = conn.defineXML(f"<domain type='test'><name>tpl-copy</name><uuid>{TPL_UUID}</uuid>"
                          "<memory>65536</memory><os><type>hvm</type></os></domain>")
    yield conn
    copy.undefine()
    conn.close()


@pytest.fixture
def target(services, run, template_host, destination):
    """The template host as a forged row would find it: ``tpl`` running with a snapshot,
    ``base.iso`` in the pool used by no machine, and ``tpl`` carrying a seal another flow
    really made (its mark is readable in that flow's row)."""
    from ecp_desktop.services.config import approved_hosts
    approved_hosts.approve([TEMPLATE_URI])  # this user's own host: a precreate's undo may open it

    def arrange(conn):
        dom = conn.lookupByUUIDString(TPL_UUID)
        dom.snapshotCreateXML("<domainsnapshot><name>keep-me</name></domainsnapshot>", 0)
        dom.create()
        conn.storagePoolLookupByName("pool-a").createXML(
            "<volume><name>base.iso</name><capacity>1048576</capacity></volume>", 0)
        seal_undo(dom, COPIED_MARK, "set_vcpus_live", undo_digest("set_vcpus_live", {"uuid": TPL_UUID,
                                                                                      "previous": 4}))
        return dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    tpl_xml = run(template_host.call(arrange))
    return template_host, tpl_xml


def test_the_registry_is_the_list_this_test_forges_rows_for(services):
    assert set(OPERATIONS) == REGISTERED


@pytest.mark.parametrize("mark", ["", "guessed", COPIED_MARK])
@pytest.mark.parametrize("op", sorted(REGISTERED))
def test_a_forged_row_makes_no_undo_change_anything(services, run, target, destination, op, mark):
    host, tpl_xml = target
    params = {**forged_params(op, mark, tpl_xml), UNATTENDED: True}
    undo = OPERATIONS[op]
    before = run(host.call(host_state)), host_state(destination)

    def attempt(conn):
        try:
            return undo.compensate(conn, params)
        except Refusal as refusal:
            return f"refused: {refusal}"
    words = run(host.call(attempt), timeout=30)
    assert (run(host.call(host_state)), host_state(destination)) == before, f"{op}'s undo changed a host: {words}"
    assert words  # in words: refused, or nothing of its own to undo


def test_a_real_seal_with_the_rows_data_changed_is_refused_and_the_real_one_is_undone(services, run, target):
    """The mark alone is not enough: the seal binds the data the undo acts with. The step's
    own parameters undo it; the same row with its memory figure changed does not."""
    host, _xml = target
    step = OPERATIONS["set_memory_live"]
    sealed = run(host.call(lambda conn: step.prepare(conn, {"uuid": TPL_UUID, "name": "tpl", "kib": 2**19})))
    run(host.call(lambda conn: step.execute(conn, sealed)))
    changed = {**sealed, "previous": 65536}
    with pytest.raises(Refusal, match="does not carry this step's seal"):
        run(host.call(lambda conn: step.compensate(conn, changed)))
    assert run(host.call(lambda conn: conn.lookupByUUIDString(TPL_UUID).info()[2])) == 2**19
    run(host.call(lambda conn: step.compensate(conn, sealed)))
    assert run(host.call(lambda conn: conn.lookupByUUIDString(TPL_UUID).info()[2])) == sealed["previous"]
    # Undone once: the seal went with it, so the same row cannot run it again.
    with pytest.raises(Refusal):
        run(host.call(lambda conn: step.compensate(conn, sealed)))


def test_a_flow_that_ends_takes_only_its_own_seals_and_a_revert_brings_back_none(services, run, template_host):
    """Two flows on one machine: one ends (its seals go), the other's (waiting for its Retry
    Rollback) stay. A snapshot taken while a seal was on the machine does not bring it back
    when reverted to: the machine keeps the seals it has now, no others."""
    from ecp_desktop.services.libvirt_xml.marks import end_flow_marks, flow_state, has_seal, put_flow_state

    def check(conn):
        dom = conn.lookupByUUIDString(TPL_UUID)
        seal_undo(dom, "flow-a", "set_autostart", "aa")
        seal_undo(dom, "flow-b", "set_autostart", "bb")
        end_flow_marks(dom, "flow-a")
        kept = (has_seal(dom, "flow-a", "set_autostart", "aa"), has_seal(dom, "flow-b", "set_autostart", "bb"))
        dom.snapshotCreateXML("<domainsnapshot><name>sealed</name></domainsnapshot>", 0)
        end_flow_marks(dom, "flow-b")
        flows = flow_state(dom)
        dom.revertToSnapshot(dom.snapshotLookupByName("sealed", 0), 0)
        came_back = has_seal(dom, "flow-b", "set_autostart", "bb")  # what libvirt alone does
        put_flow_state(dom, flows)  # what the app's revert does (services/snapshots)
        return kept, came_back, has_seal(dom, "flow-b", "set_autostart", "bb")
    kept, came_back, after = run(template_host.call(check))
    assert kept == (False, True)
    assert came_back and not after


def test_a_flow_interrupted_before_the_seals_is_still_undone(services, run, template_host):
    """A machine the previous version defined carries only its flow's mark (no seal): the
    define's undo of that flow's row still removes it; a forged row with another mark does not."""
    from ecp_desktop.services.libvirt_xml.marks import with_flow_mark
    xml = with_flow_mark("<domain type='test'><name>old-flow</name><uuid>0ecd0000-0000-4000-8000-0000000000dd"
                         "</uuid><memory>65536</memory><os><type>hvm</type></os></domain>", "old-mark")
    run(template_host.call(lambda conn: conn.defineXML(xml)))
    row = {"uuid": "0ecd0000-0000-4000-8000-0000000000dd", "name": "old-flow", "mark": "old-mark",
           "existed_before": False}
    undo = OPERATIONS["define_domain"]
    with pytest.raises(Refusal):
        run(template_host.call(lambda conn: undo.compensate(conn, {**row, "mark": "other"})))
    assert run(template_host.call(lambda conn: undo.compensate(conn, row))) == "undefined old-flow"
