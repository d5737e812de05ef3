"""Host → Storage… as a user meets it (test driver): the lists, each form checked as you type,
changes run as tasks and the lists read again, refusals said."""
import pytest
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

from ecp_desktop.views.storage.storage_dialog import StorageDialog

from ...helpers import TEMPLATE_URI
from ...helpers.gui import first_column as names

OK = QDialogButtonBox.StandardButton.Ok


@pytest.mark.qt_log_ignore("This plugin does not support")
def test_storage_lists_pools_and_volumes_and_makes_a_pool_and_a_volume(qtbot, run, services, template_host, parent,
                                                                       qtmodeltester, tmp_path):
    dialog = StorageDialog(parent, services.storage, TEMPLATE_URI, "template")
    dialog.show()
    dialog.reload()
    qtbot.waitUntil(lambda: "pool-a" in names(dialog.pools), timeout=5000)
    qtmodeltester.check(dialog.pools)
    qtmodeltester.check(dialog.volumes)
    dialog.pool_view.selectRow(names(dialog.pools).index("pool-a"))
    row = {dialog.volumes.index(r, 0).data(): [dialog.volumes.index(r, c).data() for c in range(6)]
           for r in range(dialog.volumes.rowCount())}
    assert row["tpl-root.qcow2"][:5] == ["tpl-root.qcow2", "qcow2", "40.0 GiB", "20.0 GiB", "tpl"]
    assert dialog.volumes_title.text() == "Volumes of pool-a"

    # A volume a machine uses: Delete says why, nothing is asked.
    dialog.volume_view.selectRow(list(row).index("tpl-root.qcow2"))
    assert dialog.buttons["Delete Volume…"].toolTip() == "used by tpl"
    dialog.delete_volume()
    assert "is used by tpl; it cannot be deleted" in dialog.status.text()

    # New Pool: the fields a type needs, checked as typed.
    form = dialog.new_pool()
    form.name.setText("pool-a")
    assert "exists on this host already" in form.status.text() and not form.buttons.button(OK).isEnabled()
    form.name.setText("images")
    form.kind.setCurrentIndex(form.kind.findData("netfs"))
    assert form.status.text() == "a netfs pool needs a server" and not form.form.isRowVisible(form.volume_group)
    form.find_sources()  # no server yet: said
    qtbot.waitUntil(lambda: form.found_words.text() == "say which server to ask", timeout=5000)
    form.source_host.setText("nas.example")
    form.find_sources()
    qtbot.waitUntil(lambda: form.found.count() == 1, timeout=5000)  # the test driver's answer
    assert form.source_dir.text() == "/testshare" and form.found.currentText() == "nas.example:/testshare"
    form.kind.setCurrentIndex(form.kind.findData("logical"))
    form.find_sources()
    qtbot.waitUntil(lambda: form.found.count() == 2, timeout=5000)
    assert form.volume_group.text() == "testvg1"
    form.kind.setCurrentIndex(form.kind.findData("dir"))
    form.path.setText("/srv/images")
    assert form.buttons.button(OK).isEnabled()
    form.buttons.button(OK).click()
    qtbot.waitUntil(lambda: "images" in names(dialog.pools), timeout=5000)
    assert "Create pool images: created and started pool images" in dialog.status.text()
    dialog.pool_view.selectRow(names(dialog.pools).index("images"))

    volume = dialog.new_volume()
    volume.name.setText("../escape")
    assert "not a safe file name" in volume.status.text()
    volume.name.setText("data.qcow2")
    volume.size.setValue(2)
    volume.buttons.button(OK).click()
    qtbot.waitUntil(lambda: dialog.volumes.rowCount() == 1, timeout=5000)
    assert dialog.volumes.index(0, 2).data() == "2.0 GiB"

    # Copy…: a full copy beside it, its name proposed.
    dialog.volume_view.selectRow(0)
    copy = dialog.copy_volume()
    assert copy.textValue() == "data-copy.qcow2"
    copy.accept()
    qtbot.waitUntil(lambda: names(dialog.volumes) == ["data-copy.qcow2", "data.qcow2"], timeout=5000)
    assert dialog.volumes.index(0, 2).data() == "2.0 GiB"

    # Upload…: the test driver has no volume streams, a real refusal half-way: said, nothing left.
    local = tmp_path / "installer.iso"
    local.write_bytes(b"\0" * 2048)
    dialog.upload("images", str(local))
    qtbot.waitUntil(lambda: "not supported" in dialog.status.text(), timeout=5000)
    assert "installer.iso" not in names(dialog.volumes) and not dialog.buttons["Cancel Transfer"].isVisible()

    # Delete asks first (No by default), then deletes.
    dialog.volume_view.selectRow(0)
    dialog.delete_volume()
    box = dialog.form
    assert isinstance(box, QMessageBox) and box.defaultButton() == box.button(QMessageBox.StandardButton.No)
    assert box.checkBox().text().startswith("Overwrite its data first") and not box.checkBox().isChecked()
    box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: names(dialog.volumes) == ["data.qcow2"], timeout=5000)
    dialog.close()


def test_the_storage_view_follows_pools_changed_outside_it(qtbot, run, services, template_host, parent):
    """Plain libvirt calls on the host's connection (as virsh would make on the host): the
    dialog reads again on libvirt's pool events, with no polling."""
    dialog = StorageDialog(parent, services.storage, TEMPLATE_URI, "template")
    dialog.show()
    dialog.reload()
    qtbot.waitUntil(lambda: "pool-a" in names(dialog.pools), timeout=5000)
    host = services.inventory.hosts[TEMPLATE_URI]
    xml = "<pool type='dir'><name>outside</name><target><path>/srv/outside</path></target></pool>"
    run(host.call(lambda conn: conn.storagePoolDefineXML(xml, 0).create(0)))
    qtbot.waitUntil(lambda: "outside" in names(dialog.pools), timeout=5000)
    run(host.call(lambda conn: conn.storagePoolLookupByName("outside").destroy()))
    qtbot.waitUntil(lambda: dialog.pools.index(names(dialog.pools).index("outside"), 2).data() == "inactive",
                    timeout=5000)
    run(host.call(lambda conn: conn.storagePoolLookupByName("outside").undefine()))
    qtbot.waitUntil(lambda: "outside" not in names(dialog.pools), timeout=5000)
    dialog.close()


def test_a_host_that_goes_away_leaves_its_last_known_storage_greyed(qtbot, run, services, template_host, parent):
    from PySide6.QtCore import Qt
    dialog = StorageDialog(parent, services.storage, TEMPLATE_URI, "template")
    dialog.show()
    dialog.reload()
    qtbot.waitUntil(lambda: "pool-a" in names(dialog.pools), timeout=5000)
    assert dialog.buttons["New Pool…"].isEnabled()
    host = services.inventory.hosts[TEMPLATE_URI]
    run(services.host_actions.disconnect(host))
    qtbot.waitUntil(lambda: dialog.stale, timeout=5000)
    assert dialog.status.text().startswith("Last known at ") and "not connected" in dialog.status.text()
    assert "pool-a" in names(dialog.pools) and dialog.volumes.rowCount() == 2
    assert dialog.pools.index(0, 0).data(Qt.ItemDataRole.ForegroundRole) is not None  # greyed
    assert [n for n, b in dialog.buttons.items() if b.isEnabled() and not b.isHidden()] == []
    run(services.host_actions.connect(host))
    qtbot.waitUntil(lambda: not dialog.stale, timeout=5000)
    assert dialog.status.text() == "" and dialog.buttons["New Pool…"].isEnabled()
    dialog.close()
