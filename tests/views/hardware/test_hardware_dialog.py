"""Edit Hardware, walked with pytest-qt on the test driver: the machine is read off the GUI
thread, a memory change shows in the Review (the diff and "now"/"next boot"), Apply runs the
edit as a task the tasks pane lists, and the machine's definition has changed."""
from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import libvirt
import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, Qt
from PySide6.QtWidgets import QPushButton, QWidget

from ecp_desktop.services.hardware.service import HardwareService
from ecp_desktop.services.tasks.records import SUCCEEDED
from ecp_desktop.views.hardware.hardware_dialog import open_hardware_dialog

from ...helpers import LAB_URI

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
    dialog = open_hardware_dialog(window, hardware, machine(lab, name),
                                  show_errors=getattr(window, "show_errors", None))
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
    dialog.cpu.memory.setFocus()
    dialog.cpu.memory.selectAll()
    qtbot.keyClicks(dialog.cpu.memory, "768")  # typed, as a user does
    qtbot.keyClick(dialog.cpu.memory, Qt.Key.Key_Tab)
    assert dialog.cpu.memory.value() == 768 and dialog.typed_input.touched
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
    dialog.close()  # applied: nothing typed is lost, so no "Discard …?"
    assert not dialog.isVisible() and dialog.discard_question is None


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


# ----- a dialog closed while it waits, and a reading that fails otherwise -----------------
class GatedHardware(HardwareService):
    """Reads only once the test opens the gate (so the dialog can be gone by then)."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.gate = asyncio.Event()

    async def read(self, machine):
        await self.gate.wait()
        return await super().read(machine)


class Window(QWidget):
    """A parent with the main window's error dialog hook."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: list[tuple[str, list]] = []

    def show_errors(self, title, failures) -> None:
        self.errors.append((title, failures))


def deleted(dialog) -> bool:
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # as the loop does after close
    return not shiboken6.isValid(dialog)


def test_a_dialog_closed_while_reading_touches_no_widget_afterwards(qtbot, lab, window):
    hardware = GatedHardware(lab.inventory, lab.engine)
    dialog = open_hardware_dialog(window, hardware, machine(lab, "stopped01"))
    reading = dialog._running
    dialog.close()
    assert deleted(dialog)
    hardware.gate.set()
    qtbot.waitUntil(reading.done, timeout=5000)
    assert reading.exception() is None  # not "Internal C++ object already deleted"


def test_a_reading_that_fails_otherwise_is_said_in_the_status_line(qtbot, lab, window, monkeypatch):
    hardware = HardwareService(lab.inventory, lab.engine)

    async def broken(_machine):
        raise KeyError("vda")
    monkeypatch.setattr(hardware, "read", broken)
    dialog = open_hardware_dialog(window, hardware, machine(lab, "stopped01"))
    qtbot.waitUntil(dialog._running.done, timeout=5000)
    assert dialog._running.exception() is None
    assert dialog.status.text() == "Cannot read the hardware of stopped01: 'vda'"
    assert not dialog.tabs.isEnabled() and not dialog.apply_button.isEnabled()
    dialog.close()


def test_a_failed_apply_of_a_closed_dialog_is_still_reported_by_the_window(qtbot, run, lab):
    parent = Window()
    qtbot.addWidget(parent)
    dialog = opened(qtbot, lab, parent, "stopped01")
    dialog.cpu.memory.setValue(200)
    assert dialog.apply_button.isEnabled()
    run(lab.inventory.hosts[LAB_URI].call(lambda c: c.lookupByUUIDString(STOPPED01).undefine()))  # gone meanwhile
    dialog.apply_button.click()
    applying = dialog._running
    dialog.close()
    assert deleted(dialog)
    qtbot.waitUntil(applying.done, timeout=10000)
    assert applying.exception() is None
    assert [title for title, _failures in parent.errors] == ["Edit hardware of stopped01: failed"]


def test_an_inactive_network_is_marked_and_said_when_chosen(qtbot, run, lab, window):
    host = lab.inventory.hosts[LAB_URI]
    run(host.call(lambda conn: conn.networkLookupByName("isolated").destroy()))
    dialog = opened(qtbot, lab, window, "stopped01")
    source = dialog.network.new_source
    row = source.findText("isolated")
    assert "is not active" in source.itemData(row, Qt.ItemDataRole.ToolTipRole)
    assert source.itemData(source.findText("default"), Qt.ItemDataRole.ToolTipRole) is None
    dialog.network.list.setCurrentRow(0)
    dialog.network.source.setCurrentText("isolated")
    assert dialog.network.source_words.text().startswith("Network isolated is not active: the machine cannot start")
    dialog.network.source.setCurrentText("default")
    assert dialog.network.source_words.text() == ""
    dialog.close()


def test_esc_asks_for_changes_made_with_buttons_and_not_after_apply_has_run(qtbot, run, lab, window):
    """A network card added with its defaults is a change too; once Apply ran (applied or not)
    editing has ended and Close closes."""
    dialog = opened(qtbot, lab, window, "stopped01")
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)  # nothing changed: closes at once
    assert not dialog.isVisible() and dialog.discard_question is None
    dialog = opened(qtbot, lab, window, "stopped01")
    dialog.show()
    add = next(b for b in dialog.network.findChildren(QPushButton) if b.text() == "Add Interface")
    add.click()  # a network card with its defaults: no typing
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: dialog.discard_question is not None and dialog.discard_question.isVisible())
    next(b for b in dialog.discard_question.buttons() if b.text() == "Keep Editing").click()
    assert dialog.isVisible()
    dialog.cpu.memory.setValue(dialog.cpu.memory.value() * 2 if dialog.cpu.memory.value() * 2 <=
                               dialog.cpu.max_memory.value() else dialog.cpu.memory.value() // 2)
    with qtbot.waitSignal(dialog.applied, timeout=10000):
        dialog.apply_button.click()
    dialog.discard_question = None
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible() and dialog.discard_question is None
