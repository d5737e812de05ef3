"""A newcomer's first hour: a window that fits, a keyboard that flows, empty states that guide."""
import re

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QToolBar

from ecp_desktop.views.window.main_window import MainWindow
from ecp_desktop.views.window.empty_state import filter_mistakes
from ecp_desktop.views.machines.machine_model import COLUMNS

from ...helpers import LAB_URI


def _bare_window(qtbot, services, tmp_path, size=(1280, 760)) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(services, settings)  # as the app has it: with the Usage column
    qtbot.addWidget(win)
    win.resize(*size)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    return win


def _focused():
    return QApplication.focusWidget()


def test_tab_moves_between_panes_never_cell_by_cell(qtbot, window):
    assert not window.hosts_view.tabKeyNavigation() and not window.machines_view.tabKeyNavigation()
    window.activateWindow()
    window.filter_edit.setFocus()
    qtbot.waitUntil(lambda: _focused() is window.filter_edit)
    qtbot.keyClick(window.filter_edit, Qt.Key.Key_Tab)
    assert _focused() is window.machines_view
    qtbot.keyClick(window.machines_view, Qt.Key.Key_Tab)
    assert window.details.isAncestorOf(_focused()) or _focused() is window.details
    # Tab inside the hosts table leaves it: it never walks the cells and changes the selection.
    window.hosts_view.setFocus()
    selected_before = window.hosts_view.selectionModel().selectedRows()
    qtbot.keyClick(window.hosts_view, Qt.Key.Key_Tab)
    assert _focused() is window.filter_edit
    assert window.hosts_view.selectionModel().selectedRows() == selected_before


def test_f6_cycles_the_panes_both_ways(qtbot, window):
    window.activateWindow()
    window.machines_view.setFocus()
    qtbot.waitUntil(lambda: _focused() is window.machines_view)
    qtbot.keyClick(window.machines_view, Qt.Key.Key_F6)
    assert window.details.isAncestorOf(_focused()) or _focused() is window.details
    qtbot.keyClick(_focused(), Qt.Key.Key_F6)
    assert _focused() is window.tasks_pane.view
    qtbot.keyClick(_focused(), Qt.Key.Key_F6)
    assert _focused() is window.hosts_view  # round again
    qtbot.keyClick(_focused(), Qt.Key.Key_F6, Qt.KeyboardModifier.ShiftModifier)
    assert _focused() is window.tasks_pane.view


def test_escape_clears_the_filter(qtbot, window):
    window.filter_edit.setFocus()
    qtbot.keyClicks(window.filter_edit, "web")
    assert window.machine_proxy.rowCount() < window.machine_model.rowCount()
    qtbot.keyClick(window.filter_edit, Qt.Key.Key_Escape)
    assert window.filter_edit.text() == ""
    assert window.machine_proxy.rowCount() == window.machine_model.rowCount()


def test_access_keys_are_unique_in_the_menu_bar_and_in_each_menu(window):
    def key(text):
        found = re.search(r"&([^&])", text)
        return found.group(1).casefold() if found else None
    bar = [key(a.text()) for a in window.menuBar().actions()]
    assert None not in bar and len(bar) == len(set(bar)), [a.text() for a in window.menuBar().actions()]
    for top in window.menuBar().actions():
        keys = [key(a.text()) for a in top.menu().actions() if not a.isSeparator() and key(a.text())]
        assert len(keys) == len(set(keys)), (top.text(), [a.text() for a in top.menu().actions()])


def _menu_actions(menu):
    for action in menu.actions():
        if action.menu() is not None:
            yield from _menu_actions(action.menu())
        elif not action.isSeparator():
            yield action


