"""The setup wizard, walked page by page as a user would, on test-driver hosts."""
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.services.config import app_config
from ecp_desktop.views.setup.wizard import SetupWizard

from .helpers import LAB_URI


def next_page(qtbot, wizard, page_type):
    qtbot.waitUntil(lambda: wizard.currentPage().isComplete(), timeout=15000)
    wizard.next()
    assert isinstance(wizard.currentPage(), page_type)
    return wizard.currentPage()


def child(host_item, name):
    return next(host_item.child(i) for i in range(host_item.childCount()) if host_item.child(i).text(0) == name)


@pytest.fixture
def wizard(qtbot, tmp_path):
    w = SetupWizard(database_url=f"sqlite:///{tmp_path / 'wizard.sqlite3'}", database_locked=False,
                    typed_connections=[LAB_URI], probe_timeout=5)
    qtbot.addWidget(w)
    w.show()
    yield w
    if database.obj is not None:
        database.close()


def test_walking_every_page_imports_what_was_ticked(qtbot, wizard, tmp_path):
    from ecp_desktop.views.setup.wizard import ConnectionsPage, DatabasePage, ImportPage, ProgressPage
    db_page = next_page(qtbot, wizard, DatabasePage)
    assert db_page.path.text() == str(tmp_path / "wizard.sqlite3") and db_page.isComplete()
    # PostgreSQL: Next stays disabled until the server has answered the test.
    db_page.postgres.setChecked(True)
    db_page.pg_url.setText("postgresql://nobody@127.0.0.1:1/inventory")
    assert not db_page.isComplete()
    qtbot.mouseClick(db_page.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: db_page.result.text().startswith("✖"), timeout=15000)
    assert "Connection refused" in db_page.result.text() and not db_page.isComplete()
    db_page.sqlite.setChecked(True)

    connections = next_page(qtbot, wizard, ConnectionsPage)
    qtbot.waitUntil(lambda: not connections.detecting, timeout=15000)
    assert connections.chosen() == [LAB_URI]  # what the user typed; the demo host is offered, not ticked
    demo = connections.items["test:///default"]
    assert demo.checkState(0) == Qt.CheckState.Unchecked and "answers: TEST" in demo.text(1)
    assert "no libvirt daemon" in connections.items["lxc:///system"].text(1)
    connections.uri_edit.setText("qemu+ssh:///system")
    connections.add_uri()
    assert connections.note.text().startswith("✖") and "host" in connections.note.text()
    demo.setCheckState(0, Qt.CheckState.Checked)

    imports = next_page(qtbot, wizard, ImportPage)
    qtbot.waitUntil(lambda: imports.pending == 0, timeout=15000)
    lab = imports.hosts[LAB_URI]
    assert lab.text(1) == "4 machines" and lab.childCount() == 4
    assert child(lab, "paused01").text(1) == "paused"
    child(lab, "paused01").setCheckState(0, Qt.CheckState.Unchecked)
    assert imports.counts.text() == "4 of 5 machines ticked on 2 connections"

    progress = next_page(qtbot, wizard, ProgressPage)
    assert not wizard.button(QWizard.WizardButton.BackButton).isEnabled()
    with qtbot.waitSignal(wizard.setup_finished, timeout=30000) as finished:
        pass
    report = finished.args[0]
    assert report.ok and progress.isComplete()
    shown = [o.title for o in progress.shown]
    assert "Import existing machines" in progress.steps.toPlainText()
    assert shown[:4] == ["Create or upgrade the inventory tables", "Record the local host",
                         "Find hypervisor connections", "Import existing machines"]
    assert "Extension: networks-and-pools (after import)" in progress.steps.toPlainText()
    assert progress.summary.text().startswith("✔ Setup finished. Machines: 4 added")
    with database.connection_context():
        lab_names = sorted(m.name for m in schema.Machine.select().join(schema.Host)
                           .where(schema.Host.uri == LAB_URI))
        hosts = {h.uri: h.autoconnect for h in schema.Host.select()}
    assert lab_names == ["db01", "stopped01", "web01"]
    assert hosts == {LAB_URI: True, "test:///default": True}
    skipped = next(i for i in report.imports if i.uri == LAB_URI).skipped
    assert skipped == [("paused01", "not selected for import")]


def test_first_start_runs_the_wizard_then_opens_the_window_on_the_chosen_hosts(qtbot, qapp, tmp_path, event_loop_qt):
    from ecp_desktop.app import GuiSession
    from ecp_desktop.views.setup.wizard import ProgressPage
    url = f"sqlite:///{tmp_path / 'first.sqlite3'}"
    session = GuiSession(qapp, url, [LAB_URI], database_locked=False)
    session.first_run()
    wizard = session.wizard  # the session deletes it when it closes
    while not isinstance(wizard.currentPage(), ProgressPage):
        qtbot.waitUntil(lambda: wizard.currentPage().isComplete(), timeout=15000)
        wizard.next()
    qtbot.waitUntil(lambda: wizard.currentPage().isComplete(), timeout=30000)
    wizard.button(QWizard.WizardButton.FinishButton).click()
    try:
        qtbot.waitUntil(lambda: session.window is not None and session.window.isVisible(), timeout=10000)
        inventory = session.services.inventory
        qtbot.waitUntil(lambda: len(inventory.machines_of(LAB_URI)) == 4, timeout=10000)
        assert list(inventory.hosts) == [LAB_URI]
        assert app_config.saved_database_url() == url  # the next start goes straight to the window
    finally:
        if session.window:
            session.window.close()
            session.services.shutdown()
        app_config.config_path().unlink(missing_ok=True)
