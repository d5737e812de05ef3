"""Host → Networks… as a user meets it (test driver): the list, leases said unavailable where
the driver keeps none, a network proposed on free space, created, stopped and deleted."""
import pytest
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

from ecp_desktop.views.networks.networks_dialog import NetworksDialog

from ...helpers.gui import first_column as names
from ...helpers import NETWORKS_URI

DEMO = NETWORKS_URI
OK = QDialogButtonBox.StandardButton.Ok


@pytest.mark.qt_log_ignore("This plugin does not support")
def test_networks_list_leases_said_unavailable_and_a_new_network_proposed(qtbot, run, services, parent,
                                                                          qtmodeltester):
    host = services.inventory.add_host(DEMO)
    assert run(services.inventory.connect_host(host))
    run(services.inventory.load_host(host))
    dialog = NetworksDialog(parent, services.networks, DEMO, "Demo host")
    dialog.show()
    dialog.reload()
    qtbot.waitUntil(lambda: names(dialog.rows) == ["default"], timeout=5000)
    qtmodeltester.check(dialog.rows)
    cells = [dialog.rows.index(0, c).data() for c in range(8)]
    assert cells == ["default", "NAT", "active", "no", "virbr0", "192.168.122.0/24",
                     "192.168.122.2 – 192.168.122.254", "test (running)"]
    qtbot.waitUntil(lambda: "not available" in dialog.leases_title.text(), timeout=5000)  # the test driver keeps none
    dialog.delete_network()
    assert "used by running machines (test); it cannot be deleted" in dialog.status.text()

    dialog.new_network()
    qtbot.waitUntil(lambda: dialog.form is not None, timeout=5000)
    form = dialog.form
    assert (form.subnet.text(), form.bridge.text()) == ("192.168.100.0/24", "virbr1")
    form.name.setText("lab")
    form.bridge.setText("a-bridge-name-too-long")
    assert "a bridge name has at most 15" in form.status.text()
    form.bridge.setText("virbr1")
    form.mode.setCurrentIndex(form.mode.findData("macvtap"))  # guests on a host device: no subnet, no bridge
    assert not form.form.isRowVisible(form.subnet) and not form.form.isRowVisible(form.bridge)
    assert form.status.text() == "a macvtap network names the host's device (eth0, ...)"
    form.mode.setCurrentIndex(form.mode.findData("bridge"))  # the host's own bridge, not the proposed virbrN
    assert form.bridge.text() == "" and form.status.text() == "a bridged network names the host's bridge (br0, ...)"
    form.mode.setCurrentIndex(form.mode.findData("nat"))
    assert form.bridge.text() == "virbr1"
    form.dns_domain.setText("lab..example")
    assert "is not a DNS domain" in form.status.text()
    form.dns_domain.setText("")
    form.buttons.button(OK).click()
    qtbot.waitUntil(lambda: "lab" in names(dialog.rows), timeout=5000)
    assert "created and started network lab (192.168.100.0/24, bridge virbr1)" in dialog.status.text()
    dialog.view.selectRow(names(dialog.rows).index("lab"))
    dialog.buttons["Stop"].click()
    qtbot.waitUntil(lambda: dialog.rows.rows[names(dialog.rows).index("lab")].active is False, timeout=5000)
    dialog.delete_network()
    dialog.form.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: names(dialog.rows) == ["default"], timeout=5000)
    dialog.close()


def test_the_networks_view_follows_networks_changed_outside_it(qtbot, run, services, parent):
    host = services.inventory.add_host(DEMO)
    assert run(services.inventory.connect_host(host))
    dialog = NetworksDialog(parent, services.networks, DEMO, "Demo host")
    dialog.show()
    dialog.reload()
    qtbot.waitUntil(lambda: names(dialog.rows) == ["default"], timeout=5000)
    xml = ("<network><name>outside</name><bridge name='virbr9'/>"
           "<ip address='192.168.150.1' netmask='255.255.255.0'/></network>")
    run(host.call(lambda conn: conn.networkDefineXML(xml).create()))
    qtbot.waitUntil(lambda: names(dialog.rows) == ["default", "outside"], timeout=5000)
    assert dialog.rows.rows[1].active
    run(host.call(lambda conn: conn.networkLookupByName("outside").destroy()))
    qtbot.waitUntil(lambda: not dialog.rows.rows[1].active, timeout=5000)
    dialog.close()


@pytest.mark.qt_log_ignore("This plugin does not support")
def test_a_fixed_address_is_added_and_removed_in_the_dialog(qtbot, run, services, parent, qtmodeltester):
    host = services.inventory.add_host(DEMO)
    assert run(services.inventory.connect_host(host))
    dialog = NetworksDialog(parent, services.networks, DEMO, "Demo host")
    dialog.show()
    dialog.reload()
    qtbot.waitUntil(lambda: names(dialog.rows) == ["default"], timeout=5000)
    assert dialog.buttons["Add Fixed Address…"].isEnabled() and not dialog.buttons["Remove…"].isEnabled()
    form = dialog.add_fixed()
    form.mac.setText("aa:bb:cc:dd:ee")
    assert "a MAC address such as" in form.status.text() and not form.buttons.button(OK).isEnabled()
    form.mac.setText("aa:bb:cc:dd:ee:ff")
    form.ip.setText("192.168.122.50")
    form.hostname.setText("test")
    form.buttons.button(OK).click()
    qtbot.waitUntil(lambda: dialog.fixed.rowCount() == 1, timeout=5000)
    qtmodeltester.check(dialog.fixed)
    assert [dialog.fixed.index(0, c).data() for c in range(4)] == ["aa:bb:cc:dd:ee:ff", "192.168.122.50", "test",
                                                                   "test"]
    dialog.fixed_view.selectRow(0)
    dialog.remove_fixed()
    dialog.form.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: dialog.fixed.rowCount() == 0, timeout=5000)
    dialog.close()
