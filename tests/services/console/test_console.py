"""Consoles, fast tier: the viewer's command from real domain XML, launching at the process
boundary, the serial console's states against the test driver, and the terminal widget
(bytes in, cells painted; keys in, bytes out). The real guest is in tests/lab/test_console_lab.py."""
from __future__ import annotations

import os
import stat
import textwrap

import libvirt
import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QGuiApplication, QKeyEvent
from PySide6.QtWidgets import QMessageBox

from ecp_desktop.services.console.serial import ConsoleState, SerialConsole
from ecp_desktop.services.console.viewer import ConsoleProblem, ViewerSessions, find_viewer, open_viewer, viewer_command
from ecp_desktop.services.libvirt_xml.domain import parse_domain, read_domain
from ecp_desktop.views.console.console_tab import ConsoleTab, open_graphical_console
from ecp_desktop.views.console.terminal_widget import TerminalWidget, key_bytes, shown

from ...helpers import LAB_URI, TINY_XML, VIRT_MANAGER_URI

QEMU = "qemu:///system"
K, M = Qt.Key, Qt.KeyboardModifier


@pytest.fixture(scope="module")
def foreign():
    """virt-manager's own test host: graphics and serial devices of every kind."""
    conn = libvirt.open(VIRT_MANAGER_URI)
    yield {dom.name(): read_domain(dom) for dom in conn.listAllDomains()}
    conn.close()


# ----- domain XML: graphics and serial facts ---------------------------------------------------
def test_graphics_and_serial_facts_from_a_foreign_host(foreign):
    many = foreign["test-many-devices"]
    assert [g.kind for g in many.displays] == ["vnc"] * 4 + ["spice"] * 2  # rdp is not one a viewer shows
    assert not any(g.loopback_only for g in many.displays)
    assert [s.kind for s in many.serials][:3] == ["null", "tcp", "nmdm"]
    assert many.text_console is many.consoles[0]  # libvirt mirrors the first serial port as console 0
    assert [c.target_type for c in many.consoles] == ["serial", "virtio", "uml"]
    loopback = foreign["test-clone"].graphics[0]
    assert (loopback.listen, loopback.port, loopback.loopback_only) == ("127.0.0.1", 6000, True)
    alternate = foreign["test-alternate-devs"]
    kinds = {g.listen_type for g in alternate.graphics}
    assert {"none", "network"} <= kinds
    assert next(g for g in alternate.graphics if g.listen_type == "none").loopback_only
    assert alternate.serials[0].kind == "pty" and alternate.serials[0].target_type == "isa-serial"


def test_the_tiny_guest_has_a_serial_console_and_no_display():
    tiny = parse_domain(TINY_XML)
    assert tiny.displays == [] and tiny.text_console is not None and tiny.text_console.kind == "pty"


# ----- the viewer's command ----------------------------------------------------------------------
def test_viewer_command_is_an_argument_list_with_the_uuid_after_double_dash(foreign):
    machine = foreign["test-many-devices"]
    argv = viewer_command("/usr/bin/virt-viewer", "qemu+ssh://root@lab-b/system", machine)
    assert argv == ["/usr/bin/virt-viewer", "--connect=qemu+ssh://root@lab-b/system", "--uuid", "--reconnect",
                    "--", machine.uuid]


@pytest.mark.parametrize("uri, name, why", [
    ("qemu:///system", "test-state-shutoff", "no graphical display"),         # no VNC or SPICE
    ("qemu+tcp://lab-b/system", "test-clone", "only on lab-b itself"),  # loopback, no SSH to tunnel
    ("qemu+tls://lab-b/system", "test-clone", r"over SSH \(qemu\+ssh://lab-b/system\)"),
    ("qemu+ext:///system?command=/bin/sh", "test-many-devices", "not one this app opens"),
    ("qemu+ssh://h/system?command=x", "test-many-devices", "not one this app opens"),
    (VIRT_MANAGER_URI, "test-many-devices", "test driver"),
])
def test_viewer_command_refuses_with_a_reason(foreign, uri, name, why):
    with pytest.raises(ConsoleProblem, match=why):
        viewer_command("virt-viewer", uri, foreign[name])


