"""The details' Console tab (the machine's serial console in a terminal), and Machine →
Open Console (its graphical display in virt-viewer)."""
from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QMessageBox, QPushButton, QVBoxLayout, QWidget

from ...services.console.serial import ConsoleState, SerialConsole
from ...services.console.viewer import ConsoleProblem, ViewerSessions, open_viewer
from ...services.core.aio import spawn
from ...services.core.errors import HypervisorError
from ...services.hosts.connection import HostConnection
from ...services.hosts.states import ACTIVE_STATES
from ...services.inventory.machines import MachineInfo
from ..common.palette_colours import readable_text
from ..common.plain import message_box, plain_label
from .terminal_widget import TerminalWidget

VIEWER_CHECK_MS = 3000  # a viewer that fails (cannot connect) ends within this; its words are shown
# A console state's words in the colour of its meaning (made readable on the palette in force).
STATE_TEXT_COLOURS = {ConsoleState.CONNECTED: "#1b7f3b", ConsoleState.HELD: "#b3261e",
                      ConsoleState.FAILED: "#b3261e", ConsoleState.HOST_DOWN: "#8a6d00"}


class ConsoleTab(QWidget):
    """One machine's serial console. It attaches when the tab is shown for a running machine
    (or on Connect), follows restarts by itself, and offers Take Console when another client
    holds it. ``console`` is the live session (None before any machine)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.console: SerialConsole | None = None
        self._machine: MachineInfo | None = None
        self._detached = False  # the user pressed Disconnect: nothing attaches by itself
        self.status = plain_label("Select a running machine to use its serial console.", wrap=True,
                                  selectable=True)  # libvirt's words: plain text
        self.size_label = plain_label()
        self.size_label.setToolTip("A serial line carries no window size: the guest keeps its own. "
                                   "Run `stty rows R cols C` in the guest to match this view.")
        self.connect_button = QPushButton("&Connect")
        self.connect_button.clicked.connect(lambda: self.attach())
        self.take_button = QPushButton("&Take Console")
        self.take_button.setToolTip("End the other client's console session and attach here")
        self.take_button.clicked.connect(lambda: self.attach(force=True))
        self.disconnect_button = QPushButton("D&isconnect")
        self.disconnect_button.clicked.connect(self.detach)
        self.terminal = TerminalWidget()
        self.terminal.size_changed.connect(self._show_size)
        self.terminal.send_requested.connect(self._send)
        bar = QHBoxLayout()
        bar.addWidget(self.status, 1)
        bar.addWidget(self.size_label)
        for button in (self.connect_button, self.take_button, self.disconnect_button):
            bar.addWidget(button)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 4, 0, 0)
        box.addLayout(bar)
        box.addWidget(self.terminal, 1)
        self._show_size(self.terminal.screen.columns, self.terminal.screen.lines)
        self._show_state(ConsoleState.IDLE, "")

    def show_machine(self, machine: MachineInfo | None, host: HostConnection | None) -> None:
        """The details show ``machine`` now. The same machine (a refreshed row) keeps its
        session; another one ends it. It attaches at once when the tab is on screen."""
        same = (machine is not None and self._machine is not None and machine.key == self._machine.key
                and self.console is not None and self.console.host is host)
        self._machine = machine
        if same:
            return
        self._detached = False
        if self.console is not None:
            self.console.dispose()
            self.console = None
        self.terminal.reset()
        if machine is None or host is None:
            self._show_state(ConsoleState.IDLE, "")
            return
        self.console = SerialConsole(host, machine.uuid, machine.name)
        self.console.data.connect(self.terminal.feed)
        self.console.state_changed.connect(self._show_state)
        self._show_state(ConsoleState.IDLE, "")
        if self.isVisible():
            self.attach(focus=False)  # a selection moves no keyboard focus

    def showEvent(self, event) -> None:
        """On screen: attach (a machine that is not running, or whose host is away, is
        attached to as soon as it runs), unless the user disconnected."""
        super().showEvent(event)
        if self.console is not None and self.console.state is ConsoleState.IDLE and not self._detached:
            self.attach(focus=False)  # being shown is no reason to take the keyboard

    def attach(self, force: bool = False, focus: bool = True) -> None:
        self._detached = False
        if self.console is not None:
            if focus:
                self.terminal.setFocus()
            spawn(self.console.open(force=force))

    def detach(self) -> None:
        self._detached = True
        if self.console is not None:
            self.console.close()

    def _send(self, data: bytes) -> None:
        if self.console is not None:
            self.console.send(data)

    def _show_size(self, columns: int, lines: int) -> None:
        self.size_label.setText(f"{columns}×{lines}")

    def _show_state(self, state: ConsoleState, message: str) -> None:
        name = self._machine.name if self._machine else ""
        if state is ConsoleState.IDLE:
            text = (f"{name}: serial console not attached." if name
                    else "Select a running machine to use its serial console.")
        else:
            text = f"{name}: {state.value}" + (f". {message}" if message else "")
        self.status.setText(text)
        colour = STATE_TEXT_COLOURS.get(state)
        self.status.setStyleSheet(f"color: {readable_text(colour).name()};" if colour else "")
        has = self.console is not None
        self.connect_button.setVisible(has and state in (ConsoleState.IDLE, ConsoleState.FAILED,
                                                         ConsoleState.UNAVAILABLE, ConsoleState.NOT_RUNNING))
        self.take_button.setVisible(has and state is ConsoleState.HELD)
        self.disconnect_button.setVisible(has and state in (ConsoleState.CONNECTED, ConsoleState.CONNECTING,
                                                            ConsoleState.NOT_RUNNING, ConsoleState.HELD))

    def closeEvent(self, event) -> None:
        if self.console is not None:
            self.console.dispose()
        super().closeEvent(event)


async def open_graphical_console(parent: QWidget, sessions: ViewerSessions, host: HostConnection | None,
                                 machine: MachineInfo, report: Callable[[str], None],
                                 show_error: Callable[[str, list], object]) -> QMessageBox | None:
    """Machine → Open Console for ``machine``: start its viewer, or say why not. ``report``
    gets a one-line outcome (the status bar); a libvirt failure goes to ``show_error(title,
    [(name, error)])`` (the error dialog); anything else the user must read opens a message box,
    which is returned."""
    box = None
    try:
        if host is None or not host.connected:
            raise ConsoleProblem(f"The host of {machine.name} is not connected.")
        if not (machine.live and machine.state in ACTIVE_STATES):
            raise ConsoleProblem(f"{machine.name} is not running: start it to see its display.")
        outcome = await open_viewer(sessions, host, machine.uuid, machine.name)
    except ConsoleProblem as problem:
        box = message_box(QMessageBox.Icon.Information, "Open Console", str(problem), parent=parent)
    except HypervisorError as err:
        show_error("Open Console failed", [(machine.name, err)])
        return None
    else:
        report(outcome.message)
        if outcome.started:
            QTimer.singleShot(VIEWER_CHECK_MS, lambda: _viewer_failed(parent, sessions, host, machine))
        return None
    box.open()
    return box


def _viewer_failed(parent: QWidget, sessions: ViewerSessions, host: HostConnection, machine: MachineInfo) -> None:
    failure = sessions.failure((host.uri, machine.uuid))
    if failure:
        message_box(QMessageBox.Icon.Warning, "Open Console",
                    f"The console of {machine.name} could not be shown:\n{failure}", parent=parent).open()
