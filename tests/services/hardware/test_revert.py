"""Revert to a recorded version on the test driver: after an Edit Hardware memory change,
reverting to version 1 runs as an Edit Hardware flow, gives version 1's normalised definition
back and records it as a new version by this app; a version with a device (or a disk setting) Edit
Hardware does not write, or a disk another machine now uses, is refused with the reason and changes nothing."""
import json

import libvirt
import pytest

from ecp_desktop.services.hardware.changes import ChangeSet
from ecp_desktop.services.hardware.revert import plan_machine_revert
from ecp_desktop.services.hardware.service import HardwareService, PlanError
from ecp_desktop.services.history import versions as history
from ecp_desktop.services.inventory import store
from ecp_desktop.services.inventory.definitions import record_found
from ecp_desktop.services.inventory.importer import import_host

from ...cli.test_commands import cli
from ..history.test_history import conn, host, host_uri, on_db  # noqa: F401  (fixtures)
from .test_hardware import OFF01, RUN01, machine

INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE


def _definition(run, host, uuid):  # noqa: F811
    return run(host.call(lambda c: c.lookupByUUIDString(uuid).XMLDesc(INACTIVE)))


def _define_outside(run, host, xml):  # noqa: F811
    """A definition written by no flow of the app (as `virsh define` would)."""
    run(host.call(lambda c: c.defineXML(xml)))


def _first_version(run, services, host, uri):  # noqa: F811
    on_db(services, record_found, uri, OFF01, _definition(run, host, OFF01))
    (first,) = on_db(services, history.versions, uri, OFF01)
    return first


def test_revert_to_version_1_gives_its_definition_back_as_a_version_by_this_app(run, services, host, host_uri):  # noqa: F811
    first = _first_version(run, services, host, host_uri)
    hardware = HardwareService(services.inventory, services.engine)
    off01 = machine(services, host_uri, "off01")
    edited = run(hardware.run(run(hardware.plan(off01, ChangeSet(memory_mib=512, max_memory_mib=512)))))
    assert edited.applied, edited.record.outcome

    planned = run(plan_machine_revert(hardware, off01, first))
    assert planned.flow.title == "Revert off01 to version 1"
    assert '-  <memory unit="KiB">524288</memory>' in planned.diff
    outcome = run(hardware.run(planned))
    assert outcome.applied, outcome.record.outcome

    newest, *_ = on_db(services, history.versions, host_uri, OFF01)
    assert (newest.number, newest.origin, newest.task_id) == (3, history.APP, outcome.record.db_id)
    assert newest.summary == "memory 512 MiB → 256 MiB"
    assert newest.digest == first.digest
    assert on_db(services, history.text, newest.id) == on_db(services, history.text, first.id)


def test_a_version_with_a_device_edit_hardware_does_not_write_is_refused(run, services, host, host_uri):  # noqa: F811
    first = _first_version(run, services, host, host_uri)
    # Outside the app: a watchdog added, disk vda given a serial number, the memory doubled.
    xml = _definition(run, host, OFF01)
    _define_outside(run, host, xml.replace("</devices>", "<watchdog model='i6300esb' action='reset'/></devices>")
                    .replace("</disk>", "<serial>S1</serial></disk>", 1)
                    .replace("<memory unit='KiB'>262144</memory>", "<memory unit='KiB'>524288</memory>"))
    before = _definition(run, host, OFF01)
    on_db(services, record_found, host_uri, OFF01, before)
    hardware = HardwareService(services.inventory, services.engine)
    with pytest.raises(PlanError) as refused:
        run(plan_machine_revert(hardware, machine(services, host_uri, "off01"), first))
    assert refused.value.problems == ["version 1 differs in device <watchdog>, which Edit Hardware does not write",
                                      "disk vda differs in settings Edit Hardware does not write"]
    assert _definition(run, host, OFF01) == before
    assert len(on_db(services, history.versions, host_uri, OFF01)) == 2


