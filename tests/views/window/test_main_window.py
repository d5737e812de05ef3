"""The real main window, offscreen: a host with hundreds of machines, filter, actions, dialogs."""
from PySide6.QtCore import Qt

from ecp_desktop.views.machines.machine_model import MachineRole

from ...helpers import LAB_URI
from ...helpers.gui import names_shown, select_rows


def test_window_lists_every_machine_sorted_with_health(window):
    shown = names_shown(window)
    assert len(shown) == 304 and shown == sorted(shown, key=str.casefold)
    assert "2 hosts connected" in window.health.text() and "304 machines" in window.health.text()
    assert window.host_model.rowCount() == 2


def test_filter_as_you_type_and_by_host(qtbot, window):
    qtbot.keyClicks(window.filter_edit, "fleet-db")
    expected = [n for n in names_shown(window)]
    assert expected and all("fleet-db" in n for n in expected)
    window.filter_edit.clear()
    qtbot.keyClicks(window.filter_edit, "state:paused")
    assert {window.machine_proxy.index(r, 1).data() for r in range(window.machine_proxy.rowCount())} == {"paused"}
    window.filter_edit.clear()
    lab_row = next(r for r in range(2) if window.host_model.host(r).uri == LAB_URI)
    window.hosts_view.selectRow(lab_row)
    assert sorted(names_shown(window)) == ["db01", "paused01", "stopped01", "web01"]
    assert "4 shown of 304" in window.machines_title.text()
    window.hosts_view.clearSelection()
    assert len(names_shown(window)) == 304


def test_start_on_a_selection_runs_tasks_and_updates_rows(qtbot, window, services):
    qtbot.keyClicks(window.filter_edit, "state:shut")
    stopped = window.machine_proxy.rowCount()
    assert stopped >= 5
    select_rows(window, range(5))
    chosen = [m.name for m in window.selected_machines()]
    lifecycle = window.menu_actions.lifecycle
    assert lifecycle["start"].isEnabled() and not lifecycle["resume"].isEnabled()
    window.menu_actions.lifecycle["start"].trigger()
    # One entry for the action, its machines as its steps.
    model = window.task_model
    qtbot.waitUntil(lambda: model.rowCount() == 1 and model.index(0, 1).data() == "succeeded", timeout=5000)
    assert model.index(0, 0).data() == "Start 5 machines" and model.index(0, 6).data() == "all 5 done"
    bulk = model.index(0, 0)
    assert model.rowCount(bulk) == 5 and {model.index(r, 1, bulk).data() for r in range(5)} == {"succeeded"}
    assert [model.index(r, 0, bulk).data() for r in range(5)] == [f"Start {n}" for n in chosen]
    running = {m.name for m in services.inventory.machines.values() if m.state == "running"}
    assert set(chosen) <= running
    qtbot.waitUntil(lambda: window.machine_proxy.rowCount() == stopped - 5, timeout=2000)  # left the filter


def test_selection_mixing_states_only_touches_those_it_applies_to(qtbot, window):
    window.hosts_view.selectRow(next(r for r in range(2) if window.host_model.host(r).uri == LAB_URI))
    window.machines_view.selectAll()
    window.menu_actions.lifecycle["pause"].trigger()
    # web01 and db01 run; stopped01 is shut off and paused01 is paused already: skipped, not failed.
    model = window.task_model
    qtbot.waitUntil(lambda: model.rowCount() == 1 and model.index(0, 1).data() == "succeeded", timeout=3000)
    bulk = model.index(0, 0)
    assert bulk.data() == "Pause 2 machines"
    assert {model.index(r, 0, bulk).data() for r in range(model.rowCount(bulk))} == {"Pause web01", "Pause db01"}
    assert "2 machines (2 skipped" in window.statusBar().currentMessage()


def test_details_panel_shows_disks_nics_and_xml(qtbot, window):
    row = next(r for r in range(10) if window.machine_proxy.index(r, 0).data().startswith("fleet-"))
    window.machines_view.selectRow(row)
    machine = window.machine_proxy.index(row, 0).data(MachineRole)
    qtbot.waitUntil(lambda: window.details.details is not None, timeout=3000)
    assert f"<name>{machine.name}</name>" in window.details.xml.toPlainText()
    assert window.details.disks.rowCount() == 1 and window.details.nics.rowCount() == 1
    assert window.details.disks.item(0, 1).text().endswith(f"{machine.name}.qcow2")
    assert window.details._fields["UUID"].text() == machine.uuid


