"""Names render as text, never as markup: machines, titles, disks and host labels named like
HTML (`<i>web-1<!--`, `<a href=...>`, `<img ...>`) on a real window over test-driver hosts.

Every widget of the window and of the dialogs it opens is walked: a QLabel or QMessageBox
that shows such a name must not render it as rich text (Qt guesses with
``Qt.mightBeRichText`` unless the format is set), and a tooltip (a widget's, an action's,
every ToolTipRole of every item view's model) must never carry the raw name: Qt renders a
tooltip that looks like HTML as HTML.
"""
from __future__ import annotations

import pytest
from PySide6.QtCore import QModelIndex, QSettings, Qt
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QMessageBox, QWidget

from ecp_desktop.services.actions.lifecycle import ACTIONS
from ecp_desktop.services.config import preferences
from ecp_desktop.services.inventory.machines import MachineInfo
from ecp_desktop.services.tasks.records import FAILED, SUCCEEDED

from ...helpers.gui import names_shown, select_rows
from ...helpers.hostile import (DEAD_LABEL, DISK_DIR, HOST_LABEL, MACHINES, MARKERS, OTHER_LABEL, OTHER_MACHINES,
                                write_hostile_host)

DEAD_URI = "qemu+tcp://127.0.0.1:1/system"
TIP = Qt.ItemDataRole.ToolTipRole


def _raw(text: str) -> list[str]:
    return [m for m in MARKERS if m in (text or "")]


def _renders_rich(text: str, fmt: Qt.TextFormat) -> bool:
    if fmt == Qt.TextFormat.PlainText:
        return False
    return fmt in (Qt.TextFormat.RichText, Qt.TextFormat.MarkdownText) or GuiQt.mightBeRichText(text)


def _where(widget: QWidget) -> str:
    top = QWidget.window(widget)  # a dialog may have an attribute named window
    return f"{type(widget).__name__} in {type(top).__name__} {top.windowTitle()!r}"


def _model_tips(model, parent=QModelIndex()) -> list[tuple[str, str]]:
    """(where, tooltip) for every index of ``model`` (a tree's children too)."""
    tips = []
    for row in range(model.rowCount(parent)):
        column = 0  # some of Qt's own models keep columnCount private: walk until an invalid index
        while (index := model.index(row, column, parent)).isValid():
            tip = index.data(TIP)
            if isinstance(tip, str) and tip:
                tips.append((f"row {row} column {column}", tip))
            column += 1
        first = model.index(row, 0, parent)
        if model.rowCount(first):
            tips += _model_tips(model, first)
    return tips


def offences(*roots: QWidget) -> list[str]:
    """What would show a hostile name as markup, in ``roots`` and every widget under them."""
    found = []
    widgets = []
    for root in roots:
        widgets += [root, *root.findChildren(QWidget)]
    for w in widgets:
        where = _where(w)
        if isinstance(w, QLabel) and _raw(w.text()) and _renders_rich(w.text(), w.textFormat()):
            found.append(f"{where}: label renders {w.text()!r} as rich text")
        if isinstance(w, QMessageBox) and _raw(w.text()) and _renders_rich(w.text(), w.textFormat()):
            found.append(f"{where}: message box renders {w.text()!r} as rich text")
        if _raw(w.toolTip()):
            found.append(f"{where}: tooltip {w.toolTip()!r} has a raw name")
        for action in w.actions():
            if _raw(action.toolTip()):
                found.append(f"{where}: action {action.text()!r} has tooltip {action.toolTip()!r} with a raw name")
        if isinstance(w, QAbstractItemView) and not isinstance(w, QHeaderView) and w.model() is not None:
            bad = [(at, tip) for at, tip in _model_tips(w.model()) if _raw(tip)]
            if bad:  # one line per view: the first such tooltip and how many there are
                found.append(f"{where} {type(w.model()).__name__}: {len(bad)} tooltips with a raw name, "
                             f"e.g. {bad[0][0]}: {bad[0][1]!r}")
    return found


class Seen:
    """Offences gathered along the way (each once), so one run names every place at fault."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def walk(self, *roots: QWidget) -> None:
        for offence in offences(*roots):
            if offence not in self.found:
                self.found.append(offence)


class FakeTrayIcon:
    """Stands in for the system tray icon the offscreen platform does not have."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def showMessage(self, title, message, *_args) -> None:  # noqa: N802 (Qt's name)
        self.messages.append((title, message))


