"""The details' Usage tab: the selected machine's last hour as graphs with a time axis
(pyqtgraph): CPU %, memory used, disk read/write, network received/sent."""
from __future__ import annotations

import numpy as np
import shiboken6
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ...services.inventory.machines import MachineInfo
from ...services.usage.metrics import CPU, DISK_READ, DISK_WRITE, MEMORY, METRICS, NET_RX, NET_TX
from ...services.usage.service import UsageService
from ..common.palette_colours import (CPU_LINE, DISK_READ_LINE, DISK_WRITE_LINE, MEMORY_LINE, NET_RX_LINE,
                                      NET_TX_LINE, tone)
from ..common.plain import plain_label
from .usage_column import host_usage_text, usage_text
from ..common.follow import follow

# (title, axis unit, [(metric, name, its colour's meaning in palette_colours)])
PLOTS = (
    ("CPU", "%", [(CPU, "CPU", CPU_LINE)]),
    ("Memory used", "B", [(MEMORY, "used", MEMORY_LINE)]),
    ("Disk", "B/s", [(DISK_READ, "read", DISK_READ_LINE), (DISK_WRITE, "write", DISK_WRITE_LINE)]),
    ("Network", "B/s", [(NET_RX, "received", NET_RX_LINE), (NET_TX, "sent", NET_TX_LINE)]),
)


class UsageTab(QWidget):
    """Shows one machine (``show_machine``); redraws after each sample of its host while visible."""

    def __init__(self, usage: UsageService, parent=None) -> None:
        super().__init__(parent)
        self._usage = usage
        self._machine: MachineInfo | None = None
        usage.watch(self, set())  # nothing to sample until this tab shows a machine
        self.note = plain_label("Select a machine to see its usage.", wrap=True)  # names are data
        # The graphs are made the first time the tab is shown: pyqtgraph's import and its
        # plots cost about 0.2 s, which the window's start would otherwise pay.
        self.graphs = None
        self.plots: list = []
        self.curves: dict = {}
        self._box = QVBoxLayout(self)
        self._box.addWidget(self.note)
        self._box.addStretch(1)
        follow(usage.sampled, self, self._on_sampled)

    def _build_graphs(self) -> None:
        import pyqtgraph as pg
        self.graphs = pg.GraphicsLayoutWidget()
        for row, (_title, unit, lines) in enumerate(PLOTS):
            plot = self.graphs.addPlot(row=row, col=0, axisItems={"bottom": pg.DateAxisItem()})
            plot.setLabel("left", units=unit)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setMouseEnabled(x=True, y=False)
            plot.setMenuEnabled(False)
            if len(lines) > 1:
                plot.addLegend(offset=(5, 5), labelTextSize="8pt")
            if self.plots:
                plot.setXLink(self.plots[0])
            for metric, name, _meaning in lines:
                self.curves[metric] = plot.plot([], [], name=name, connect="finite")
            self.plots.append(plot)
        self.plots[0].setYRange(0, 100)
        self._box.takeAt(1)  # the stretch
        self._box.addWidget(self.graphs, 1)
        self._colour_graphs()

    def _colour_graphs(self) -> None:
        """The graphs in the palette's colours: its base behind, its text for the words and axes,
        each line in its meaning's colour for that base."""
        import pyqtgraph as pg
        palette = self.palette()
        text = palette.text().color()
        self.graphs.setBackground(palette.base().color())
        for plot, (title, _unit, lines) in zip(self.plots, PLOTS, strict=True):
            plot.setTitle(title, size="9pt", color=text)
            for side in ("left", "bottom"):
                plot.getAxis(side).setPen(text)
                plot.getAxis(side).setTextPen(text)
            if plot.legend is not None:
                plot.legend.setLabelTextColor(text)
            for metric, _name, meaning in lines:
                self.curves[metric].setPen(pg.mkPen(tone(meaning, palette), width=1.5))

    def changeEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self.graphs is not None:
            self._colour_graphs()

    def show_machine(self, machine: MachineInfo | None) -> None:
        self._machine = machine
        self._watch()
        self.refresh()

    def _watch(self) -> None:
        """Sample this machine while the tab is on screen, and nothing for it otherwise."""
        shown = self._machine is not None and self.isVisible()
        self._usage.watch(self, {self._machine.key} if shown else set())

    def hideEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        super().hideEvent(event)
        self._watch()

    def _on_sampled(self, uri: str) -> None:
        if self._machine is not None and uri == self._machine.host_uri and self.isVisible():
            self.refresh()

    def showEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        super().showEvent(event)
        self._watch()
        self.refresh()

    def refresh(self) -> None:
        if not self.isVisible():
            return  # drawn when shown
        if self.graphs is None:
            self._build_graphs()
        m = self._machine
        series = None if m is None else self._usage.series(m.key)
        times, values = series if series is not None else (np.empty(0), np.empty((0, len(METRICS))))
        known = ~np.isnan(values).all(axis=0) if len(times) else np.zeros(values.shape[1], bool)
        if m is None:
            self.note.setText("Select a machine to see its usage.")
        elif not len(times) or np.isnan(values).all():
            self.note.setText(f"{m.name}: no usage samples yet. Only running machines are sampled, "
                              "while the window is shown.")
        else:
            missing = [title for title, _u, lines in PLOTS if not any(known[metric] for metric, *_ in lines)]
            words = usage_text(self._usage, m) or "not running now"
            host = host_usage_text(self._usage, m.host_uri)
            text = f"{m.name}: {words}" + (f" (host: {host})" if host else "")
            if missing:
                text += f". Not reported by this host's driver: {', '.join(missing).lower()}"
            self.note.setText(text)
        for metric, curve in self.curves.items():
            if len(times):
                curve.setData(times, values[:, metric], connect="finite")
            else:
                curve.setData([], [])
        for plot, (_title, _unit, lines) in zip(self.plots[1:], PLOTS[1:], strict=True):
            finite = values[:, [metric for metric, *_ in lines]] if len(times) else np.empty(0)
            finite = finite[np.isfinite(finite)]
            plot.setYRange(0, float(finite.max()) * 1.15 if finite.size and finite.max() > 0 else 1.0)


