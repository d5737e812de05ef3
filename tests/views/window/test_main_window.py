"""The real main window, offscreen: a host with hundreds of machines, filter, actions, dialogs."""
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from ecp_desktop.views.common.rows_in_view import RowsInView
from ecp_desktop.views.machines.machine_model import ADDRESSES, MachineRole
from ecp_desktop.views.machines.rename_dialog import RenameDialog

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
    assert dialog.connect_button.isEnabled() and "lab-b.example over SSH" in dialog.message.text()
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


def test_enter_on_a_shut_off_machine_focuses_start_and_a_second_enter_starts_it(qtbot, window, services):
    proxy, view = window.machine_proxy, window.machines_view
    window.activateWindow()
    view.setFocus()
    for name, focused in (("stopped01", "Start"), ("paused01", "Resume")):
        view.clearSelection()
        view.selectRow(next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == name))
        action = window.menu_actions.lifecycle[focused.lower()]
        qtbot.waitUntil(action.isEnabled, timeout=3000)
        view.setFocus()
        qtbot.keyClick(view, Qt.Key.Key_Return)
        button = QApplication.focusWidget()
        assert window.details.currentIndex() == 0 and button.text() == focused, name
    qtbot.keyClick(button, Qt.Key.Key_Return)  # Resume the paused one, as its button says
    paused01 = next(m for m in services.inventory.machines.values() if m.name == "paused01")
    qtbot.waitUntil(lambda: services.inventory.machines[paused01.key].state == "running", timeout=5000)


def test_status_bar_names_an_unreachable_host_and_why(qtbot, run, window, services):
    dead = services.inventory.add_host("qemu+tcp://127.0.0.1:1/system")
    run(services.inventory.connect_host(dead))
    text = window.health.text()
    assert "2 hosts connected" in text and "127.0.0.1 over unencrypted TCP unreachable, retrying in" in text
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
    assert box.isVisible() and "Remove lab (test driver) from the list?" in box.text()
    box.button(QMessageBox.StandardButton.No).click()
    assert LAB_URI in services.inventory.hosts, "No keeps the host"
    window.menu_actions.remove_host.trigger()
    window.remove_confirmation.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: LAB_URI not in services.inventory.hosts, timeout=3000)
    qtbot.waitUntil(lambda: window.machine_model.rowCount() == 300, timeout=3000)
    assert window.host_model.rowCount() == 1


def test_why_a_machine_is_in_its_state_shows_in_its_tooltip_and_details(qtbot, run, window, services):
    """libvirt's state reason, in words: paused by the user's Pause, then forced off."""
    web01 = next(m for m in services.inventory.machines_of(LAB_URI) if m.name == "web01")
    host = services.inventory.hosts[LAB_URI]

    def row_of(name):
        model = window.machine_model
        return next(model.index(r, 0) for r in range(model.rowCount()) if model.index(r, 0).data() == name)
    run(host.call(lambda conn: conn.lookupByUUIDString(web01.uuid).suspend()))
    qtbot.waitUntil(lambda: services.inventory.machines[web01.key].reason == "paused by a user", timeout=5000)
    assert "Paused by a user." in row_of("web01").data(Qt.ItemDataRole.ToolTipRole)
    run(host.call(lambda conn: conn.lookupByUUIDString(web01.uuid).destroy()))
    qtbot.waitUntil(lambda: services.inventory.machines[web01.key].reason == "shut off: forced off", timeout=5000)
    proxy_row = next(r for r in range(window.machine_proxy.rowCount())
                     if window.machine_proxy.index(r, 0).data() == "web01")
    window.machines_view.selectRow(proxy_row)
    qtbot.waitUntil(lambda: window.details._fields["State"].text() == "shut off: forced off", timeout=3000)
    assert services.inventory.machines[web01.key].as_json()["reason"] == "shut off: forced off"


@pytest.mark.qt_log_ignore("This plugin does not support")  # a popup on the offscreen platform
def test_right_click_on_a_row_selects_it_and_offers_what_the_toolbar_offers(qtbot, window):
    """A machine row outside the selection becomes the selection; the menu holds the Machine
    menu's own actions (so the same enabling); a host row's menu holds the Host menu's."""
    view, proxy = window.machines_view, window.machine_proxy
    stopped = next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == "stopped01")
    view.selectRow(next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == "web01"))
    view.scrollTo(proxy.index(stopped, 0))
    view.customContextMenuRequested.emit(view.visualRect(proxy.index(stopped, 0)).center())
    menu = window.context_menu
    assert [m.name for m in window.selected_machines()] == ["stopped01"]
    shown = [a for a in menu.actions() if not a.isSeparator()]
    assert shown[:6] == list(window.menu_actions.lifecycle.values())
    enabled = {a.text() for a in shown if a.isEnabled()}
    assert {"Start", "Edit &Hardware…"} <= enabled and not {"Pause", "Shut down"} & enabled
    menu.close()
    hosts = window.hosts_view
    hosts.customContextMenuRequested.emit(hosts.visualRect(window.host_model.index(0, 0)).center())
    texts = [a.text() for a in window.context_menu.actions() if not a.isSeparator()]
    assert texts == ["&Connect", "&Disconnect", "Ren&ame…", "&Storage…", "&Networks…",
                     "Enter &Maintenance…", "E&xit Maintenance…",
                     "Recover Machines &Elsewhere…", "&Remove from List…"]
    assert len(window.selected_hosts()) == 1
    window.context_menu.close()