def test_a_version_whose_disk_another_machine_now_uses_is_refused(run, services, host, host_uri):  # noqa: F811
    first = _first_version(run, services, host, host_uri)
    # Outside the app: off01's data disk taken away and given to run01.
    off01 = _definition(run, host, OFF01)
    start = off01.rindex("<disk", 0, off01.index("off01-data.img"))
    end = off01.index("</disk>", start) + len("</disk>")
    data_disk = off01[start:end].replace("dev='vdb'", "dev='vdc'")
    _define_outside(run, host, off01[:start] + off01[end:])
    run01 = _definition(run, host, RUN01)
    _define_outside(run, host, run01.replace("</devices>", data_disk + "</devices>", 1))
    before = _definition(run, host, OFF01)
    hardware = HardwareService(services.inventory, services.engine)
    with pytest.raises(PlanError) as refused:
        run(plan_machine_revert(hardware, machine(services, host_uri, "off01"), first))
    assert refused.value.problems == ["/images/off01-data.img is a disk of run01; two machines writing one disk "
                                      "corrupt it"]
    assert _definition(run, host, OFF01) == before


def test_the_history_command_reverts_checks_only_and_refuses(db, db_url, conn, host_uri):  # noqa: F811
    import_host(conn, store.ensure_host(host_uri, "", False), host_uri)
    xml = conn.lookupByUUIDString(OFF01).XMLDesc(INACTIVE)
    history.record(host_uri, OFF01, xml.replace("</uuid>", "</uuid><title>kept</title>"), history.APP)
    history.record(host_uri, OFF01, xml.replace("</devices>", "<watchdog model='i6300esb'/></devices>"),
                   history.APP)
    # The command's own connection reads off01 as the host file has it: version 1, untitled.
    checked = cli("--connect", host_uri, "history", "off01", "--revert", "2", "--check-only", db_url=db_url)
    assert checked.returncode == 0, checked.stderr
    assert "+  <title>kept</title>" in checked.stdout.splitlines() and "title" in checked.stdout
    assert len(history.versions(host_uri, OFF01)) == 3

    applied = cli("--connect", host_uri, "history", "off01", "--revert", "2", "--json", db_url=db_url)
    assert applied.returncode == 0, applied.stderr
    data = json.loads(applied.stdout)
    assert data["applied"] and data["task"]["title"] == "Revert off01 to version 2"
    newest = history.versions(host_uri, OFF01)[0]
    assert (newest.number, newest.origin, newest.task_id) == (4, history.APP, data["task"]["id"])
    assert newest.digest == history.versions(host_uri, OFF01)[2].digest  # version 2's definition

    refused = cli("--connect", host_uri, "history", "off01", "--revert", "3", db_url=db_url)
    assert refused.returncode == 2 and "version 3 differs in device <watchdog>" in refused.stderr, refused.stderr
    unknown = cli("--connect", host_uri, "history", "off01", "--revert", "9", db_url=db_url)
    assert unknown.returncode == 2 and "off01 has no version 9 (it has versions 1 to 4)" in unknown.stderr
    assert cli("history", "off01", "--check-only", db_url=db_url).returncode == 2
    assert len(history.versions(host_uri, OFF01)) == 4


def test_a_version_with_another_name_is_refused_with_where_names_change(run, services, host, host_uri):  # noqa: F811
    xml = _definition(run, host, OFF01)
    on_db(services, record_found, host_uri, OFF01, xml)
    renamed = xml.replace("<name>off01</name>", "<name>old01</name>")
    on_db(services, lambda: history.record(host_uri, OFF01, renamed, history.APP))
    on_db(services, lambda: history.record(host_uri, OFF01, xml, history.APP))
    _now, old_name, _first = on_db(services, history.versions, host_uri, OFF01)
    hardware = HardwareService(services.inventory, services.engine)
    with pytest.raises(PlanError) as refused:
        run(plan_machine_revert(hardware, machine(services, host_uri, "off01"), old_name))
    assert refused.value.problems == ["version 2 differs in the machine's name (Rename… changes it), which Edit "
                                      "Hardware does not write"]