@pytest.fixture(autouse=True)
def default_preferences():
    preferences.save(preferences.Preferences())  # confirmations on
    yield
    preferences.save(preferences.Preferences())


@pytest.fixture
def hostile(qtbot, run, services, tmp_path):
    """The main window over two hostile hosts and a dead one, all three labelled like markup."""
    from ecp_desktop.views.window.main_window import MainWindow
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(services, settings)
    qtbot.addWidget(window)
    window.show()
    uri = write_hostile_host(tmp_path / "hostile-a.xml")
    other = write_hostile_host(tmp_path / "hostile-b.xml", OTHER_MACHINES, first=10)
    for host_uri, label in ((uri, HOST_LABEL), (other, OTHER_LABEL)):
        assert run(services.inventory.connect_host(services.inventory.add_host(host_uri, label=label)))
    assert not run(services.inventory.connect_host(services.inventory.add_host(DEAD_URI, label=DEAD_LABEL)))
    qtbot.waitUntil(lambda: window.machine_model.rowCount() == len(MACHINES) + len(OTHER_MACHINES), timeout=10000)
    return window, uri  # services.shutdown() closes the hosts, the dead one's retries too


def row_of(window, name: str) -> int:
    return names_shown(window).index(name)


def machine_named(services, name: str) -> MachineInfo:
    return next(m for m in services.inventory.machines.values() if m.name == name)


def test_the_window_and_its_dialogs_show_hostile_names_as_text(hostile, qtbot, run, services):
    window, uri = hostile
    seen = Seen()
    seen.walk(window)  # the lists, the host table, the status bar

    # The details panel, one machine at a time.
    for name, (_state, title) in MACHINES.items():
        window.machines_view.clearSelection()
        select_rows(window, [row_of(window, name)])
        qtbot.waitUntil(lambda: window.details.details is not None, timeout=3000)
        assert window.details._fields["Name"].text() == name
        assert window.details._fields["Title"].text() == title
        seen.walk(window)

    # Force off asks first, naming the machines as they are.
    running = [n for n, (state, _t) in MACHINES.items() if state == 1]
    window.machines_view.clearSelection()
    select_rows(window, [row_of(window, n) for n in running])
    window.run_action("force_off")
    box = window.last_confirmation
    assert box.isVisible() and all(n in box.text() for n in running)
    seen.walk(window)
    box.button(QMessageBox.StandardButton.No).click()

    # Remove from List asks first, naming the host by its label.
    window.hosts_view.selectRow(next(r for r in range(window.host_model.rowCount())
                                     if window.host_model.host(r).uri == uri))
    window.menu_actions.remove_host.trigger()
    box = window.remove_confirmation
    assert box.isVisible() and HOST_LABEL in box.text()
    seen.walk(window)
    box.button(QMessageBox.StandardButton.No).click()
    window.hosts_view.clearSelection()

    # The error dialog: a bulk action's libvirt errors, then a refusal in words naming a machine.
    ghosts = [MachineInfo(uri, f"00000000-0000-0000-0000-00000000000{i}", name, "shutoff")
              for i, name in enumerate(MACHINES)]
    run(window._apply_and_report(ACTIONS["start"], ghosts))
    dialog = window.last_error_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.details_button.setChecked(True)
    seen.walk(window)
    dialog.close()
    from ecp_desktop.views.new_machine.template_dialog import create_from_template
    template = machine_named(services, "<b>bold & co")
    clash = "<i>web-{n}<!--"  # gives <i>web-1<!--, a machine of the host
    run(create_from_template(services.templates, window.show_errors, window.show_tasks, uri, template.uuid, 1, clash,
                             False))
    dialog = window.last_error_dialog
    assert dialog.isVisible() and template.name in dialog.headline.text()  # its disks are in no pool
    seen.walk(window)
    dialog.close()

    # The template dialog: its preview of names, and a clash with a hostile name.
    window.machines_view.clearSelection()
    select_rows(window, [row_of(window, template.name)])
    dialog = window.open_template_dialog()
    assert dialog.chosen().name == template.name
    qtbot.waitUntil(lambda: not dialog.checking())  # its disks are read on the host before Create
    assert DISK_DIR in dialog.reason.text() and not dialog.create_button.isEnabled()  # in no pool: says so
    seen.walk(window)
    dialog.leave_out.setChecked(True)
    assert template.name in dialog.preview.text() and dialog.create_button.isEnabled()
    seen.walk(window)
    dialog.count.setValue(1)
    dialog.pattern.setText(clash)
    assert not dialog.create_button.isEnabled() and "already on this host: <i>web-1<!--" in dialog.preview.text()
    seen.walk(window)
    dialog.close()

    # The migration dialog: its header, destinations and reasons.
    window.machines_view.clearSelection()
    select_rows(window, [row_of(window, "<i>web-1<!--")])
    dialog = window.open_migration_dialog()
    qtbot.waitUntil(dialog.checking.done, timeout=5000)
    assert dialog.destinations.count() == 2 and not dialog.migrate_button.isEnabled()
    seen.walk(window)
    dialog.close()

    # A task's details, from the tasks pane.
    window.machines_view.clearSelection()
    select_rows(window, [row_of(window, "<img src=x>")])
    window.menu_actions.lifecycle["start"].trigger()
    qtbot.waitUntil(lambda: any(t.title == "Start <img src=x>" and t.status == SUCCEEDED
                                for t in services.tasks.tasks), timeout=5000)
    record = next(t for t in services.tasks.tasks if t.title == "Start <img src=x>" and t.status == SUCCEEDED)
    qtbot.waitUntil(lambda: window.task_model.index_of(record).isValid(), timeout=3000)
    window.tasks_pane.select(record)
    window.tasks_pane.show_selected_details()
    box = window.tasks_pane.last_message
    assert box.isVisible() and "Start <img src=x>" in box.text()
    seen.walk(window)
    box.close()

    # The tray: its notifications while nobody looks, and its menu of recent tasks.
    tray = window.tray
    tray.icon = icon = FakeTrayIcon()
    window.hide()
    ghost = MachineInfo(uri, "00000000-0000-0000-0000-0000000000aa", "<b>bold & co", "shutoff")
    run(services.lifecycle.apply_many("start", [ghost]))
    assert any(t.title == "Start <b>bold & co" and t.status == FAILED for t in services.tasks.tasks)
    tray.refresh_menu()
    shown = [a.iconText() for a in tray.recent_menu.actions()]  # what the menu shows ('&' is a mnemonic)
    if not any("Start <b>bold & co" in text for text in shown):
        seen.found.append(f"tray menu shows {shown!r}: the '&' of a name became a mnemonic")
    seen.walk(window)
    assert icon.messages, "a failure while nobody looks is notified"
    for title, message in icon.messages:
        if _raw(title) or _raw(message):
            seen.found.append(f"tray notification {title!r}: {message!r} has a raw name")
    tray.icon = None
    window.show()

    assert not seen.found, "shown as markup:\n" + "\n".join(seen.found)


