"""Machine → New Machine… walked as a user does (issue 22): the defaults make Next, Next,
Create work; the name is checked against the host as it is typed; a cloud image asks who may
log in and its failure (the test driver cannot write the seed) is undone. On libvirt's test
driver, through a host file of this test's own."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QWidget, QWizard

from ecp_desktop.services.libvirt_xml.domain import parse_domain
from ecp_desktop.services.provisioning.spec import SOURCES
from ecp_desktop.services.tasks.records import FAILED, SUCCEEDED
from ecp_desktop.views.new_machine.new_machine_pages import CLOUD, HARDWARE, OS, SOURCE, SUMMARY
from ecp_desktop.views.new_machine.new_machine_wizard import open_new_machine_wizard

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC8hbHsa9bm0sw2M4ZYy0kv0Xn1r3DQfN3lhD3gnpJ5B me@laptop"
HOST_XML = """<node>
  <domain type='test'><name>old</name><uuid>33333333-0000-4000-8000-000000000001</uuid>
    <memory unit='MiB'>256</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>
  <network><name>default</name><bridge name='virbr0'/><forward mode='nat'/>
    <ip address='192.168.122.1' netmask='255.255.255.0'/></network>
  <pool type='dir'>
    <name>pool-a</name><uuid>35bb2ad9-388a-cdfe-461a-b8907f6e5302</uuid>
    <target><path>/pool-a</path></target>
    <volume type='file'><name>cloud.qcow2</name><capacity unit='GiB'>2</capacity>
      <allocation unit='MiB'>400</allocation><target><format type='qcow2'/></target></volume>
    <volume type='file'><name>installer.iso</name><capacity unit='MiB'>600</capacity>
      <allocation unit='MiB'>600</allocation><target><format type='raw'/></target></volume>
  </pool>