def test_loopback_display_is_fine_locally_and_over_ssh(foreign):
    machine = foreign["test-clone"]
    for uri in ("qemu:///system", "qemu+ssh://lab-b/system", "qemu+unix:///system?socket=/run/x.sock"):
        assert viewer_command("virt-viewer", uri, machine)[-1] == machine.uuid


def test_a_uuid_that_is_not_one_is_refused(foreign):
    machine = foreign["test-many-devices"]
    machine = parse_domain(machine.xml.replace(machine.uuid, "--display=:9"))
    with pytest.raises(ConsoleProblem, match="no valid UUID"):
        viewer_command("virt-viewer", QEMU, machine)


def test_a_missing_viewer_is_said_plainly():
    with pytest.raises(ConsoleProblem, match="install virt-viewer"):
        find_viewer(which=lambda _name: None)


# ----- launching, at the process boundary ----------------------------------------------------------
@pytest.fixture
def fake_viewer(tmp_path, monkeypatch):
    """A ``virt-viewer`` first on PATH that records its arguments and waits (or fails when told).
    A test double at the process boundary: the real viewer needs an X server and a real display
    to connect to, which the lab test gives it; here only what we start, and how, is checked."""
    record = tmp_path / "argv"
    script = tmp_path / "bin" / "virt-viewer"
    script.parent.mkdir()
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        printf '%s\\n' "$@" > {record}
        if [ -n "$FAKE_VIEWER_FAIL" ]; then echo "Cannot connect to the graphic server" >&2; exit 1; fi
        exec sleep 60
        """))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    return record


def test_one_viewer_per_machine(fake_viewer, foreign, qtbot):
    machine = foreign["test-clone"]
    sessions = ViewerSessions()
    key = (QEMU, machine.uuid)
    try:
        argv = viewer_command(find_viewer(), QEMU, machine)
        first = sessions.launch(key, argv, machine.name)
        assert first.started
        qtbot.waitUntil(lambda: fake_viewer.exists() and fake_viewer.read_text().count("\n") == 5, timeout=5000)
        assert fake_viewer.read_text().splitlines() == argv[1:]
        second = sessions.launch(key, argv, machine.name)
        assert not second.started and "already open" in second.message and sessions.is_open(key)
        other = (QEMU, foreign["test-many-devices"].uuid)
        assert sessions.launch(other, argv, "another").started  # another machine has its own
    finally:
        sessions.close_all()
    assert not sessions.is_open(key)
    assert sessions.launch(key, argv, machine.name).started  # closed: a new one starts
    sessions.close_all()


def test_a_viewer_that_fails_says_why(fake_viewer, foreign, qtbot, monkeypatch):
    monkeypatch.setenv("FAKE_VIEWER_FAIL", "1")
    machine = foreign["test-clone"]
    sessions, key = ViewerSessions(), (QEMU, machine.uuid)
    sessions.launch(key, viewer_command(find_viewer(), QEMU, machine), machine.name)
    qtbot.waitUntil(lambda: not sessions.is_open(key), timeout=5000)
    assert sessions.failure(key) == "Cannot connect to the graphic server"
    sessions.close_all()


# ----- against a live host (the test driver) --------------------------------------------------------
@pytest.fixture
def lab_host(services, run, qtbot):
    host = services.inventory.add_host(LAB_URI)
    assert run(services.inventory.connect_host(host))
    qtbot.waitUntil(lambda: len(services.inventory.machines_of(LAB_URI)) == 4, timeout=5000)
    return host, {m.name: m for m in services.inventory.machines_of(LAB_URI)}


def test_open_viewer_reads_the_live_definition(lab_host, run, fake_viewer):
    host, machines = lab_host
    with pytest.raises(ConsoleProblem, match="no graphical display"):
        run(open_viewer(ViewerSessions(), host, machines["web01"].uuid, "web01", viewer="virt-viewer"))


def test_open_console_in_the_window_says_why_not(lab_host, run, qtbot):
    host, machines = lab_host
    errors = []
    box = run(open_graphical_console(None, ViewerSessions(), host, machines["stopped01"], errors.append,
                                     lambda *a: errors.append(a)))
    assert isinstance(box, QMessageBox) and "not running" in box.text() and not errors
    assert box.textFormat() == Qt.TextFormat.PlainText
    box.close()


def test_serial_console_states_on_a_host_without_console_streams(lab_host, run, qtbot):
    host, machines = lab_host
    running = SerialConsole(host, machines["web01"].uuid, "web01")
    seen = []
    running.state_changed.connect(lambda state, message: seen.append(state))
    assert run(running.open()) is ConsoleState.UNAVAILABLE
    assert seen == [ConsoleState.CONNECTING, ConsoleState.UNAVAILABLE]
    assert running.message == "This host's driver offers no serial console."
    stopped = SerialConsole(host, machines["stopped01"].uuid, "stopped01")
    assert run(stopped.open()) is ConsoleState.NOT_RUNNING
    running.dispose()
    stopped.dispose()


def test_console_tab_attaches_when_shown_and_says_why_not(lab_host, run, qtbot):
    host, machines = lab_host
    tab = ConsoleTab()
    qtbot.addWidget(tab)
    tab.show_machine(machines["web01"], host)
    assert tab.console.state is ConsoleState.IDLE  # not on screen: nothing opened
    tab.show()
    qtbot.waitUntil(lambda: tab.console.state is ConsoleState.UNAVAILABLE, timeout=5000)
    assert "web01: no serial console" in tab.status.text() and tab.connect_button.isVisible()
    console = tab.console
    tab.show_machine(machines["web01"], host)  # the same machine, a refreshed row: same session
    assert tab.console is console
    tab.show_machine(machines["stopped01"], host)  # waits for it to start
    qtbot.waitUntil(lambda: tab.console.state is ConsoleState.NOT_RUNNING, timeout=5000)
    assert "attaches by itself when the machine starts" in tab.status.text()
    tab.detach()
    tab.hide()
    tab.show()
    assert tab.console.state is ConsoleState.IDLE  # disconnected by the user: stays so
    tab.show_machine(None, None)
    assert tab.console is None and "Select a running machine" in tab.status.text()


class FakeStream:
    """Stands in for a libvirt stream where the test driver has none: takes ``room`` bytes, then
    answers "try again" (-2) as a non-blocking stream does."""

    def __init__(self, room: int) -> None:
        self.room, self.sent, self.events = room, b"", []

    def send(self, data: bytes) -> int:
        if not self.room:
            return -2
        taken = data[:self.room]
        self.room -= len(taken)
        self.sent += taken
        return len(taken)

    def eventUpdateCallback(self, events: int) -> None:  # noqa: N802 (libvirt's name)
        self.events.append(events)


def test_keys_wait_for_a_stream_that_is_full(lab_host):
    host, machines = lab_host
    console = SerialConsole(host, machines["web01"].uuid, "web01")
    stream = console._stream = FakeStream(room=3)
    console.send(b"echo hi\r")
    assert stream.sent == b"ech" and console.pending == 5
    assert stream.events[-1] & libvirt.VIR_STREAM_EVENT_WRITABLE  # wakes us when it takes more
    stream.room = 100
    console._on_stream(console._generation, stream, libvirt.VIR_STREAM_EVENT_WRITABLE, None)
    assert stream.sent == b"echo hi\r" and console.pending == 0
    assert not stream.events[-1] & libvirt.VIR_STREAM_EVENT_WRITABLE
    console._stream = None
    console.dispose()


# ----- the terminal widget -----------------------------------------------------------------------------
@pytest.fixture
def terminal(qtbot):
    widget = TerminalWidget()
    qtbot.addWidget(widget)
    widget.resize(640, 400)
    widget.show()
    sent = []
    widget.send_requested.connect(sent.append)
    widget.sent = sent
    return widget


def test_output_is_cells_with_colours_bold_and_a_cursor(terminal):
    terminal.feed(b"plain \x1b[1;31mbold red\x1b[0m \x1b[42mon green\x1b[0m\r\n$ ")
    line = terminal.screen.buffer[0]
    assert terminal.display()[0].startswith("plain bold red on green")
    assert (line[6].fg, line[6].bold) == ("red", True) and line[15].bg == "green" and line[0].fg == "default"
    assert (terminal.screen.cursor.x, terminal.screen.cursor.y) == (2, 1)
    assert not terminal.grab().isNull()  # paints (colours, cursor) without error


def test_untrusted_output_is_never_markup_and_bidi_is_escaped(terminal):
    terminal.feed("<b>x</b> \u202eevil\u202c é".encode())
    assert terminal.display()[0].startswith("<b>x</b> \ufffdevil\ufffd é")
    assert shown("\u200f") == "\ufffd" and shown("a") == "a"


def test_utf8_split_across_reads(terminal):
    data = "naïve ✓".encode()
    terminal.feed(data[:3])
    terminal.feed(data[3:])
    assert terminal.display()[0].startswith("naïve ✓")


@pytest.mark.parametrize("key, mods, text, app, expected", [
    (K.Key_Return, M.NoModifier, "\r", False, b"\r"),
    (K.Key_Backspace, M.NoModifier, "\x08", False, b"\x7f"),
    (K.Key_Tab, M.NoModifier, "\t", False, b"\t"),
    (K.Key_Up, M.NoModifier, "", False, b"\x1b[A"),
    (K.Key_Up, M.NoModifier, "", True, b"\x1bOA"),
    (K.Key_Left, M.ControlModifier, "", False, b"\x1b[1;5D"),
    (K.Key_Delete, M.NoModifier, "", False, b"\x1b[3~"),
    (K.Key_PageUp, M.NoModifier, "", False, b"\x1b[5~"),
    (K.Key_F1, M.NoModifier, "", False, b"\x1bOP"),
    (K.Key_F5, M.NoModifier, "", False, b"\x1b[15~"),
    (K.Key_C, M.ControlModifier, "", False, b"\x03"),
    (K.Key_D, M.ControlModifier, "\x04", False, b"\x04"),
    (K.Key_BracketLeft, M.ControlModifier, "", False, b"\x1b"),
    (K.Key_X, M.AltModifier, "x", False, b"\x1bx"),
    (K.Key_Eacute, M.NoModifier, "é", False, "é".encode()),
    (K.Key_Shift, M.ShiftModifier, "", False, b""),
])
def test_keys_are_the_bytes_an_xterm_sends(key, mods, text, app, expected):
    assert key_bytes(key, mods, text, app) == expected


def test_typing_in_the_widget_sends_bytes(terminal, qtbot):
    qtbot.keyClicks(terminal, "ls -l")
    qtbot.keyClick(terminal, K.Key_Return)
    qtbot.keyClick(terminal, K.Key_C, M.ControlModifier)
    assert b"".join(terminal.sent) == b"ls -l\r\x03"
    terminal.feed(b"\x1b[?1h")  # the guest asks for application cursor keys
    qtbot.keyClick(terminal, K.Key_Down)
    assert terminal.sent[-1] == b"\x1bOB"
    override = QKeyEvent(QEvent.Type.ShortcutOverride, K.Key_F, M.ControlModifier, "\x06")
    QGuiApplication.sendEvent(terminal, override)
    assert override.isAccepted()  # Ctrl+F is the guest's here, not the window's filter
    assert not terminal.focusNextPrevChild(True)  # Tab stays in the terminal (completion)


def test_the_terminal_answers_the_guests_queries(terminal):
    terminal.feed(b"ab\x1b[6n")
    assert terminal.sent == [b"\x1b[1;3R"]


def test_resize_follows_the_widget(terminal, qtbot):
    sizes = []
    terminal.size_changed.connect(lambda c, r: sizes.append((c, r)))
    width, height = terminal.cell_size()
    terminal.resize(width * 50 + 40, height * 12 + 10)
    qtbot.waitUntil(lambda: sizes != [])
    assert (terminal.screen.columns, terminal.screen.lines) == sizes[-1]
    assert 50 <= sizes[-1][0] <= 55 and sizes[-1][1] == 12  # less the scroll bar


def test_scrollback_and_back_to_the_bottom_on_typing(terminal, qtbot):
    terminal.feed(b"".join(b"line %d\r\n" % i for i in range(200)))
    qtbot.waitUntil(lambda: terminal.waiting == 0)  # shown in slices of the event loop's turns
    rows = terminal.screen.lines
    assert terminal.display()[-1].strip() == "" and terminal.display()[-2].strip() == "line 199"
    qtbot.keyClick(terminal, K.Key_PageUp, M.ShiftModifier)
    assert terminal.display()[-2].strip() == f"line {199 - rows}"
    assert terminal.verticalScrollBar().value() == terminal.verticalScrollBar().maximum() - rows
    terminal.feed(b"more\r\n")  # new output does not move what is being read
    assert terminal.display()[-2].strip() == f"line {199 - rows}"
    qtbot.keyClicks(terminal, "x")
    assert terminal.display()[-2].strip() == "more"


def test_select_copy_and_paste(terminal, qtbot):
    terminal.feed(b"first line\r\nsecond line\r\n")
    top = len(terminal.screen.history.top)
    terminal.select((top, 6), (top + 1, 6))
    assert terminal.selected_text() == "line\nsecond"
    terminal.copy()
    assert QGuiApplication.clipboard().text() == "line\nsecond"
    QGuiApplication.clipboard().setText("echo a\necho b\n")
    qtbot.keyClick(terminal, K.Key_V, M.ControlModifier | M.ShiftModifier)
    assert terminal.sent[-1] == b"echo a\recho b\r"
    terminal.feed(b"\x1b[?2004h")  # bracketed paste: the end marker cannot be smuggled in
    terminal.paste_text("x\x1b[201~rm -rf /\n")
    assert terminal.sent[-1] == b"\x1b[200~xrm -rf /\r\x1b[201~"


def test_open_console_is_offered_for_one_running_machine_and_enter_falls_back_to_the_details(qtbot, window):
    """In the window: Machine → Open Console for exactly one live running machine; Enter on a
    machine without a display or serial console (the test driver's) shows its details."""
    from PySide6.QtCore import Qt
    proxy = window.machine_proxy
    running = next(r for r in range(proxy.rowCount()) if proxy.index(r, 1).data() == "running")
    stopped = next(r for r in range(proxy.rowCount()) if proxy.index(r, 1).data() == "shut off")
    from PySide6.QtCore import QItemSelectionModel

    def select(row):  # not selectRow: it reads the keyboard modifiers an earlier key test may leave set
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        window.machines_view.selectionModel().select(proxy.index(row, 0), flags)
    select(stopped)
    assert not window.menu_actions.open_console.isEnabled()
    select(running)
    selected = window.selected_machines()
    assert len(selected) == 1 and selected[0].state == "running", selected
    assert window.menu_actions.open_console.isEnabled(), (selected[0].live, selected[0].state)
    qtbot.waitUntil(lambda: window.details.details is not None, timeout=5000)
    window.details.setCurrentIndex(2)
    window.activateWindow()
    window.machines_view.setFocus()
    qtbot.keyClick(window.machines_view, Qt.Key.Key_Return)
    assert window.details.currentIndex() == 0
