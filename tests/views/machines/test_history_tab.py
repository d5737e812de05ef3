"""The History tab on the test driver: after an Edit Hardware flow, the selected machine's
versions newest first with who made each, and a version's diff against the one before it;
Revert to This Version… opens Edit Hardware's review of the revert, and Apply gives the
machine that version's settings back, recorded as a new version; a version it cannot give
back says why, with Apply off."""
import libvirt

from ecp_desktop.services.hardware.changes import ChangeSet
from ecp_desktop.services.hardware.service import HardwareService
from ecp_desktop.services.inventory.definitions import record_found
from ecp_desktop.services.history import versions as history
from ecp_desktop.views.hardware.hardware_dialog import open_hardware_dialog
from ecp_desktop.views.machines.history_tab import HistoryTab

from ...services.hardware.test_hardware import HOST_XML, OFF01, machine


def imported_host(qtbot, run, services, tmp_path) -> tuple[str, str, HardwareService]:
    """Edit Hardware's test host, connected, off01's definition (returned) recorded as
    imported: version 1."""
    path = tmp_path / "hardware.xml"
    path.write_text(HOST_XML)
    uri = f"test://{path}"
    host = services.inventory.add_host(uri)
    assert run(services.inventory.connect_host(host))
    qtbot.waitUntil(lambda: len(services.inventory.machines_of(uri)) == 2, timeout=5000)
    run(services.inventory.writes.written())
    first = run(host.call(lambda c: c.lookupByUUIDString(OFF01).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)))
    services.executors.database.submit(record_found, uri, OFF01, first).result()
    return uri, first, HardwareService(services.inventory, services.engine)


def test_the_tab_lists_versions_and_shows_what_the_selected_one_changed(qtbot, run, services, tmp_path):
    uri, _first, hardware = imported_host(qtbot, run, services, tmp_path)
    outcome = run(hardware.run(run(hardware.plan(machine(services, uri, "off01"), ChangeSet(vcpus=1, memory_mib=128)))))
    assert outcome.applied, outcome.record.outcome

    tab = HistoryTab(services.inventory)
    qtbot.addWidget(tab)
    with qtbot.waitSignal(tab.loaded, timeout=5000):
        tab.show_machine(machine(services, uri, "off01"))
    cells = [[tab.table.item(r, c).text() for c in range(4)] for r in range(tab.table.rowCount())]
    assert [row[0] for row in cells] == ["2", "1"]
    assert cells[0][2].startswith("this app (task ") and cells[0][3] == "memory 256 MiB → 128 MiB"
    assert cells[1][2:] == ["imported", "first definition"]
    assert "2 versions, newest first" in tab.status.text()
    with qtbot.waitSignal(tab.diff_shown, timeout=5000):
        tab.table.selectRow(0)
    shown = tab.diff.toPlainText().splitlines()
    assert '-  <currentMemory unit="KiB">262144</currentMemory>' in shown
    assert '+  <currentMemory unit="KiB">131072</currentMemory>' in shown
    assert not any("ecp:flow" in line for line in shown)  # the flow's own mark is no part of the machine's history

    with qtbot.waitSignal(tab.loaded, timeout=5000):
        tab.show_machine(None)
    assert tab.table.rowCount() == 0 and "Select a machine" in tab.status.text()


def test_revert_to_this_version_reviews_the_revert_and_applies_it(qtbot, run, services, tmp_path):
    uri, first, hardware = imported_host(qtbot, run, services, tmp_path)
    outcome = run(hardware.run(run(hardware.plan(machine(services, uri, "off01"), ChangeSet(memory_mib=128)))))
    assert outcome.applied, outcome.record.outcome

    dialogs = []
    tab = HistoryTab(services.inventory, revert=lambda m, v: dialogs.append(
        open_hardware_dialog(tab, hardware, m, revert_to=v)))
    qtbot.addWidget(tab)
    with qtbot.waitSignal(tab.loaded, timeout=5000):
        tab.show_machine(machine(services, uri, "off01"))
    assert not tab.revert_button.isEnabled()  # nothing selected
    with qtbot.waitSignal(tab.diff_shown, timeout=5000):
        tab.table.selectRow(0)
    assert not tab.revert_button.isEnabled()  # the newest version is what the machine has
    with qtbot.waitSignal(tab.diff_shown, timeout=5000):
        tab.table.selectRow(1)
    assert tab.revert_button.isEnabled()
    tab.revert_button.click()
    (dialog,) = dialogs
    qtbot.waitUntil(lambda: dialog.planned is not None, timeout=5000)
    assert dialog.windowTitle() == "Revert off01 to Version 1"
    assert dialog.tabs.currentWidget() is dialog.review_tab and not dialog.cpu.isEnabled()
    rows = [tuple(dialog.effects.topLevelItem(i).text(c) for c in range(2))
            for i in range(dialog.effects.topLevelItemCount())]
    assert rows == [("256 MiB of memory", "now")]  # shut off: its next start uses it; its maximum stays
    assert '+  <currentMemory unit="KiB">262144</currentMemory>' in dialog.diff.toPlainText().splitlines()
    with qtbot.waitSignal(dialog.applied, timeout=10000) as done:
        dialog.apply_button.click()
    assert done.args[0].applied and done.args[0].record.title == "Revert off01 to version 1"
    with qtbot.waitSignal(tab.loaded, timeout=5000):
        tab.reload()
    cells = [[tab.table.item(r, c).text() for c in range(4)] for r in range(tab.table.rowCount())]
    assert [row[0] for row in cells] == ["3", "2", "1"]
    assert tab.selected().number == 1 and tab.revert_button.isEnabled()  # still selected, no longer the newest
    assert cells[0][2].startswith("this app (task ") and cells[0][3] == "memory 128 MiB → 256 MiB"
    newest, _edit, imported = services.executors.database.submit(history.versions, uri, OFF01).result()
    assert newest.digest == imported.digest  # version 1's definition, exactly

    # A version with a device Edit Hardware does not write: said, and nothing to apply.
    watchdog = first.replace("</devices>", "<watchdog model='i6300esb'/></devices>")
    for xml in (watchdog, first):  # versions 4 and 5 (the machine as it is)
        services.executors.database.submit(history.record, uri, OFF01, xml, history.APP).result()
    with qtbot.waitSignal(tab.loaded, timeout=5000):
        tab.reload()
    with qtbot.waitSignal(tab.diff_shown, timeout=5000):
        tab.table.selectRow(1)  # version 4, the one with the watchdog
    tab.revert_button.click()
    refused = dialogs[-1]
    qtbot.waitUntil(lambda: "Cannot revert" in refused.status.text(), timeout=5000)
    assert refused.status.text() == ("Cannot revert: version 4 differs in device <watchdog>, which Edit Hardware "
                                     "does not write")
    assert not refused.apply_button.isEnabled() and refused.diff.toPlainText() == ""