</node>
"""


@pytest.fixture
def host(services, run, tmp_path):
    path = tmp_path / "wizard-host.xml"
    path.write_text(HOST_XML)
    host = services.inventory.add_host(f"test://{path}")
    assert run(services.inventory.connect_host(host))
    run(services.inventory.load_host(host))
    return host


@pytest.fixture
def wizard(qtbot, services, host):
    parent = QWidget()
    qtbot.addWidget(parent)
    wizard = open_new_machine_wizard(parent, services.provisioning, host.uri)
    qtbot.waitUntil(lambda: wizard.offer is not None and not wizard.busy(), timeout=10000)
    yield wizard  # (the parent lives as long: the wizard is its child)


def state(run, host):
    def read(conn):
        return ({d.name() for d in conn.listAllDomains()},
                {v.name() for v in conn.storagePoolLookupByName("pool-a").listAllVolumes()})
    return run(host.call(read))


def next_page(qtbot, wizard, expected: int) -> None:
    button = wizard.button(QWizard.WizardButton.NextButton)
    qtbot.waitUntil(button.isEnabled, timeout=5000)
    button.click()
    assert wizard.currentId() == expected


def create(qtbot, wizard):
    qtbot.waitUntil(lambda: wizard.plan is not None, timeout=10000)
    finish = wizard.button(QWizard.WizardButton.FinishButton)
    assert finish.text() == "Create" and finish.isEnabled()
    finish.click()
    qtbot.waitUntil(lambda: wizard.creation is not None and wizard.creation.done(), timeout=30000)
    return wizard.creation.result()


def test_next_next_create_makes_a_machine_from_the_pools_installer(qtbot, run, host, wizard):
    source = wizard.page(SOURCE)
    assert source.name.text() == "new-machine-1" and source.source() == "iso"
    assert source.path.text() == "/pool-a/installer.iso"  # found in the host's pool
    next_page(qtbot, wizard, OS)
    assert wizard.page(OS).entry().short_id == "generic"
    next_page(qtbot, wizard, HARDWARE)  # an ISO asks nobody's login
    assert wizard.page(HARDWARE).pool.currentText() == "pool-a"
    next_page(qtbot, wizard, SUMMARY)
    qtbot.waitUntil(lambda: wizard.plan is not None, timeout=10000)
    summary = wizard.page(SUMMARY)
    assert summary.xml.isReadOnly() and "<name>new-machine-1</name>" in summary.xml.toPlainText()
    assert summary.steps.text().startswith("Steps: Define new-machine-1 → ") and summary.steps.text().endswith(
        " → Start new-machine-1")
    root = create(qtbot, wizard)
    assert root.status == SUCCEEDED, root.outcome
    names, volumes = state(run, host)
    assert "new-machine-1" in names and "new-machine-1-disk.qcow2" in volumes
    assert run(host.call(lambda c: c.lookupByName("new-machine-1").isActive())) == 1
    disks = parse_domain(run(host.call(lambda c: c.lookupByName("new-machine-1").XMLDesc(0)))).disks
    assert [d.device for d in disks] == ["disk", "cdrom"]
    run(host.call(lambda c: c.lookupByName("new-machine-1").destroy()))


def test_the_name_is_checked_as_it_is_typed(qtbot, wizard):
    source = wizard.page(SOURCE)
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    source.name.setText("old")
    assert "exists on this host" in source.name_status.text() and not next_button.isEnabled()
    source.name.setText("<i>new & improved")  # any printable name without "/"; shown as it is
    qtbot.waitUntil(lambda: not wizard.busy() and next_button.isEnabled(), timeout=5000)
    assert source.name_status.text() == ""
    source.name.setText("-x")
    assert "starts with '-'" in source.name_status.text() and not next_button.isEnabled()


def test_the_os_list_filters_and_sets_the_hardware(qtbot, wizard):
    if not wizard.database.entries:
        pytest.skip("osinfo-db is not installed (scripts/setup.sh installs it)")
    next_page(qtbot, wizard, OS)
    page = wizard.page(OS)
    page.filter.setText("alpine linux 3.16")
    shown = [page.list.item(r).data(0x100).short_id for r in range(page.list.count())
             if not page.list.item(r).isHidden()]
    assert shown == ["alpinelinux3.16"]
    assert page.select("alpinelinux3.16")
    next_page(qtbot, wizard, HARDWARE)
    hardware = wizard.page(HARDWARE)
    alpine = wizard.database.find("alpinelinux3.16")
    assert (hardware.memory.value(), hardware.vcpus.value(), hardware.disk.mib()) == (
        alpine.memory_mib, alpine.vcpus, alpine.disk_mib)


def test_a_cloud_image_asks_who_logs_in_and_a_failure_is_undone(qtbot, run, host, wizard):
    before = state(run, host)
    source = wizard.page(SOURCE)
    source.name.setText("cloudy")
    source.sources.button(1).click()  # a cloud image
    source.volumes.setCurrentIndex(source.volumes.findData("/pool-a/cloud.qcow2"))
    source.volumes.activated.emit(source.volumes.currentIndex())  # as a click on the volume does
    assert source.path.text() == "/pool-a/cloud.qcow2" and not source.upload.isChecked()
    next_page(qtbot, wizard, OS)
    next_page(qtbot, wizard, CLOUD)
    cloud = wizard.page(CLOUD)
    assert cloud.hostname.text() == "cloudy"
    cloud.keys.setPlainText("")
    assert not cloud.isComplete() and "nobody can log in" in cloud.problem.text()
    cloud.keys.setPlainText(KEY)
    next_page(qtbot, wizard, HARDWARE)
    next_page(qtbot, wizard, SUMMARY)
    qtbot.waitUntil(lambda: wizard.plan is not None, timeout=10000)
    wizard.page(SUMMARY).start.setChecked(False)
    assert "Make seed ISO cloudy-seed.iso" in wizard.page(SUMMARY).steps.text()
    root = create(qtbot, wizard)
    assert root.status == FAILED and "virStorageVolUpload" in root.error_message  # the test driver's limit
    assert state(run, host) == before  # the overlay made before the seed is gone again


def test_over_the_main_window_a_failure_opens_the_error_dialog(qtbot, run, services, host, tmp_path):
    """As Machine → New Machine… opens it: over the window, with the window's template service
    (it has the inventory and the task engine); the tasks pane shows the flow."""
    from PySide6.QtCore import QSettings

    from ecp_desktop.views.window.main_window import MainWindow
    window = MainWindow(services, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    wizard = window.open_new_machine_wizard()  # no selection: the first connected host
    assert wizard.host_uri == host.uri
    qtbot.waitUntil(lambda: wizard.offer is not None and not wizard.busy(), timeout=10000)
    for page in (OS, HARDWARE, SUMMARY):
        next_page(qtbot, wizard, page)
    qtbot.waitUntil(lambda: wizard.plan is not None, timeout=10000)
    run(host.call(lambda c: c.storagePoolLookupByName("pool-a").destroy()))  # the pool stops after the review
    wizard.button(QWizard.WizardButton.FinishButton).click()
    assert window.tasks_dock.isVisible()
    qtbot.waitUntil(lambda: getattr(window, "last_error_dialog", None) is not None, timeout=30000)
    assert wizard.creation.result().status == FAILED
    assert "new-machine-1" not in state_names(run, host)


def state_names(run, host):
    return run(host.call(lambda conn: {d.name() for d in conn.listAllDomains()}))


def cloud_image_to_review(qtbot, wizard, password: str) -> None:
    source = wizard.page(SOURCE)
    source.name.setText("cloudy")
    source.sources.button(1).click()  # a cloud image
    source.path.setText("/pool-a/cloud.qcow2")
    next_page(qtbot, wizard, OS)
    next_page(qtbot, wizard, CLOUD)
    wizard.page(CLOUD).keys.setPlainText(KEY)
    wizard.page(CLOUD).password.setText(password)
    next_page(qtbot, wizard, HARDWARE)
    next_page(qtbot, wizard, SUMMARY)


def test_a_password_that_cannot_be_hashed_is_said_on_the_review(qtbot, wizard, monkeypatch):
    from ecp_desktop.services.provisioning import seed_iso
    monkeypatch.setattr(seed_iso.shutil, "which", lambda _name: None)  # no openssl here
    cloud_image_to_review(qtbot, wizard, "s3cret")
    summary = wizard.page(SUMMARY)
    qtbot.waitUntil(lambda: not wizard.busy(), timeout=10000)
    assert "openssl is not installed" in summary.status.text()  # not "Planning…" for ever
    assert "password hash" not in summary.status.text()  # the wizard has no field for one
    assert wizard.plan is None and not wizard.button(QWizard.WizardButton.FinishButton).isEnabled()


def test_a_host_that_cannot_be_read_says_why_and_offers_retry(qtbot, services, host, monkeypatch):
    from ecp_desktop.services.core.errors import HypervisorError
    from ecp_desktop.services.provisioning.service import ProvisioningService
    real, calls = ProvisioningService.offer, []

    async def offer(self, uri, source_path=""):
        calls.append(uri)
        if len(calls) == 1:
            raise HypervisorError("the host did not answer within 30 s", code=68)
        return await real(self, uri, source_path)
    monkeypatch.setattr(ProvisioningService, "offer", offer)
    parent = QWidget()
    qtbot.addWidget(parent)
    wizard = open_new_machine_wizard(parent, services.provisioning, host.uri)
    source = wizard.page(SOURCE)
    qtbot.waitUntil(lambda: not wizard.busy(), timeout=10000)
    assert "Cannot read what the host offers: " in source.name_status.text()
    assert "did not answer within 30 s" in source.name_status.text()
    assert wizard.retry.isVisible() and not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    wizard.retry.click()
    qtbot.waitUntil(lambda: wizard.offer is not None and not wizard.busy(), timeout=10000)
    assert not wizard.retry.isVisible() and source.name.text() == "new-machine-1"
    assert wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_the_menu_leaves_hosts_in_maintenance_out(qtbot, run, services, host, tmp_path):
    from PySide6.QtCore import QSettings

    from ecp_desktop.services.maintenance.mark import set_maintenance
    from ecp_desktop.views.window.main_window import MainWindow
    window = MainWindow(services, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    assert set_maintenance(host.uri, True, by="ops:42")
    run(window.maintenance_marks.refresh())
    qtbot.waitUntil(lambda: host.uri in window.maintenance_marks.marks, timeout=5000)
    assert window.open_new_machine_wizard() is None  # its only connected host takes no new machines
    assert "maintenance" in window.statusBar().currentMessage()


def open_helped(qtbot, services, host):
    parent = QWidget()
    qtbot.addWidget(parent)
    wizard = open_new_machine_wizard(parent, services.provisioning, host.uri, storage=services.storage,
                                     networks=services.networks)
    qtbot.waitUntil(lambda: wizard.offer is not None and not wizard.busy(), timeout=10000)
    wizard.page(SOURCE).sources.button(SOURCES.index("pxe")).click()  # no pool holds an installer now
    next_page(qtbot, wizard, OS)
    next_page(qtbot, wizard, HARDWARE)
    return parent, wizard, wizard.page(HARDWARE)  # (the parent kept: it takes its wizard with it)


def test_a_stopped_pool_and_a_stopped_network_are_started_on_the_spot(qtbot, run, services, host):
    """(The fresh-host case: New Machine starts the pool and the network it picked.)"""
    run(host.call(lambda conn: (conn.networkLookupByName("default").destroy(),
                                conn.storagePoolLookupByName("pool-a").destroy())))
    _parent, wizard, hardware = open_helped(qtbot, services, host)
    assert hardware.network.currentText() == "Network default (inactive)"
    assert "is not active: the new machine could not start" in hardware.network_words.text()
    assert hardware.pool.count() == 0 and hardware.make_pool.text() == "Start pool pool-a"
    assert hardware.pool_words.text() == "The host has no active storage pool for the new disk."

    hardware.start_network.click()
    qtbot.waitUntil(lambda: hardware.network.currentText() == "Network default", timeout=5000)
    assert hardware.start_network.isHidden() and hardware.network_words.text() == ""
    hardware.make_pool.click()
    qtbot.waitUntil(lambda: hardware.pool.currentData() == "pool-a", timeout=5000)
    assert hardware.make_pool.isHidden()
    assert run(host.call(lambda conn: (conn.networkLookupByName("default").isActive(),
                                       conn.storagePoolLookupByName("pool-a").isActive()))) == (1, 1)
    next_page(qtbot, wizard, SUMMARY)
    root = create(qtbot, wizard)
    assert root.status == SUCCEEDED, root.error_message
    assert "new-machine-1-disk.qcow2" in state(run, host)[1]


def test_a_host_with_no_pool_gets_a_directory_pool_made(qtbot, run, services, host):
    run(host.call(lambda conn: (conn.storagePoolLookupByName("pool-a").destroy(),
                                conn.storagePoolLookupByName("pool-a").undefine())))
    _parent, wizard, hardware = open_helped(qtbot, services, host)
    assert hardware.make_pool.text() == "Create a directory pool at /var/lib/libvirt/images"
    hardware.make_pool.click()
    qtbot.waitUntil(lambda: hardware.pool.currentData() == "default", timeout=5000)
    assert run(host.call(lambda conn: (conn.storagePoolLookupByName("default").isActive(),
                                       conn.storagePoolLookupByName("default").autostart()))) == (1, 1)
    next_page(qtbot, wizard, SUMMARY)
    root = create(qtbot, wizard)
    assert root.status == SUCCEEDED, root.error_message
    volumes = run(host.call(lambda conn: [v.name() for v in conn.storagePoolLookupByName("default").listAllVolumes()]))
    assert volumes == ["new-machine-1-disk.qcow2"]


SECOND_HOST_XML = """<node>
  <domain type='test'><name>web</name><uuid>33333333-0000-4000-8000-000000000002</uuid>
    <memory unit='MiB'>256</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>
  <network><name>default</name><bridge name='virbr0'/><forward mode='nat'/>
    <ip address='192.168.122.1' netmask='255.255.255.0'/></network>
  <pool type='dir'>
    <name>pool-b</name><uuid>35bb2ad9-388a-cdfe-461a-b8907f6e5303</uuid>
    <target><path>/pool-b</path></target>
    <volume type='file'><name>live.ISO</name><capacity unit='MiB'>300</capacity>
      <allocation unit='MiB'>300</allocation><target><format type='iso'/></target></volume>
  </pool>