def test_the_setup_wizard_shows_what_hosts_and_servers_say_as_text(qtbot, tmp_path):
    from ecp_desktop.services.hosts.probe import Probe
    from ecp_desktop.views.setup.wizard import SetupWizard
    wizard = SetupWizard(database_url=f"sqlite:///{tmp_path / 'w.sqlite3'}", database_locked=False,
                         typed_connections=[], probe_timeout=1)
    qtbot.addWidget(wizard)
    hostile = next(iter(MACHINES))
    wizard.database_page._tested("postgresql://x@y/z", None, RuntimeError(hostile))
    wizard.connections_page._show(Probe("qemu+tcp://a.example/system", HOST_LABEL, False, reason=hostile), False)
    wizard.connections_page._detected(None, RuntimeError(hostile))
    wizard.progress_page._progress(1, 2, hostile)
    wizard.progress_page._finished(None, RuntimeError(hostile))
    found = offences(wizard)
    assert not found, "shown as markup:\n" + "\n".join(found)


def test_add_connection_shows_a_refused_uri_as_text(hostile):
    window, _uri = hostile
    dialog = window.open_add_connection()
    dialog.kind.setCurrentText("Custom URI")
    found = []
    name = "<i>web-1<!--"
    dialog.uri.setText(f"qemu:///system?{name}=1")  # refused, quoting the parameter
    assert not dialog.connect_button.isEnabled() and name in dialog.message.text()
    found += offences(dialog)
    dialog.uri.setText(f"qemu+ssh://{name}/system")  # the host's name is quoted back
    assert name in dialog.message.text()
    found += offences(dialog)
    assert not found, "shown as markup:\n" + "\n".join(found)
    dialog.reject()
