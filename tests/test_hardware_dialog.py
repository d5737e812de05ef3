"""Edit Hardware, walked with pytest-qt on the test driver: the machine is read off the GUI
thread, a memory change shows in the Review (the diff and "now"/"next boot"), Apply runs the
edit as a task the tasks pane lists, and the machine's definition has changed."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import libvirt
import pytest
from PySide6.QtWidgets import QWidget

from ecp_desktop.services.hardware.service import HardwareService
from ecp_desktop.services.tasks.records import SUCCEEDED
from ecp_desktop.views.hardware_dialog import open_hardware_dialog

from .helpers import LAB_URI

STOPPED01 = "11111111-1111-1111-1111-000000000003"
WEB01 = "11111111-1111-1111-1111-000000000001"


@pytest.fixture
def lab(qtbot, run, services):
    host = services.inventory.add_host(LAB_URI)
    assert run(services.inventory.connect_host(host))
    qtbot.waitUntil(lambda: len(services.inventory.machines_of(LAB_URI)) == 4, timeout=5000)
    return services


def machine(services, name):
    return next(m for m in services.inventory.machines_of(LAB_URI) if m.name == name)


@pytest.fixture
def window(qtbot):
    """The dialog's parent (kept by the test: a parent that goes takes its dialog with it)."""
    parent = QWidget()
    qtbot.addWidget(parent)
    return parent


def opened(qtbot, lab, window, name):
    hardware = HardwareService(lab.inventory, lab.engine)
    dialog = open_hardware_dialog(window, hardware, machine(lab, name))
    qtbot.waitUntil(lambda: dialog.facts is not None, timeout=5000)
    return dialog


def inactive(run, lab, uuid):
    host = lab.inventory.hosts[LAB_URI]
    return ET.fromstring(run(host.call(lambda c: c.lookupByUUIDString(uuid).XMLDesc(
        libvirt.VIR_DOMAIN_XML_INACTIVE))))


def effects(dialog):
    tree = dialog.effects
    return [tuple(tree.topLevelItem(i).text(c) for c in range(3)) for i in range(tree.topLevelItemCount())]


def test_change_memory_review_the_diff_apply_and_the_definition_changed(qtbot, run, lab, window):
    dialog = opened(qtbot, lab, window, "stopped01")
    assert dialog.cpu.memory.value() == 256 and not dialog.apply_button.isEnabled()
    assert dialog.status.text() == "No changes yet."
    dialog.cpu.max_memory.setValue(1024)
    dialog.cpu.memory.setValue(768)
    dialog.tabs.setCurrentWidget(dialog.review_tab)
    diff = dialog.diff.toPlainText()
    assert '-  <memory unit="KiB">262144</memory>' in diff and '+  <memory unit="KiB">1048576</memory>' in diff
    assert '+  <currentMemory unit="KiB">786432</currentMemory>' in diff
    assert effects(dialog)[0][:2] == ("768 MiB of memory", "now")  # shut off: its next start uses it
    assert dialog.diff.isReadOnly() and dialog.apply_button.isEnabled()
    tasks_before = len(lab.tasks.tasks)
    with qtbot.waitSignal(dialog.applied, timeout=10000) as done:
        dialog.apply_button.click()
    outcome = done.args[0]
    assert outcome.applied and outcome.record.status == SUCCEEDED
    assert outcome.record in lab.tasks.tasks[tasks_before:]  # the tasks pane lists it
    assert outcome.record.title == "Edit hardware of stopped01"
    root = inactive(run, lab, STOPPED01)
    assert root.find("memory").text == str(1024 * 1024) and root.find("currentMemory").text == str(768 * 1024)
    assert "applied" in dialog.status.text()
    dialog.close()


def test_a_running_machine_says_what_waits_for_the_next_boot_and_refuses_bad_input(qtbot, run, lab, window):
    dialog = opened(qtbot, lab, window, "web01")
    assert "Running now with 1 vCPUs" in dialog.cpu.live.text()
    dialog.cpu.max_vcpus.setValue(2)
    dialog.cpu.vcpus.setValue(2)
    rows = effects(dialog)
    assert ("2 vCPUs", "next boot", "more than the 1 the running machine was started with") in rows
    assert "waiting for the next boot" in dialog.status.text()
    dialog.options.title.setText("bad\x07title")
    assert not dialog.apply_button.isEnabled() and "control character U+0007" in dialog.status.text()
    dialog.options.title.setText("")
    # Removing the disk with its volume: the review warns that its data is gone for good.
    dialog.disks.list.setCurrentRow(0)
    dialog.disks.remove.setChecked(True)
    dialog.disks.delete.setChecked(True)
    assert "data cannot be brought back" in dialog.warning.text()
    assert any(r[0] == "remove disk vda and delete its volume" and r[1] == "now" for r in effects(dialog))
    dialog.close()
    assert inactive(run, lab, WEB01).find("vcpu").text == "1"  # nothing applied
