"""Machine → Clone… and ``ecp-desktop clone``: a full copy of a shut-off or paused machine, or
linked clones (qcow2 overlays reading its disks) of a shut-off one; the base of a linked clone
is never deleted under it."""
import json
import shutil
import subprocess
import sys

import libvirt
import pytest

from ecp_desktop.services.actions.templates import PlanError, clone_pattern
from ecp_desktop.services.libvirt_xml.domain import Domain
from ecp_desktop.services.libvirt_xml.storage import Volume
from ecp_desktop.services.tasks.records import SUCCEEDED

from ...helpers import DATA, TEMPLATE_URI, TPL_UUID


def tpl(services):
    return services.inventory.machines[(TEMPLATE_URI, TPL_UUID)]


def volumes(run, host) -> dict[str, Volume]:
    def read(conn):
        pool = conn.storagePoolLookupByName("pool-a")
        return {v.name(): Volume.from_xml(v.XMLDesc(0)) for v in pool.listAllVolumes()}
    return run(host.call(read))


def definition(run, host, name: str) -> Domain:
    return run(host.call(lambda conn: Domain.from_xml(conn.lookupByName(name).XMLDesc(0))))


def test_a_paused_machine_is_copied_and_a_running_one_refused_in_words(run, services, template_host):
    run(template_host.call(lambda conn: conn.lookupByUUIDString(TPL_UUID).create()))
    with pytest.raises(PlanError, match="tpl is running; pause it or shut it down to copy it"):
        run(services.templates.plan(TEMPLATE_URI, TPL_UUID, 1, "tpl-clone"))
    run(template_host.call(lambda conn: conn.lookupByUUIDString(TPL_UUID).suspend()))
    with pytest.raises(PlanError, match="tpl is paused; shut it down to make linked clones"):
        run(services.templates.plan(TEMPLATE_URI, TPL_UUID, 1, "tpl-clone", linked=True))
    record = run(services.templates.run(run(services.templates.plan(TEMPLATE_URI, TPL_UUID, 1, "tpl-clone"))),
                 timeout=30)
    assert record.status == SUCCEEDED, record.outcome
    made = volumes(run, template_host)
    assert {"tpl-clone-vda.qcow2", "tpl-clone-vdb.img"} <= set(made)
    assert not made["tpl-clone-vda.qcow2"].backing_path  # a full copy stands alone
    state = run(template_host.call(lambda conn: conn.lookupByUUIDString(TPL_UUID).state()[0]))
    assert state == libvirt.VIR_DOMAIN_PAUSED  # the source stays as it was


def test_a_linked_clone_reads_the_machines_disks_and_keeps_them_from_deletion(run, services, template_host):
    record = run(services.templates.run(run(services.templates.plan(TEMPLATE_URI, TPL_UUID, 1, "thin",
                                                                     linked=True))), timeout=30)
    assert record.status == SUCCEEDED, record.outcome
    made = volumes(run, template_host)
    root, data = made["thin-vda.qcow2"], made["thin-vdb.qcow2"]
    assert (root.format, root.backing_path, root.backing_format) == ("qcow2", "/pool-a/tpl-root.qcow2", "qcow2")
    assert (data.format, data.backing_path, data.backing_format) == ("qcow2", "/pool-a/tpl-data.img", "raw")
    assert root.capacity == made["tpl-root.qcow2"].capacity
    disks = {d.target: d for d in definition(run, template_host, "thin").disks}
    assert (disks["vda"].source_file, disks["vda"].format) == ("/pool-a/thin-vda.qcow2", "qcow2")
    assert (disks["vdb"].source, disks["vdb"].format) == ("pool-a/thin-vdb.qcow2", "qcow2")

    # Deleting the source would break the clone: its disks are offered, never ticked, never deleted.
    plan = run(services.deleter.plan(tpl(services)))
    vda = next(d for d in plan.disks if d.target == "vda")
    assert not vda.ticked and vda.why_kept == "the base of linked clone volume thin-vda.qcow2"
    deleted = run(services.deleter.delete(plan, set()), timeout=30)
    assert deleted.status == SUCCEEDED
    assert {"tpl-root.qcow2", "tpl-data.img", "thin-vda.qcow2"} <= set(volumes(run, template_host))


def test_a_linked_clone_that_fails_is_undone_with_its_overlays(run, services, template_host):
    """The second machine's name is taken meanwhile: its define fails, and the flow removes
    the first machine and its overlays, leaving the source's disks alone."""
    before = set(volumes(run, template_host))
    flow = run(services.templates.plan(TEMPLATE_URI, TPL_UUID, 2, "thin-{n}", linked=True))
    run(template_host.call(lambda conn: conn.defineXML(
        "<domain type='test'><name>thin-2</name><memory>65536</memory><os><type>hvm</type></os></domain>")))
    record = run(services.templates.run(flow), timeout=30)
    assert record.status != SUCCEEDED
    assert set(volumes(run, template_host)) == before
    names = run(template_host.call(lambda conn: {d.name() for d in conn.listAllDomains()}))
    assert "thin-1" not in names and {"tpl", "thin-2"} <= names


def test_clone_makes_one_copy_named_after_the_machine(db_url, tmp_path):
    """``clone``: one full copy, MACHINE-clone (the next free name when taken); ``--linked``
    overlays."""
    assert clone_pattern("web", 1, {"web-clone", "web-clone-2"}) == "web-clone-3"
    assert clone_pattern("a{b}", 1, set()) == "a{{b}}-clone" and clone_pattern("web", 3, set()) == "web-clone-{n}"
    copy = tmp_path / "template.xml"
    shutil.copy(DATA / "template.xml", copy)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect",
                               f"test://{copy}", *args], capture_output=True, text=True, timeout=60)
    done = cli("clone", "tpl", "--json")
    assert done.returncode == 0, done.stderr
    [tree] = json.loads(done.stdout)
    assert tree["status"] == "succeeded" and tree["children"][0]["title"] == "Create tpl-clone"
    linked = cli("clone", "tpl", "--linked", "--name", "thin", "--json")
    assert linked.returncode == 0, linked.stderr
    [tree] = json.loads(linked.stdout)
    steps = [s["title"] for s in tree["children"][0]["children"]]
    assert steps == ["Define thin", "Make thin-vda.qcow2 over tpl-root.qcow2", "Make thin-vdb.qcow2 over tpl-data.img"]
    refused = cli("clone", "busy", "--linked")
    assert refused.returncode == 2 and "busy is running; shut it down to make linked clones" in refused.stderr
