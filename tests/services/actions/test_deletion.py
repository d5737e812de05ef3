"""Delete a machine with the disks chosen: a plan that names each disk and who else uses it,
then a flow that undefines first and deletes volumes last; a running machine only with the
explicit choice; a shared disk never."""
import pytest

from ecp_desktop.services.actions.deletion import deletion_flow
from ecp_desktop.services.core.errors import Refusal
from ecp_desktop.services.tasks.records import SUCCEEDED

from ...helpers import TEMPLATE_URI, TPL_UUID

SHARE = ("<domain type='test'><name>sharer</name><memory>65536</memory><os><type>hvm</type></os><devices>"
         "<disk type='file' device='disk'><source file='/pool-a/tpl-data.img'/><target dev='vda' bus='virtio'/>"
         "</disk></devices></domain>")


def state(run, host):
    def read(conn):
        return (sorted(d.name() for d in conn.listAllDomains()),
                sorted(v.name() for v in conn.storagePoolLookupByName("pool-a").listAllVolumes()))
    return run(host.call(read))


def tpl(services):
    return services.inventory.machines[(TEMPLATE_URI, TPL_UUID)]


def test_the_plan_names_each_disk_and_ticks_only_those_no_other_machine_uses(run, services, template_host):
    run(template_host.call(lambda conn: conn.defineXML(SHARE)))
    plan = run(services.deleter.plan(tpl(services)))
    disks = {d.target: d for d in plan.disks}
    assert disks["vda"].source == "/pool-a/tpl-root.qcow2" and disks["vda"].ticked and disks["vda"].size > 0
    assert disks["vdb"].users == ["sharer"] and not disks["vdb"].ticked
    assert disks["vdb"].why_kept == "also a disk of sharer"
    cdrom = next(d for d in plan.disks if d.device == "cdrom")
    assert not cdrom.ticked and cdrom.why_kept == "in no storage pool of the host"
    with pytest.raises(Refusal, match="also a disk of sharer"):
        deletion_flow(plan, {"vda", "vdb"}, force_off=False)


def test_delete_undefines_then_deletes_the_chosen_volumes_and_the_row_goes(qtbot, run, services, template_host):
    before_domains, before_volumes = state(run, template_host)
    plan = run(services.deleter.plan(tpl(services)))
    record = run(services.deleter.delete(plan, {"vda"}), timeout=30)
    assert record.status == SUCCEEDED, record.outcome
    assert [s.op for s in record.children] == ["undefine_domain", "delete_volume"]
    domains, volumes = state(run, template_host)
    assert "tpl" not in domains and set(before_domains) - set(domains) == {"tpl"}
    assert set(before_volumes) - set(volumes) == {"tpl-root.qcow2"}  # vdb kept: it was not chosen
    qtbot.waitUntil(lambda: (TEMPLATE_URI, TPL_UUID) not in services.inventory.machines, timeout=3000)
    assert "<name>tpl</name>" in record.children[0].params["definition"]  # the history keeps it


def test_a_running_machine_is_deleted_only_with_the_explicit_choice(run, services, template_host):
    run(template_host.call(lambda conn: conn.lookupByUUIDString(TPL_UUID).create()))
    plan = run(services.deleter.plan(tpl(services)))
    assert plan.running
    with pytest.raises(Refusal, match="choose that explicitly"):
        run(services.deleter.delete(plan, set()))
    assert "tpl" in state(run, template_host)[0]
    record = run(services.deleter.delete(plan, set(), force_off=True), timeout=30)
    assert record.status == SUCCEEDED, record.outcome
    assert [s.op for s in record.children] == ["force_off_domain", "undefine_domain"]
    assert "tpl" not in state(run, template_host)[0]


def test_the_command_line_shows_first_and_deletes_with_yes(db_url, tmp_path):
    import json
    import shutil
    import subprocess
    import sys

    from ...helpers import DATA
    copy = tmp_path / "template.xml"  # a test:///FILE host starts afresh in each process
    shutil.copy(DATA / "template.xml", copy)
    uri = f"test://{copy}"

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", uri, *args],
                              capture_output=True, text=True, timeout=60)
    shown = cli("delete", "tpl", "--json")
    assert shown.returncode == 2 and "add --yes to delete" in shown.stderr
    [plan] = json.loads(shown.stdout)
    assert plan["machine"] == "tpl" and plan["would_delete"] == ["vda", "vdb"]
    refused = cli("delete", "tpl", "--disks", "vdx", "--yes")
    assert refused.returncode == 2 and "tpl has no disk vdx" in refused.stderr
    done = cli("delete", "tpl", "--disks", "vda", "--yes", "--json")
    assert done.returncode == 0, done.stderr
    [tree] = json.loads(done.stdout)
    assert tree["status"] == "succeeded" and [c["kind"] for c in tree["children"]] == ["undefine_domain",
                                                                                      "delete_volume"]
