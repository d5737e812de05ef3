"""The setup wizard, walked page by page as a user would, on test-driver hosts."""
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QWizard

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.services.config import app_config, preferences
from ecp_desktop.services.setup import steps
from ecp_desktop.services.setup.pipeline import HookRegistry
from ecp_desktop.views.setup.restore_choice import HINT
from ecp_desktop.views.setup.wizard import SetupWizard

from ...helpers import LAB_URI, VIRT_MANAGER_URI


def next_page(qtbot, wizard, page_type):
    qtbot.waitUntil(lambda: wizard.currentPage().isComplete(), timeout=15000)
    wizard.next()
    assert isinstance(wizard.currentPage(), page_type)
    return wizard.currentPage()


def walk_to(qtbot, wizard, page_type):
    while not isinstance(wizard.currentPage(), page_type):
        qtbot.waitUntil(lambda: wizard.currentPage().isComplete(), timeout=15000)
        wizard.next()
    return wizard.currentPage()


def child(host_item, name):
    return next(host_item.child(i) for i in range(host_item.childCount()) if host_item.child(i).text(0) == name)


@pytest.fixture(autouse=True)
def unanswered():
    """Nobody has said yet which machines the window starts again (and nobody has, after the test)."""
    preferences.set_restore_at_start("")
    yield
    preferences.set_restore_at_start("")


def choose(qtbot, page, choice):
    button = page.restore.buttons[choice]  # clicked on its round mark, as a user would
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=QPoint(8, button.height() // 2))
    assert page.restore.choice() == choice


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
    # The last question: which machines come back when the window opens. None is preselected,
    # and Run Setup waits for an answer.
    assert imports.restore.choice() is None and imports.restore.hint.text() == HINT
    assert [b.text() for b in imports.restore.buttons.values()] == [
        "Those that were running (Last State)", "Only those marked Always On", "None: I start machines myself"]
    commit = wizard.button(QWizard.WizardButton.CommitButton)
    assert commit.text() == "Run Setup" and not commit.isEnabled()
    choose(qtbot, imports, "always")
    assert commit.isEnabled() and "File → Preferences" in imports.restore.hint.text()
    assert preferences.current().restore_at_start == ""  # saved when setup ends, not before

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
    assert progress.summary.text().startswith("✔ Setup finished.\nMachines: 4 added")
    assert "Machines started when the window opens" in progress.steps.toPlainText()
    assert preferences.current().restore_at_start == "always"
    with database.connection_context():
        lab_names = sorted(m.name for m in schema.Machine.select().join(schema.Host)
                           .where(schema.Host.uri == LAB_URI))
        hosts = {h.uri: h.autoconnect for h in schema.Host.select()}
    assert lab_names == ["db01", "stopped01", "web01"]
    assert hosts == {LAB_URI: True, "test:///default": True}
    skipped = next(i for i in report.imports if i.uri == LAB_URI).skipped
    assert skipped == [("paused01", "not selected for import")]
    # The choices typed on the way are in the run now: Esc after it closes, no "Discard …?"
    qtbot.keyClick(wizard, Qt.Key.Key_Escape)
    assert wizard.discard_question is None


def test_first_start_runs_the_wizard_then_opens_the_window_on_the_chosen_hosts(qtbot, qapp, tmp_path, event_loop_qt):
    from ecp_desktop.app import GuiSession
    from ecp_desktop.views.setup.wizard import ProgressPage
    url = f"sqlite:///{tmp_path / 'first.sqlite3'}"
    session = GuiSession(qapp, url, [LAB_URI], database_locked=False)
    session.first_run()
    wizard = session.wizard  # the session deletes it when it closes
    while not isinstance(wizard.currentPage(), ProgressPage):
        if hasattr(wizard.currentPage(), "restore"):
            choose(qtbot, wizard.currentPage(), "never")
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
        # the wizard's answer stands: the window does not ask again, and starts nothing
        assert preferences.current().restore_at_start == "never" and getattr(session, "restore_question", None) is None
    finally:
        if session.window:
            session.window.close()
            session.services.shutdown()
        app_config.config_path().unlink(missing_ok=True)


def test_enter_in_the_add_field_checks_the_host_and_stays_on_the_page(qtbot, wizard):
    from ecp_desktop.views.setup.wizard import ConnectionsPage, ImportPage
    connections = walk_to(qtbot, wizard, ConnectionsPage)
    qtbot.waitUntil(lambda: not connections.detecting, timeout=15000)
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    connections.uri_edit.setFocus()
    qtbot.keyClicks(connections.uri_edit, VIRT_MANAGER_URI)
    connections.name_edit.setText("bad\u202ename")  # (pasted: no key types U+202E)
    qtbot.keyClick(connections.name_edit, Qt.Key.Key_Return)
    assert "control character" in connections.note.text() and not connections.adding  # the name is checked
    connections.name_edit.clear()
    qtbot.keyClicks(connections.name_edit, "Old lab")  # a host is named where it is added
    qtbot.keyClick(connections.uri_edit, Qt.Key.Key_Return)
    assert wizard.currentPage() is connections  # Enter adds; it does not go on
    assert connections.note.text() == f"Trying {VIRT_MANAGER_URI} …" and not next_button.isEnabled()
    qtbot.waitUntil(lambda: connections.note.text() == f"✔ {VIRT_MANAGER_URI} answers.", timeout=15000)
    added = connections.items[VIRT_MANAGER_URI]
    assert added.checkState(0) == Qt.CheckState.Checked and "14 machines" in added.text(1)
    assert wizard.currentPage() is connections and next_button.isEnabled() and connections.uri_edit.text() == ""
    assert added.text(0) == f"Old lab  ({VIRT_MANAGER_URI})" and connections.name_edit.text() == ""
    assert wizard.options().labels == {VIRT_MANAGER_URI: "Old lab"}
    imports = next_page(qtbot, wizard, ImportPage)
    qtbot.waitUntil(lambda: imports.pending == 0, timeout=15000)
    assert imports.hosts[VIRT_MANAGER_URI].text(1) == "14 machines"  # the host checked is the host previewed


def test_a_problem_is_counted_and_listed_never_under_a_tick(qtbot, wizard, monkeypatch):
    """An extension that raises (issue 23: a pool's size overflowed the column) leaves no ✔."""
    from ecp_desktop.views.setup.wizard import ImportPage, ProgressPage

    def overflowing(_ctx):
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    def hooks():
        registry = HookRegistry()
        registry.after("import", overflowing, name="networks-and-pools")
        return registry
    monkeypatch.setattr(steps, "load_extension_hooks", hooks)
    choose(qtbot, walk_to(qtbot, wizard, ImportPage), "last")
    with qtbot.waitSignal(wizard.setup_finished, timeout=30000):
        progress = next_page(qtbot, wizard, ProgressPage)
    summary = progress.summary.text()
    assert "✔" not in summary
    assert summary.splitlines()[:2] == [
        "⚠ Setup finished with 1 problem.",
        "• Extension networks-and-pools (after import): raised an error: "
        "OverflowError: Python int too large to convert to SQLite INTEGER"]
    assert preferences.current().restore_at_start == "last"