def test_every_dialog_the_menus_open_has_its_own_shortcut(window):
    actions = [a for top in window.menuBar().actions() for a in _menu_actions(top.menu())]
    dialogs = [a for a in actions if a.text().endswith("…") and a.text() != "&About"]
    assert len(dialogs) >= 15
    missing = [a.text() for a in dialogs if a.shortcut().isEmpty()]
    assert not missing, missing
    window_wide = [a.shortcut().toString() for a in actions if not a.shortcut().isEmpty()
                   and a.shortcutContext() == Qt.ShortcutContext.WindowShortcut]
    assert len(window_wide) == len(set(window_wide)), sorted(window_wide)  # no key does two things
    # Delete: the machines table deletes machines, the hosts table removes hosts (each asks)
    assert window.menu_actions.delete in window.machines_view.actions()
    assert window.menu_actions.remove_host in window.hosts_view.actions()
    assert window.menu_actions.hardware.shortcut().toString() == "Alt+Return"


def test_at_800_by_550_the_filter_stays_in_view_and_headers_are_whole(qtbot, services, run, tmp_path):
    from ecp_desktop.services.setup.startup import connect_initial_hosts
    win = _bare_window(qtbot, services, tmp_path, size=(800, 550))
    run(connect_initial_hosts(services.inventory, [LAB_URI]))
    assert not any(isinstance(w, QToolBar) for w in _ancestors(win.filter_edit))
    assert win.filter_edit.isVisible() and win.filter_edit.width() > 150
    header = win.machines_view.horizontalHeader()
    metrics = win.machines_view.fontMetrics()
    for column, title in enumerate(COLUMNS):  # the columns shown (those that fit) are whole
        if not win.machines_view.isColumnHidden(column):
            assert header.sectionSize(column) >= metrics.horizontalAdvance(title) + 10, title
    assert not win.machines_view.horizontalScrollBar().isVisible()
    # The tasks pane starts at about a fifth of the height, not 40 %.
    qtbot.waitUntil(lambda: win.tasks_dock.height() <= win.height() * 0.3)


def test_at_150_percent_text_every_header_is_whole(qtbot, services, tmp_path):
    app = QApplication.instance()
    font = app.font()
    bigger = app.font()
    bigger.setPointSizeF(font.pointSizeF() * 1.5)
    app.setFont(bigger)
    try:
        win = _bare_window(qtbot, services, tmp_path)
        header = win.machines_view.horizontalHeader()
        metrics = win.machines_view.fontMetrics()
        for column, title in enumerate(COLUMNS):
            if not win.machines_view.isColumnHidden(column):
                assert header.sectionSize(column) >= metrics.horizontalAdvance(title) + 10, title
    finally:
        app.setFont(font)


def test_details_do_not_push_the_layout_when_a_long_value_arrives(qtbot, window):
    sizes = window.splitter.sizes()
    long_name = next(r for r in range(window.machine_proxy.rowCount()))
    window.machines_view.selectRow(long_name)
    window.details._fields["Host"].setText("qemu+ssh://operator@" + "a-very-long-host-name." * 6 + "example/system")
    qtbot.wait(50)
    assert window.splitter.sizes() == sizes


def test_no_hosts_says_what_to_do_and_the_demo_host_button_works(qtbot, services, run, tmp_path):
    win = _bare_window(qtbot, services, tmp_path)
    empty = win.empty_state
    assert empty.isVisible() and "No hosts yet" in empty.message.text()
    assert empty.buttons["add"].isVisible() and empty.buttons["demo"].isVisible()
    empty.buttons["demo"].click()
    qtbot.waitUntil(lambda: win.machine_proxy.rowCount() == 1, timeout=10000)
    assert not empty.isVisible()
    run(services.inventory.remove_host("test:///default"))


def test_a_filter_that_matches_nothing_names_its_mistake_and_clears(qtbot, window):
    window.filter_edit.setText("stat:running")
    empty = window.empty_state
    qtbot.waitUntil(empty.isVisible)
    assert "No machine matches “stat:running”" in empty.message.text()
    assert "did you mean state:?" in empty.message.text()
    empty.buttons["clear"].click()
    assert window.filter_edit.text() == "" and not empty.isVisible()


def test_filter_mistakes_in_words():
    assert filter_mistakes("state:running host:lab web") == []
    assert filter_mistakes("stat:running") == [
        "“stat:” is not a filter word (name:, state:, host:); did you mean state:?"]
    assert "did you mean running?" in filter_mistakes("state:runing")[0]
    assert filter_mistakes("host:down") == []


