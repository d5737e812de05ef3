"""Guest types the host offers (setup's local host record) against a machine's type: the
details panel flags a machine the host does not offer, and restore reports it instead of
starting it. libvirt's test driver offers hvm and xen guests for i686 only; its host
files may still hold machines of any architecture, and it would start them."""
from __future__ import annotations

import json
import subprocess
import sys

from PySide6.QtCore import QSettings

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.services.hosts.capabilities import GuestType
from ecp_desktop.services.hosts.guest_support import from_json, to_json, unsupported_reason
from ecp_desktop.services.inventory import store
from ecp_desktop.services.setup.pipeline import HookRegistry
from ecp_desktop.services.setup.steps import SetupOptions, run_setup

HOST_XML = """<node>
  <cpu><nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>1</threads>
       <active>2</active><mhz>2400</mhz><model>i686</model></cpu>
  <memory>4194304</memory>
  <domain type="test">
    <name>native</name><uuid>33333333-0000-4000-8000-000000000001</uuid>
    <memory unit="MiB">128</memory><vcpu>1</vcpu>
    <os><type arch="i686">hvm</type></os>
    <test:runstate xmlns:test="http://libvirt.org/schemas/domain/test/1.0">5</test:runstate>
  </domain>
  <domain type="test">
    <name>foreign</name><uuid>33333333-0000-4000-8000-000000000002</uuid>
    <memory unit="MiB">128</memory><vcpu>1</vcpu>
    <os><type arch="aarch64" machine="virt">hvm</type></os>
    <test:runstate xmlns:test="http://libvirt.org/schemas/domain/test/1.0">5</test:runstate>
  </domain>
</node>
"""

QEMU_X86 = [GuestType("hvm", "x86_64", {"qemu", "kvm"}, {"pc", "q35", "pc-q35-7.2"}),
            GuestType("hvm", "i686", {"qemu"}, {"pc"})]


def test_the_reason_names_what_the_host_lacks():
    assert unsupported_reason(QEMU_X86, os_type="hvm", arch="x86_64", machine_type="q35", domain_type="kvm") is None
    assert "aarch64" in unsupported_reason(QEMU_X86, os_type="hvm", arch="aarch64")
    assert "xen" in unsupported_reason(QEMU_X86, os_type="xen", arch="x86_64")
    assert "'pc-i440fx-2.0'" in unsupported_reason(QEMU_X86, os_type="hvm", arch="x86_64",
                                                   machine_type="pc-i440fx-2.0")
    assert "not under kvm" in unsupported_reason(QEMU_X86, os_type="hvm", arch="i686", domain_type="kvm")
    # A host that lists no machine types (the test driver) refuses none: a flag means "no".
    assert unsupported_reason([GuestType("hvm", "i686", {"test"})], os_type="hvm", arch="i686",
                              machine_type="anything") is None


def test_the_host_record_form_round_trips_and_bad_rows_are_left_out():
    assert from_json(to_json(QEMU_X86)) == QEMU_X86
    assert from_json('[{"os_type": "hvm", "arch": "x86_64", "domain_types": ["kvm"]}, 7, {"arch": 1}]') == [
        GuestType("hvm", "x86_64", {"kvm"}, set())]  # a record from before machine types were kept
    assert from_json("not json") == [] and from_json('{"a": 1}') == []


def set_up_on(tmp_path, fresh_db) -> str:
    """Setup with the test host file as the local host: its record offers i686 guests only."""
    path = tmp_path / "host.xml"
    path.write_text(HOST_XML)
    uri = f"test://{path}"
    assert run_setup(SetupOptions(connections=[uri], local_uri=uri), hooks=HookRegistry()).ok
    return uri


def test_the_details_panel_flags_a_machine_the_host_does_not_offer(qtbot, run, tmp_path, fresh_db, event_loop_qt):
    from ecp_desktop.services.composition import build_services
    from ecp_desktop.services.setup.startup import connect_initial_hosts
    from ecp_desktop.views.window.main_window import MainWindow
    uri = set_up_on(tmp_path, fresh_db)
    services = build_services()
    window = MainWindow(services, QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    try:
        window.show()
        run(connect_initial_hosts(services.inventory, []))
        qtbot.waitUntil(lambda: window.machine_model.rowCount() == 2, timeout=5000)
        details = window.details

        def select(name):
            proxy = window.machine_proxy
            window.machines_view.clearSelection()
            window.machines_view.selectRow(next(r for r in range(proxy.rowCount())
                                                if proxy.index(r, 0).data() == name))
            qtbot.waitUntil(lambda: details.details is not None and details.details.name == name, timeout=5000)

        select("foreign")
        qtbot.waitUntil(lambda: details.guest_warning.isVisible(), timeout=5000)
        text = details.guest_warning.text()
        assert "Not offered by this host" in text and "aarch64" in text and "hvm/i686" in text
        assert details.guest_warning.textFormat().name == "PlainText"
        select("native")
        assert not details.guest_warning.isVisible()
        assert uri in services.inventory.hosts
    finally:
        window.close()
        services.shutdown()


def test_restore_reports_a_machine_the_host_does_not_offer_and_starts_the_others(tmp_path, fresh_db, db_url):
    uri = set_up_on(tmp_path, fresh_db)
    with database.connection_context():
        uuids = [m.uuid for m in schema.Machine.select()]
    store.set_desired(uri, uuids, "running")  # both ran before the host stopped
    result = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "restore", "--json"],
                            capture_output=True, text=True, timeout=60)
    summary = json.loads(result.stdout)
    outcomes = {m["name"]: m for m in summary["machines"]}
    assert outcomes["native"]["outcome"] == "started"
    foreign = outcomes["foreign"]
    assert foreign["outcome"] == "failed" and "aarch64" in foreign["error"]["message"]
    assert foreign["error"]["message"].startswith("not started:")
    assert foreign["error"]["code_name"] == "CONFIG_UNSUPPORTED"
    assert result.returncode == 1 and "foreign did not start: The machine's configuration uses something" \
        in result.stderr