</node>
"""


def test_the_host_is_the_selected_machines_and_the_review_names_it(qtbot, run, services, host, tmp_path):
    from PySide6.QtCore import QSettings

    from ecp_desktop.views.window.main_window import MainWindow
    from tests.helpers.gui import select_machine
    path = tmp_path / "second-host.xml"
    path.write_text(SECOND_HOST_XML)
    second = services.inventory.add_host(f"test://{path}", label="lab-2")
    assert run(services.inventory.connect_host(second))
    run(services.inventory.load_host(second))
    window = MainWindow(services, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    web = next(m for m in services.inventory.machines_of(second.uri) if m.name == "web")
    qtbot.waitUntil(lambda: any(window.machine_proxy.index(r, 0).data() == "web"
                                for r in range(window.machine_proxy.rowCount())), timeout=5000)
    select_machine(window, web)
    wizard = window.open_new_machine_wizard()
    qtbot.waitUntil(lambda: wizard.offer is not None and not wizard.busy(), timeout=10000)
    source = wizard.page(SOURCE)
    assert source.host.currentText() == "lab-2" and wizard.host_uri == second.uri
    assert sorted(source.host.itemText(r) for r in range(source.host.count())) == sorted(["lab-2", host.label])
    assert source.path.text() == "/pool-b/live.ISO"  # this host's installer, not the first host's
    source.name.setText("kept")
    source.host.setCurrentIndex(source.host.findData(host.uri))  # the user picks the other host
    qtbot.waitUntil(lambda: wizard.offer is not None and wizard.offer.uri == host.uri and not wizard.busy(),
                    timeout=10000)
    assert source.name.text() == "kept"  # what was typed stays
    assert [source.volumes.itemText(r) for r in range(1, source.volumes.count())] == ["/pool-a/installer.iso"]
    for page in (OS, HARDWARE, SUMMARY):
        next_page(qtbot, wizard, page)
    assert wizard.page(HARDWARE).pool.currentText() == "pool-a"  # the chosen host's pools
    qtbot.waitUntil(lambda: wizard.plan is not None, timeout=10000)
    assert wizard.page(SUMMARY).host.text() == f"On host: {host.label}"
    assert wizard.plan.spec.host_uri == host.uri


def test_iso_lists_offer_isos_only_and_network_boot_is_never_the_default(qtbot, run, services, host):
    def add_volumes(conn):
        pool = conn.storagePoolLookupByName("pool-a")
        for name, fmt in (("other-vm-disk.qcow2", "qcow2"), ("rescue.iso", "raw")):
            pool.createXML(f"<volume><name>{name}</name><capacity unit='MiB'>64</capacity>"
                           f"<target><format type='{fmt}'/></target></volume>", 0)
    run(host.call(add_volumes))
    parent = QWidget()
    qtbot.addWidget(parent)
    wizard = open_new_machine_wizard(parent, services.provisioning, host.uri)
    qtbot.waitUntil(lambda: wizard.offer is not None and not wizard.busy(), timeout=10000)
    source = wizard.page(SOURCE)
    offered = [source.volumes.itemText(r) for r in range(1, source.volumes.count())]
    assert source.source() == "iso" and offered == ["/pool-a/installer.iso", "/pool-a/rescue.iso"]
    source.sources.button(SOURCES.index("cloud-image")).click()
    offered = [source.volumes.itemText(r) for r in range(1, source.volumes.count())]
    assert offered == ["/pool-a/cloud.qcow2", "/pool-a/other-vm-disk.qcow2"]

    run(host.call(lambda conn: [conn.storagePoolLookupByName("pool-a").storageVolLookupByName(v).delete(0)
                                for v in ("installer.iso", "rescue.iso")]))
    again = open_new_machine_wizard(parent, services.provisioning, host.uri)
    qtbot.waitUntil(lambda: again.offer is not None and not again.busy(), timeout=10000)
    source = again.page(SOURCE)
    assert source.source() == "iso" and source.path.text() == ""  # a host without an ISO: still not PXE
    assert source.volumes.itemText(0).startswith("None in the host's active pools")
    assert not again.button(QWizard.WizardButton.NextButton).isEnabled()


def test_a_live_iso_machine_is_made_without_a_disk(qtbot, run, host, wizard):
    next_page(qtbot, wizard, OS)
    next_page(qtbot, wizard, HARDWARE)
    disk = wizard.page(HARDWARE).disk
    assert disk.none.isVisibleTo(wizard.page(HARDWARE)) and not disk.wanted_none()
    disk.none.setChecked(True)
    assert not disk.size.isEnabled() and not wizard.page(HARDWARE).disk_format.isEnabled()
    next_page(qtbot, wizard, SUMMARY)
    qtbot.waitUntil(lambda: wizard.plan is not None, timeout=10000)
    summary = wizard.page(SUMMARY)
    assert "no disk: the machine keeps nothing it writes once it is turned off" in summary.status.text()
    assert summary.steps.text() == "Steps: Define new-machine-1 → Start new-machine-1"
    root = create(qtbot, wizard)
    assert root.status == SUCCEEDED, root.outcome
    disks = parse_domain(run(host.call(lambda c: c.lookupByName("new-machine-1").XMLDesc(0)))).disks
    assert [(d.device, d.path) for d in disks] == [("cdrom", "/pool-a/installer.iso")]
    assert not any(v.startswith("new-machine-1") for v in state(run, host)[1])
    run(host.call(lambda c: c.lookupByName("new-machine-1").destroy()))


def test_a_disk_of_16_mib_is_taken_and_15_mib_refused(qtbot, run, host, wizard):
    next_page(qtbot, wizard, OS)
    next_page(qtbot, wizard, HARDWARE)
    hardware = wizard.page(HARDWARE)
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    before = hardware.disk.mib()
    hardware.disk.unit.setCurrentIndex(hardware.disk.unit.findText("MiB"))
    assert hardware.disk.mib() == before  # another unit keeps the size: GiB shown as MiB
    hardware.disk.size.setValue(15)
    assert hardware.disk.problem.text() == "A new disk must be at least 16 MiB (not 15 MiB)."
    assert not next_button.isEnabled()
    hardware.disk.size.setValue(16)
    assert hardware.disk.problem.text() == "" and next_button.isEnabled()
    next_page(qtbot, wizard, SUMMARY)
    qtbot.waitUntil(lambda: wizard.plan is not None, timeout=10000)
    assert "Make disk new-machine-1-disk.qcow2 (16 MiB)" in wizard.page(SUMMARY).steps.text()
    wizard.page(SUMMARY).start.setChecked(False)
    root = create(qtbot, wizard)
    assert root.status == SUCCEEDED, root.outcome
    capacity = run(host.call(lambda c: c.storagePoolLookupByName("pool-a").storageVolLookupByName(
        "new-machine-1-disk.qcow2").info()[1]))
    assert capacity == 16 * 2**20


def test_a_plan_that_arrives_after_the_review_was_left_is_never_shown_or_run(qtbot, run, host, wizard):
    """Review planned for one visit; Back and Next again: an answer of the earlier visit (say,
    for a host chosen before) arriving late is dropped, and Create runs only a plan for the
    host now chosen."""
    for page in (OS, HARDWARE, SUMMARY):
        next_page(qtbot, wizard, page)
    summary = wizard.page(SUMMARY)
    qtbot.waitUntil(lambda: wizard.plan is not None, timeout=10000)
    first_visit = summary.planning
    wizard.back()
    next_page(qtbot, wizard, SUMMARY)
    qtbot.waitUntil(lambda: wizard.plan is not None, timeout=10000)
    shown = wizard.plan
    run(summary._plan(wizard, first_visit))  # the first visit's answer, late
    assert wizard.plan is shown
    wizard.host_uri = "test:///default"  # the chosen host changed under a finished plan
    wizard.accept()
    assert wizard.creation is None and wizard.isVisible()  # nothing made on the wrong host
