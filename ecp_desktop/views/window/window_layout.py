"""How the main window fits and how the keyboard moves through it.

Fits: columns sized from the font (so 150 % text still shows whole headers), the columns
that fit shown (the rest offered from the header), host labels elided at their end (they
start with what tells two hosts apart) and machine names in the middle, the
tasks pane a fifth of the height until the user sizes it, the details pane never pushing
the layout when a long value arrives. Keyboard: Tab moves between panes, never cell by
cell inside a table (that silently changed the host selection); F6 / Shift+F6 cycle the
panes; Esc in the filter clears it."""
from __future__ import annotations

from PySide6.QtCore import QObject, QEvent, QSettings, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QAbstractItemView, QDockWidget, QSizePolicy, QWidget

from ..common.column_chooser import ColumnChooser
from ..hosts import host_model
from ..machines import machine_model
from ..usage.usage_column import SPARK_ROOM


# Per column, the widest value a row usually shows: the width is measured in the window's font.
MACHINE_SAMPLES = ("web-server-production-01", "shut off (last known)", "virt-manager test host",
                   " vCPUs ", "Max memory", "Autostart", "Persistent", "100 % · 15.9 GiB", "192.168.122.100")
HOST_SAMPLES = ("virt-manager test", "reconnecting", "QEMU 8.2.0", "libvirt", "CPUs",
                "Memory", "Machines", "CPU 100 % · memory 15.9 of 31.3 GiB")
TASKS_SHARE = 0.2  # of the window's height, until the user sizes the pane (then remembered)


# The columns hidden first when a table is too narrow for all (the header's right-click
# offers them back): the least needed first; the name and the state always stay.
MACHINE_DROP_ORDER = (machine_model.PERSISTENT, machine_model.AUTOSTART, machine_model.VCPUS,
                      machine_model.ADDRESSES, machine_model.MEMORY, machine_model.USAGE, machine_model.HOST)
HOST_DROP_ORDER = (host_model.LIBVIRT, host_model.HYPERVISOR, host_model.CPUS, host_model.MEMORY,
                   host_model.MACHINES, host_model.IN_USE)


def size_columns(view: QAbstractItemView, samples: tuple[str, ...]) -> list[int]:
    """Each column as wide as its sample in the view's font; the widths set."""
    metrics = view.fontMetrics()
    header = view.horizontalHeader()
    widths = [metrics.horizontalAdvance(sample) + 3 * metrics.averageCharWidth() + 16 for sample in samples]
    for column, width in enumerate(widths):
        header.resizeSection(column, width)
    header.setMinimumSectionSize(metrics.horizontalAdvance("vCPUs") + 16)
    return widths


def arrange(window, settings: QSettings | None) -> list[QShortcut]:
    """Called once the window's widgets exist (MainWindow.__init__); the pane shortcuts made.
    The tables' column picks are kept in ``settings``."""
    for view in (window.hosts_view, window.machines_view):
        view.setTabKeyNavigation(False)
    # A host's label starts with what tells it apart ("lab-2 over SSH"); a machine's name often
    # ends with it ("web-server-07").
    window.hosts_view.setTextElideMode(Qt.TextElideMode.ElideRight)
    window.machines_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    machine_widths = size_columns(window.machines_view, MACHINE_SAMPLES)
    machine_widths[machine_model.USAGE] += SPARK_ROOM  # the CPU sparkline beside the usage words
    window.machines_view.horizontalHeader().resizeSection(machine_model.USAGE, machine_widths[machine_model.USAGE])
    window.machine_columns = ColumnChooser(window.machines_view, machine_widths, MACHINE_DROP_ORDER, settings,
                                           "columns/machines")
    window.host_columns = ColumnChooser(window.hosts_view, size_columns(window.hosts_view, HOST_SAMPLES),
                                        HOST_DROP_ORDER, settings, "columns/hosts")
    window.hosts_view.horizontalHeader().setStretchLastSection(False)
    # A long value (a UUID, a host URI) wraps in the details pane instead of widening it.
    window.details.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    window.details.setMinimumWidth(window.fontMetrics().averageCharWidth() * 30)
    # Every tab stays in view (elided when narrow: "Inter…", never a lone "N" behind arrows).
    window.details.tabBar().setUsesScrollButtons(False)
    window.details.tabBar().setElideMode(Qt.TextElideMode.ElideRight)
    for pane, stretch in enumerate((1, 3, 1)):  # a wider window mostly widens the machine list
        window.splitter.setStretchFactor(pane, stretch)
    _name_panes(window)
    _tab_order(window)
    _escape_clears(window.filter_edit)
    _escape_clears(window.tasks_pane.filter_edit)
    return _pane_keys(window)


def machine_panes(window, view_menu, panes: list[tuple[str, str, QWidget]]) -> list[QDockWidget]:
    """The serial console and the usage graphs in panes beside the tasks (tabs of the bottom
    area): they need width, and seven tabs in the details pane were elided to "Con…".
    ``panes``: (object name, title, widget) each; the docks made, in that order."""
    docks = []
    for name, title, widget in panes:
        dock = QDockWidget(title, window)
        dock.setObjectName(name)  # its place is saved with the window's state
        dock.setWidget(widget)
        window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        window.tabifyDockWidget(window.tasks_dock, dock)
        view_menu.addAction(dock.toggleViewAction())
        docks.append(dock)
    QTimer.singleShot(0, window.tasks_dock.raise_)  # the tasks in front, once the tabs exist
    return docks


CONSOLE_ROWS = 24  # a serial console is usable at a terminal's usual height
CONSOLE_SHARE = 0.55  # of the window's height at most, so the machines stay in view