def _ancestors(widget):
    while widget is not None:
        yield widget
        widget = widget.parentWidget()


def test_a_layout_saved_before_the_console_pane_puts_it_behind_the_tasks(qtbot, services, tmp_path):
    """A window state saved by an older version knows no Console pane: restoring it must not
    leave the pane beside the tasks."""
    from PySide6.QtWidgets import QDockWidget
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    old = MainWindow(services, None)
    qtbot.addWidget(old)
    for dock in old.findChildren(QDockWidget):
        if dock is not old.tasks_dock:
            old.removeDockWidget(dock)  # as an older version saved it: the tasks alone
    settings.setValue("window/state", old.saveState())
    win = _bare_window(qtbot, services, tmp_path)
    assert win.console_dock in win.tabifiedDockWidgets(win.tasks_dock)
    assert settings.value("window/panes") is None  # nothing saved yet: only on close


def _shown(view) -> list[str]:
    model = view.model()
    return [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())
            if not view.isColumnHidden(c)]


def test_the_machines_table_shows_the_columns_that_fit_and_offers_the_rest_from_its_header(qtbot, services, tmp_path):
    win = _bare_window(qtbot, services, tmp_path, size=(1440, 900))
    view = win.machines_view
    qtbot.waitUntil(lambda: "Persistent" not in _shown(view))  # dropped first: nothing to scroll to
    assert _shown(view)[:2] == ["Name", "State"]
    assert not view.horizontalScrollBar().isVisible()
    menu = win.machine_columns.header_menu()
    offered = {a.text(): a for a in menu.actions() if a.isCheckable()}
    assert set(COLUMNS) <= set(offered) and not offered["Name"].isEnabled()
    offered["Persistent"].setChecked(True)  # the user's pick: shown, and remembered
    assert "Persistent" in _shown(view)
    win.resize(1600, 900)
    assert "Persistent" in _shown(view)  # a pick is not undone by fitting
    win.close()
    again = _bare_window(qtbot, services, tmp_path, size=(1440, 900))
    assert "Persistent" in _shown(again.machines_view)
    # "Show the Columns That Fit" goes back to fitting
    menu = again.machine_columns.header_menu()
    next(a for a in menu.actions() if a.text() == "Show the Columns That Fit").trigger()
    assert "Persistent" not in _shown(again.machines_view)
    again.resize(3000, 900)
    qtbot.waitUntil(lambda: _shown(again.machines_view) == list(COLUMNS))  # wide enough: every column


def test_the_console_pane_opens_at_a_terminals_height_and_the_tasks_get_theirs_back(qtbot, services, tmp_path):
    from ecp_desktop.views.window.window_layout import CONSOLE_SHARE, console_height
    win = _bare_window(qtbot, services, tmp_path, size=(1440, 900))
    qtbot.waitUntil(lambda: win.tasks_dock.height() <= win.height() * 0.3)
    qtbot.wait(300)  # the first fit, once the window has its size
    tasks_height = win.tasks_dock.height()
    win.console_dock.raise_()
    terminal = win.details.console.terminal

    def rows() -> int:
        return terminal.height() // terminal.fontMetrics().lineSpacing()
    # as tall as a terminal needs, as far as the panes above can give way: not five rows high
    assert console_height(terminal) < win.height() * CONSOLE_SHARE
    qtbot.waitUntil(lambda: rows() >= 16)
    win.tasks_dock.raise_()
    qtbot.waitUntil(lambda: abs(win.tasks_dock.height() - tasks_height) <= 2)


def test_a_long_host_label_keeps_its_distinguishing_start(qtbot, services, run, tmp_path):
    from ecp_desktop.services.setup.startup import connect_initial_hosts
    win = _bare_window(qtbot, services, tmp_path)
    run(connect_initial_hosts(services.inventory, [LAB_URI]))
    label = win.host_model.index(0, 0).data()
    assert label.startswith("lab")  # "lab (test driver)": the file's name first
    assert win.hosts_view.textElideMode() == Qt.TextElideMode.ElideRight
    assert win.machines_view.textElideMode() == Qt.TextElideMode.ElideMiddle