class _FollowsWindow(QObject):
    """Samples only while someone can see the window: shown, not minimised, the app active
    (a locked screen or another app in front makes it inactive).

    Until the window is first shown it has no QWindow: an event filter waits for that; from
    then on the QWindow's visibility signal says it all, since a filter on the window would be
    a call into Python for each of its events (each waits for the interpreter lock)."""

    def __init__(self, window: QWidget, usage: UsageService) -> None:
        super().__init__(window)
        self._window, self._usage = window, usage
        self._filtering = window.windowHandle() is None
        if self._filtering:
            window.installEventFilter(self)
        else:
            self._follow_handle()
        # A method of this QObject, not a lambda: Qt disconnects it when the window goes.
        QGuiApplication.instance().applicationStateChanged.connect(self._on_application_state)

    def _follow_handle(self) -> None:
        self._window.windowHandle().visibilityChanged.connect(self._on_visibility)

    def _on_application_state(self, _state) -> None:
        self.update()

    def _on_visibility(self, _visibility) -> None:
        QTimer.singleShot(0, self.update)  # after the change has taken effect

    def update(self) -> None:
        window = self._window
        if not shiboken6.isValid(window):
            return  # the window is gone (a queued update after it was deleted)
        state = QGuiApplication.applicationState()
        suspended = state in (Qt.ApplicationState.ApplicationSuspended, Qt.ApplicationState.ApplicationHidden)
        self._usage.set_active(window.isVisible() and not window.isMinimized() and not suspended)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802  (Qt's name)
        if event.type() in (QEvent.Type.Show, QEvent.Type.Hide, QEvent.Type.WindowStateChange, QEvent.Type.Close):
            QTimer.singleShot(0, self.update)  # after the change has taken effect
            if self._filtering and watched.windowHandle() is not None:
                self._filtering = False
                watched.removeEventFilter(self)
                self._follow_handle()
        return False


def follow_window(window: QWidget, usage: UsageService) -> QObject:
    follower = _FollowsWindow(window, usage)
    follower.update()
    return follower
