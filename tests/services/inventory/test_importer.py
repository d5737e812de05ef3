"""Import of existing domains: every state the test driver offers, awkward names, and
domains renamed or removed outside the app between two imports."""
import json

import libvirt

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.testing.hostgen import domain_xml
from ecp_desktop.services.setup.pipeline import HookRegistry
from ecp_desktop.services.setup.steps import SetupOptions, run_setup

from ...helpers.zoo import LONG_NAME, ZOO, write_zoo


def import_from(uri, **kw):
    report = run_setup(SetupOptions(connections=[uri], local_uri="test:///default", **kw), hooks=HookRegistry())
    assert report.ok, report.outcomes
    (result,) = [i for i in report.imports if i.uri == uri]
    return result


def rows(uri):
    with database.connection_context():
        return {m.name: m for m in schema.Machine.select().join(schema.Host).where(schema.Host.uri == uri)}


def test_every_domain_state_and_awkward_names_are_imported_with_their_facts(fresh_db, tmp_path):
    uri = write_zoo(tmp_path / "zoo.xml")
    result = import_from(uri)
    assert (result.found, result.added, result.skipped) == (len(ZOO), len(ZOO), [])
    stored = rows(uri)
    assert set(stored) == set(ZOO)
    states = {name: m.state for name, m in stored.items()}
    assert states["running-vm"] == "running" and states["paused-vm"] == "paused"
    assert states["shutoff-vm"] == "shutoff" and states["crashed-vm"] == "crashed"
    assert states["suspended-vm"] == "pmsuspended"
    assert not stored["transient-vm"].persistent and stored["running-vm"].persistent
    assert stored["saved-vm"].managed_save and not stored["shutoff-vm"].managed_save
    long_row = stored[LONG_NAME]
    assert len(long_row.name) == 300 and long_row.vcpus == 2 and long_row.memory_kib == 512 * 1024
    disks, nics = json.loads(long_row.disks), json.loads(long_row.interfaces)
    assert disks[0]["target"] == "vda" and disks[0]["source"].endswith(f"{LONG_NAME}.qcow2")
    assert nics[0]["source"] == "default" and nics[0]["mac"].startswith("52:54:00")
    assert stored["Ünïcode 名前 машина"].os_type == "hvm"


def test_domains_renamed_or_removed_outside_the_app_are_updated_or_marked_missing(fresh_db, tmp_path):
    path = tmp_path / "host.xml"
    uri = write_zoo(path)
    import_from(uri)
    # Outside the app: one machine renamed (same UUID), one removed.
    write_zoo(path, drop={"crashed-vm"}, renames={"running-vm": "running-vm-renamed"})
    result = import_from(uri)
    assert result.renamed == [("running-vm", "running-vm-renamed")]
    assert (result.added, result.updated, result.missing) == (0, 1, 1)
    stored = rows(uri)
    assert "running-vm" not in stored and stored["running-vm-renamed"].uuid.endswith("000000000000")
    assert stored["crashed-vm"].missing  # kept, with its history, not deleted
    # It comes back: the same row, no longer missing.
    write_zoo(path)
    back = import_from(uri)
    assert back.added == 0 and back.updated == 2 and not rows(uri)["crashed-vm"].missing


def test_live_changes_through_libvirt_are_reconciled(fresh_db):
    """On the shared test:///default host: a domain defined, renamed and undefined by
    another libvirt client between imports."""
    other = libvirt.open("test:///default")
    try:
        dom = other.defineXML(domain_xml("outsider", "44444444-4444-4444-4444-000000000001", 5, 1, 128, 1))
        first = import_from("test:///default")
        assert first.added == 2 and set(rows("test:///default")) == {"test", "outsider"}
        dom.rename("outsider-2")
        assert import_from("test:///default").renamed == [("outsider", "outsider-2")]
        dom.undefine()
        gone = import_from("test:///default")
        assert gone.missing == 1 and rows("test:///default")["outsider-2"].missing
    finally:
        for d in other.listAllDomains():
            if d.name() != "test":
                d.undefine()
        other.close()


def test_only_the_ticked_domains_are_imported_and_the_rest_are_reported_skipped(fresh_db, tmp_path):
    uri = write_zoo(tmp_path / "zoo.xml")
    wanted = {"33333333-3333-3333-3333-000000000000", "33333333-3333-3333-3333-000000000001"}
    result = import_from(uri, selection={uri: wanted})
    assert result.added == 2 and len(result.skipped) == len(ZOO) - 2
    assert all(reason == "not selected for import" for _n, reason in result.skipped)
    assert set(rows(uri)) == {"running-vm", "paused-vm"}


def test_no_import_sets_up_everything_but_the_machines(fresh_db, tmp_path):
    uri = write_zoo(tmp_path / "zoo.xml")
    report = run_setup(SetupOptions(connections=[uri], local_uri="test:///default", do_import=False),
                       hooks=HookRegistry())
    step = next(o for o in report.outcomes if o.name == "import")
    assert step.status == "skipped" and "--no-import" in step.message
    assert rows(uri) == {}
    with database.connection_context():
        assert schema.Host.get(schema.Host.uri == uri).autoconnect