def test_edit_label_renames_a_host_in_every_pane_and_the_inventory(qtbot, run, window, services):
    from ecp_desktop.models import schema
    from ecp_desktop.models.db import database
    from ecp_desktop.views.window.main_window import LabelDialog
    window.hosts_view.selectRow(0)
    host = window.selected_hosts()[0]
    dialog = window.open_label_dialog()
    assert isinstance(dialog, LabelDialog) and dialog.label.text() == host.label
    dialog.label.setText("lab\u202erack 3")
    assert "control character U+202E" in dialog.status.text()
    assert not dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
    dialog.label.setText("Rack 3 (test)")
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: window.host_model.index(0, 0).data() == "Rack 3 (test)", timeout=5000)
    proxy = window.machine_proxy
    assert proxy.index(0, 2).data() == "Rack 3 (test)"  # the machines' Host column too
    with database.connection_context():
        assert schema.Host.get(schema.Host.uri == host.uri).label == "Rack 3 (test)"


def test_f2_renames_the_selected_shut_off_machine_and_its_row_follows(qtbot, window, services):
    proxy = window.machine_proxy
    row = next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == "web01")
    window.machines_view.selectRow(row)
    assert not window.menu_actions.rename.isEnabled()  # running: libvirt renames a shut-off machine only
    row = next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == "stopped01")
    window.machines_view.selectRow(row)
    assert window.menu_actions.rename.isEnabled() and window.menu_actions.rename.shortcut().toString() == "F2"
    window.menu_actions.rename.trigger()
    dialog = window.findChild(RenameDialog)
    dialog.name.setText("db01")
    assert "exists on this host already" in dialog.status.text()
    assert not dialog.buttons.button(dialog.buttons.StandardButton.Ok).isEnabled()
    dialog.name.setText("archive-01")
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: "archive-01" in [proxy.index(r, 0).data() for r in range(proxy.rowCount())],
                    timeout=5000)
    assert "stopped01" not in [proxy.index(r, 0).data() for r in range(proxy.rowCount())]
    assert window.machine_model.rowCount() == 304


def test_edit_hardware_renames_from_its_first_page_through_the_same_dialog(qtbot, window, services):
    proxy = window.machine_proxy

    def select(name: str) -> None:
        window.machines_view.selectRow(next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == name))
    select("web01")
    hardware = window.open_hardware_dialog()
    assert not hardware.rename_button.isEnabled() and "shut it down first" in hardware.rename_button.toolTip()
    hardware.close()
    select("stopped01")
    hardware = window.open_hardware_dialog()
    assert hardware.rename_button.isEnabled() and hardware.name.text() == "stopped01"
    hardware.rename_button.click()
    dialog = window.findChild(RenameDialog)
    dialog.name.setText("cold-01")
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: hardware.name.text() == "cold-01", timeout=5000)
    assert hardware.windowTitle() == "Edit Hardware: cold-01"
    qtbot.waitUntil(lambda: "cold-01" in [proxy.index(r, 0).data() for r in range(proxy.rowCount())], timeout=5000)
    hardware.close()


def test_a_running_machines_interfaces_show_their_addresses_and_where_they_came_from(qtbot, run, window, services):
    """libvirt's interfaceAddresses: the guest agent first (the test driver answers every
    source with the same address); a machine that does not run has none to show."""
    proxy = window.machine_proxy
    web01 = next(m for m in services.inventory.machines_of(LAB_URI) if m.name == "web01")

    def shown_for_web01():
        window.machines_view.clearSelection()
        window.machines_view.selectRow(next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == "web01"))
        qtbot.waitUntil(lambda: window.details.details is not None and window.details.nics.rowCount() == 1,
                        timeout=3000)
        item = window.details.nics.item(0, 2)
        shown = item.text() if item is not None else ""
        assert window.details._fields["Addresses"].text() == (shown or "—")
        return shown
    def column_for_web01() -> str:
        row = next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == "web01")
        return proxy.index(row, ADDRESSES).data()
    shown = shown_for_web01()
    assert shown.endswith("/24 (guest agent)") and shown.count(".") == 3, shown
    assert window.details._fields["Guest OS"].text() == "— (no guest agent answers)"  # the test driver has none
    # The Addresses column (shown from the header's menu when the table is narrow): read for
    # the rows in view, the address without its prefix.
    window.machine_columns.choose(ADDRESSES, True)
    window.machines_view.scrollTo(proxy.index(window.machines_view.currentIndex().row(), 0))
    qtbot.waitUntil(lambda: column_for_web01() == shown.split("/")[0], timeout=5000)
    assert web01.key in services.addresses.watched()
    assert window.copy_address() == shown.split("/")[0]  # Machine → Copy Address (right-click too)
    assert QGuiApplication.clipboard().text() == shown.split("/")[0]
    assert len(services.addresses.watched()) < 100  # of 300 rows, only those in view
    run(services.inventory.hosts[LAB_URI].call(lambda conn: conn.lookupByUUIDString(web01.uuid).destroy()))
    qtbot.waitUntil(lambda: services.inventory.machines[web01.key].state == "shutoff", timeout=3000)
    assert shown_for_web01() == ""
    assert window.details._fields["Guest OS"].text() == "— (not running)"
    qtbot.waitUntil(lambda: column_for_web01() == "", timeout=5000)