class GrowsWhenShown(QObject):
    """A bottom pane (the serial console) that needs more height than the tasks: when its tab
    comes in front it grows to ``height()`` (up to a share of the window, as far as the panes
    above give way); when another tab comes in front the height before comes back."""

    def __init__(self, window, dock: QDockWidget, height) -> None:
        super().__init__(dock)
        self.window, self.dock, self.height = window, dock, height
        self.height_before: int | None = None
        window.tabifiedDockWidgetActivated.connect(self._on_activated)

    def _on_activated(self, dock: QDockWidget) -> None:
        if dock is self.dock:
            wanted = min(self.height(), int(self.window.height() * CONSOLE_SHARE))
            if self.dock.height() < wanted and not self.dock.isFloating():
                self.height_before = self.dock.height()
                self.window.resizeDocks([self.dock], [wanted], Qt.Orientation.Vertical)
        elif self.height_before is not None:
            before, self.height_before = self.height_before, None
            self.window.resizeDocks([dock], [before], Qt.Orientation.Vertical)
            # resizeDocks counts the tab bar differently for a tab just raised: set right once laid out
            QTimer.singleShot(0, lambda: self.window.resizeDocks(
                [dock], [2 * before - dock.height()], Qt.Orientation.Vertical))


def console_height(terminal: QWidget) -> int:
    """A serial console's usual height: CONSOLE_ROWS lines and its buttons and title."""
    return terminal.fontMetrics().lineSpacing() * CONSOLE_ROWS + 90


def fit_tasks_pane(window) -> None:
    """The tasks pane at about a fifth of the height, unless a saved layout says otherwise."""
    height = max(120, int(window.height() * TASKS_SHARE))
    window.resizeDocks([window.tasks_dock], [height], Qt.Orientation.Vertical)


def fit_panes(window) -> None:
    """Hosts and details as wide as they need up to a share of the window; machines the rest."""
    width = window.splitter.width()
    header = window.hosts_view.horizontalHeader()
    hosts = min(header.sectionSize(0) + header.sectionSize(1) + 24, int(width * 0.24))
    tabs = window.details.tabBar()
    tabs_width = sum(tabs.fontMetrics().horizontalAdvance(tabs.tabText(i)) + 28 for i in range(tabs.count()))
    details = min(max(tabs_width + 12, window.fontMetrics().averageCharWidth() * 40), int(width * 0.3))
    window.splitter.setSizes([hosts, max(width - hosts - details, 0), details])


def fit_first_time(window) -> None:
    fit_tasks_pane(window)
    fit_panes(window)


def _name_panes(window) -> None:
    for widget, name in ((window.hosts_view, "Hosts"), (window.machines_view, "Machines"),
                         (window.details, "Machine details"), (window.tasks_pane.view, "Tasks"),
                         (window.filter_edit, "Filter machines"),
                         (window.tasks_pane.filter_edit, "Filter tasks"), (window.health, "Connection health")):
        widget.setAccessibleName(name)


def panes(window) -> list[QWidget]:
    """The panes F6 cycles through, in the order Tab visits them."""
    return [window.hosts_view, window.filter_edit, window.machines_view, window.details, window.tasks_pane.view]


def _tab_order(window) -> None:
    order = [window.hosts_view, window.filter_edit, window.machines_view, window.details,
             window.tasks_pane.filter_edit, window.tasks_pane.view]
    for first, second in zip(order, order[1:], strict=False):
        QWidget.setTabOrder(first, second)


def _pane_keys(window) -> list[QShortcut]:
    def cycle(step: int) -> None:
        order = [w for w in panes(window) if w.isVisible()]
        if not order:
            return
        focused = window.focusWidget()
        current = next((i for i, w in enumerate(order) if w is focused or w.isAncestorOf(focused)), -1)
        target = order[(current + step) % len(order)]
        target.setFocus(Qt.FocusReason.TabFocusReason if step > 0 else Qt.FocusReason.BacktabFocusReason)
    return [QShortcut(QKeySequence(Qt.Key.Key_F6), window, lambda: cycle(+1)),
            QShortcut(QKeySequence(Qt.Modifier.SHIFT | Qt.Key.Key_F6), window, lambda: cycle(-1))]


class _EscapeClears(QObject):
    def eventFilter(self, watched, event) -> bool:  # noqa: N802  (Qt's name)
        if event.type() == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Escape and watched.text():
            watched.clear()
            return True
        return False


def _escape_clears(line_edit) -> None:
    line_edit._escape_filter = _EscapeClears(line_edit)  # kept alive with the line edit
    line_edit.installEventFilter(line_edit._escape_filter)


def restore_layout(window, settings) -> None:
    """The saved geometry, dock and splitter sizes; the first time, the defaults above."""
    geometry, state = settings.value("window/geometry"), settings.value("window/state")
    splitter = settings.value("window/splitter")
    if geometry is not None:
        window.restoreGeometry(geometry)
    if state is not None:
        window.restoreState(state)
        if settings.value("window/panes") is None:
            # Saved before the Console and Usage panes existed: restoring put them beside
            # the tasks instead of behind them. Tabbed with the tasks once; later, as left.
            for dock in window.findChildren(QDockWidget):
                if dock is not window.tasks_dock and dock not in window.tabifiedDockWidgets(window.tasks_dock):
                    window.tabifyDockWidget(window.tasks_dock, dock)
            QTimer.singleShot(0, window.tasks_dock.raise_)
    if splitter is not None:
        window.splitter.restoreState(splitter)
    if state is None or splitter is None:
        QTimer.singleShot(0, lambda: fit_first_time(window))  # once the window has its size


def save_layout(window, settings) -> None:
    settings.setValue("window/geometry", window.saveGeometry())
    settings.setValue("window/state", window.saveState())
    settings.setValue("window/splitter", window.splitter.saveState())
    settings.setValue("window/panes", 1)  # the state knows the Console and Usage panes