def test_add_connection_validates_and_explains_failure(qtbot, window, services):
    dialog = window.open_add_connection()
    dialog.kind.setCurrentText("Custom URI")
    dialog.uri.setText("kvm:///system")
    assert not dialog.connect_button.isEnabled() and "unknown hypervisor driver" in dialog.message.text()
    dialog.uri.setText("qemu+tcp://127.0.0.1:1/system")
    assert dialog.connect_button.isEnabled()
    qtbot.mouseClick(dialog.connect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Could not connect" in dialog.message.text(), timeout=5000)
    assert "could not be reached" in dialog.message.text() and "Connection refused" in dialog.message.text()
    assert dialog.isVisible() and "qemu+tcp://127.0.0.1:1/system" not in services.inventory.hosts
    qtbot.waitUntil(lambda: window.task_model.rowCount() == 1)  # the pane shows new rows within 40 ms
    assert window.task_model.index(0, 0).data().startswith("Connect to") \
        and window.task_model.index(0, 1).data() == "failed"
    dialog.kind.setCurrentText("Demo host (libvirt test driver)")
    qtbot.mouseClick(dialog.connect_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=5000)
    assert "test:///default" in services.inventory.hosts
    qtbot.waitUntil(lambda: window.machine_model.rowCount() == 305, timeout=3000)
    assert "3 hosts connected" in window.health.text()


def test_templates_with_a_placeholder_ask_for_the_host_name(window):
    dialog = window.open_add_connection()
    dialog.kind.setCurrentText("QEMU/KVM over SSH")
    assert dialog.uri.text() == "qemu+ssh://root@HOST/system"
    assert not dialog.connect_button.isEnabled() and "Replace HOST" in dialog.message.text()
    dialog.uri.setText("qemu+ssh://root@lab-b.example/system")
    assert dialog.connect_button.isEnabled() and "QEMU/KVM on lab-b.example" in dialog.message.text()
    dialog.uri.setText(LAB_URI)
    assert not dialog.connect_button.isEnabled() and "already in the hosts list" in dialog.message.text()
    dialog.reject()


def test_enter_on_a_machine_opens_its_details(qtbot, window):
    window.activateWindow()
    window.machines_view.setFocus()
    window.machines_view.selectRow(3)
    window.details.setCurrentIndex(3)
    qtbot.keyClick(window.machines_view, Qt.Key.Key_Return)
    assert window.details.currentIndex() == 0
    name = window.machine_proxy.index(3, 0).data()
    assert window.details._fields["Name"].text() == name


def test_status_bar_names_an_unreachable_host_and_why(qtbot, run, window, services):
    dead = services.inventory.add_host("qemu+tcp://127.0.0.1:1/system")
    run(services.inventory.connect_host(dead))
    text = window.health.text()
    assert "2 hosts connected" in text and "QEMU/KVM on 127.0.0.1 unreachable, retrying in" in text
    assert "connection refused (is libvirtd running and listening?)" in text  # in words, with what to check
    assert "Connection refused" in window.health.toolTip()  # libvirt's own words
    run(services.inventory.remove_host(dead.uri))
    assert "unreachable" not in window.health.text()


def test_remove_host_asks_first_and_then_forgets_it(qtbot, window, services):
    from PySide6.QtWidgets import QMessageBox
    lab_row = next(r for r in range(2) if window.host_model.host(r).uri == LAB_URI)
    window.hosts_view.selectRow(lab_row)
    window.menu_actions.remove_host.trigger()
    box = window.remove_confirmation
    assert box.isVisible() and "Remove Test: lab from the list?" in box.text()
    box.button(QMessageBox.StandardButton.No).click()
    assert LAB_URI in services.inventory.hosts, "No keeps the host"
    window.menu_actions.remove_host.trigger()
    window.remove_confirmation.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: LAB_URI not in services.inventory.hosts, timeout=3000)
    qtbot.waitUntil(lambda: window.machine_model.rowCount() == 300, timeout=3000)
    assert window.host_model.rowCount() == 1