def test_the_delete_key_opens_delete_which_asks_twice_for_a_running_machine(qtbot, window, services):
    from ecp_desktop.views.machines.delete_dialog import DeleteDialog
    proxy, view = window.machine_proxy, window.machines_view

    def select(*names):
        view.clearSelection()
        for r in range(proxy.rowCount()):
            if proxy.index(r, 0).data() in names:
                view.selectionModel().select(proxy.index(r, 0), view.selectionModel().SelectionFlag.Select
                                             | view.selectionModel().SelectionFlag.Rows)
    select("web01", "stopped01")
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    dialog = window.findChild(DeleteDialog)
    qtbot.waitUntil(lambda: len(dialog.plans) == 2, timeout=5000)
    assert dialog.force_off.isVisibleTo(dialog) and not dialog.delete_button.isEnabled()  # web01 runs
    web = next(p for p in dialog.plans if p.machine.name == "web01")
    assert dialog.chosen(web) == {"vda"}  # its one disk, in a pool, no other machine's
    dialog.force_off.setChecked(True)
    assert dialog.delete_button.isEnabled()
    dialog.delete_button.click()
    qtbot.waitUntil(lambda: not {"web01", "stopped01"} & {proxy.index(r, 0).data()
                                                          for r in range(proxy.rowCount())}, timeout=10000)
    assert window.machine_model.rowCount() == 302


def test_clone_opens_the_template_dialog_for_one_copy_with_a_free_name(qtbot, window):
    proxy = window.machine_proxy
    window.machines_view.selectRow(next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == "stopped01"))
    assert window.menu_actions.clone.isEnabled()
    dialog = window.open_clone_dialog()
    assert dialog.windowTitle() == "Clone stopped01"
    assert (dialog.count.value(), dialog.pattern.text()) == (1, "stopped01-clone")
    dialog.close()


def test_a_start_failed_on_a_stopped_network_offers_to_start_it(qtbot, run, window, services):
    """The test driver starts a machine whatever its network's state, so the failure is built
    here with the fields a real libvirtd gives (the lab checks those: test_networks_lab.py);
    the network it names is really stopped on the lab host and really started by the button."""
    import libvirt

    from ecp_desktop.services.core.errors import HypervisorError
    host = services.inventory.hosts[LAB_URI]
    run(host.call(lambda conn: conn.networkLookupByName("isolated").destroy()))
    error = HypervisorError("Requested operation is not valid: network 'isolated' is not active",
                            code=libvirt.VIR_ERR_OPERATION_INVALID, domain=libvirt.VIR_FROM_NETWORK,
                            str2="network 'isolated' is not active", host_uri=LAB_URI, operation="start")
    dialog = window.show_errors("Start failed", [("web01", error), ("web02", error)])
    assert [b.text() for b in dialog.offer_buttons] == ["Start Network isolated"]  # once for both machines
    plain = window.show_errors("Start failed", [("web01", "something else")])
    assert plain.offer_buttons == []
    plain.close()
    dialog.offer_buttons[0].click()
    assert not dialog.offer_buttons[0].isEnabled()
    qtbot.waitUntil(lambda: run(host.call(lambda c: c.networkLookupByName("isolated").isActive())) == 1,
                    timeout=5000)
    qtbot.waitUntil(lambda: "Network isolated started" in window.statusBar().currentMessage(), timeout=5000)
    dialog.close()


def test_copy_address_works_with_the_addresses_column_hidden_and_showing_it_reads_the_rows(qtbot, window, services):
    proxy, view = window.machine_proxy, window.machines_view
    window.machine_columns.choose(ADDRESSES, False)  # hidden, as a narrow window fits it
    qtbot.wait(RowsInView.DELAY_MS + 100)
    assert not services.addresses.watched()  # no row's addresses read for a hidden column
    view.selectRow(next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data() == "web01"))
    qtbot.waitUntil(lambda: window.copy_address() != "", timeout=5000)  # the selected one is read
    assert QGuiApplication.clipboard().text().count(".") == 3
    window.machine_columns.choose(ADDRESSES, True)  # shown from the header's menu: its rows are read
    qtbot.waitUntil(lambda: len(services.addresses.watched()) > 1, timeout=3000)
