"""Consoles against a real QEMU guest (TCG) on a private libvirtd: the serial console in the
Console tab (a shell prompt, a command's output, another client taking it, a restart) and
the graphical console in a real virt-viewer on an X server.

The lab's small Linux guest prints ticks on its serial port; here its initramfs gets one
more archive (the kernel unpacks concatenated archives, later files replacing earlier ones)
whose /init runs a shell on ttyS0 instead, and the domain has a pty serial console and a
VNC display."""
from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import time
import uuid as uuidlib
from pathlib import Path

import libvirt
import pytest
from PySide6.QtCore import Qt

from ecp_desktop.services.console.serial import ConsoleState
from ecp_desktop.services.console.viewer import ViewerSessions, open_viewer
from ecp_desktop.views.console.console_tab import ConsoleTab

pytestmark = pytest.mark.lab
SHOTS = os.environ.get("ECP_CONSOLE_SHOTS", "")  # a folder: screenshots of the tab and the viewer
PROMPT = "guest# "
SHELL_INIT = b"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
echo "GUEST-UP (serial shell)"
echo "ECP console lab guest: the shell is on the serial port (ttyS0)" > /dev/tty0
export PS1='guest# ' HOME=/ TERM=xterm
while true; do setsid sh -c 'exec sh -i </dev/ttyS0 >/dev/ttyS0 2>&1'; done
"""


def newc_archive(files: dict[str, bytes]) -> bytes:
    """A cpio archive (newc, the kernel's format) of executable files."""
    out = bytearray()

    def entry(name: str, mode: int, data: bytes, ino: int) -> None:
        encoded = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
        out.extend(b"070701" + "".join(f"{v:08X}" for v in fields).encode() + encoded)
        out.extend(b"\0" * (-len(out) % 4) + data)
        out.extend(b"\0" * (-len(out) % 4))
    for ino, (name, data) in enumerate(files.items(), start=1000):
        entry(name, 0o100755, data, ino)
    entry("TRAILER!!!", 0, b"", 0)
    return bytes(out)


def shell_guest_xml(name: str, guest_dir: str, initrd: Path) -> str:
    uuid = uuidlib.uuid5(uuidlib.NAMESPACE_DNS, f"{name}.console.lab")
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{guest_dir}/vmlinuz</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=tty0 console=ttyS0 loglevel=4</cmdline>
  </os>
  <features><acpi/><tcg><tb-cache unit='MiB'>16</tb-cache></tcg></features>
  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
    <video><model type='vga'/></video>
    <memballoon model='none'/>
  </devices>
</domain>"""


@pytest.fixture
def shell_guest(lab_daemon, guest_dir, tmp_path):
    """(URI, admin connection, domain): the guest defined and started on the lab daemon."""
    initrd = tmp_path / "initrd-shell.gz"
    initrd.write_bytes((Path(guest_dir) / "initrd.gz").read_bytes() + gzip.compress(newc_archive({"init": SHELL_INIT})))
    uri = lab_daemon.uri("qemu")
    admin = libvirt.open(uri)  # another client, as virsh would be
    try:
        dom = admin.defineXML(shell_guest_xml("console1", guest_dir, initrd))
        dom.create()
        yield uri, admin, dom
    finally:
        for dom in admin.listAllDomains():
            if dom.isActive():
                dom.destroy()
            dom.undefine()
        admin.close()


def _connected_machine(qtbot, run, services, uri):
    inventory = services.inventory
    host = inventory.add_host(uri)
    assert run(inventory.connect_host(host)), host.reason
    qtbot.waitUntil(lambda: [m.state for m in inventory.machines_of(uri)] == ["running"], timeout=10000)
    return host, inventory.machines_of(uri)[0]


def _prompt_then(qtbot, tab: ConsoleTab, command: str, expected: str, timeout: float = 90.0) -> None:
    """Wait for the shell's prompt (pressing Enter now and then: one printed before we attached
    is not printed again), type ``command`` as keys and wait for a line ``expected``."""
    deadline = time.monotonic() + timeout
    tab.terminal.reset()  # only what the guest prints from now on
    while not any(line.startswith(PROMPT) for line in tab.terminal.display()):
        assert time.monotonic() < deadline, "no prompt:\n" + "\n".join(tab.terminal.display())
        qtbot.keyClick(tab.terminal, Qt.Key.Key_Return)
        qtbot.wait(1500)
    tab.terminal.reset()  # what follows is only the command's
    qtbot.keyClicks(tab.terminal, command)
    qtbot.keyClick(tab.terminal, Qt.Key.Key_Return)
    try:
        qtbot.waitUntil(lambda: expected in [line.rstrip() for line in tab.terminal.display()], timeout=15000)
    except AssertionError:
        raise AssertionError("no output:\n" + "\n".join(tab.terminal.display())) from None


def test_serial_console_shell_take_over_and_restart(qtbot, run, services, shell_guest):
    uri, admin, dom = shell_guest
    host, machine = _connected_machine(qtbot, run, services, uri)
    tab = ConsoleTab()
    qtbot.addWidget(tab)
    tab.resize(900, 520)
    tab.show()
    tab.show_machine(machine, host)  # shown and running: it attaches at once
    console = tab.console
    qtbot.waitUntil(lambda: console.state is ConsoleState.CONNECTED, timeout=10000)
    _prompt_then(qtbot, tab, "echo $((6*7))", "42")
    assert not tab.take_button.isVisible() and tab.disconnect_button.isVisible()

    # Colours and the cursor come through pyte: a red word.
    qtbot.keyClicks(tab.terminal, r"printf '\033[1;31mred\033[0m\n'")
    qtbot.keyClick(tab.terminal, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "red" in [line.rstrip() for line in tab.terminal.display()], timeout=15000)
    row = [line.rstrip() for line in tab.terminal.display()].index("red")
    first = tab.terminal.screen.buffer[row][0]
    assert first.fg == "red" and first.bold
    qtbot.keyClicks(tab.terminal, "echo ready for the picture")
    qtbot.keyClick(tab.terminal, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "ready for the picture" in [line.rstrip() for line in tab.terminal.display()])
    qtbot.wait(300)
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        tab.grab().save(os.path.join(SHOTS, "console.png"))

    # Another client asks politely: refused while we hold it.
    other = admin.newStream(libvirt.VIR_STREAM_NONBLOCK)
    with pytest.raises(libvirt.libvirtError, match="(?i)active console session"):
        dom.openConsole(None, other, libvirt.VIR_DOMAIN_CONSOLE_SAFE)
    # ... then forces it: we say it is held, and Take Console takes it back.
    other = admin.newStream(libvirt.VIR_STREAM_NONBLOCK)
    dom.openConsole(None, other, libvirt.VIR_DOMAIN_CONSOLE_SAFE | libvirt.VIR_DOMAIN_CONSOLE_FORCE)
    qtbot.waitUntil(lambda: console.state is ConsoleState.HELD, timeout=10000)
    assert "another client" in tab.status.text() and tab.take_button.isVisible()
    tab.take_button.click()
    qtbot.waitUntil(lambda: console.state is ConsoleState.CONNECTED, timeout=10000)
    _prompt_then(qtbot, tab, "echo $((6*8))", "48")
    try:
        other.abort()
    except libvirt.libvirtError:
        pass  # ours took it: the daemon already ended that stream

    # The machine goes down and comes back (another client): the tab attaches again by itself.
    dom.destroy()
    qtbot.waitUntil(lambda: console.state is ConsoleState.NOT_RUNNING, timeout=10000)
    dom.create()
    qtbot.waitUntil(lambda: console.state is ConsoleState.CONNECTED, timeout=10000)
    _prompt_then(qtbot, tab, "echo $((7*7))", "49")

    # A reboot inside the guest keeps the same QEMU and the same stream.
    qtbot.keyClicks(tab.terminal, "reboot -f")
    qtbot.keyClick(tab.terminal, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: any("GUEST-UP" in line for line in tab.terminal.display()), timeout=60000)
    _prompt_then(qtbot, tab, "echo $((5*5))", "25")
    assert console.state is ConsoleState.CONNECTED
    tab.detach()
    assert console.state is ConsoleState.IDLE


@pytest.fixture
def x_display():
    """An X server: the one the test runs under, or a private Xvfb for this test."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb is not installed")
    # Xvfb picks a free display itself and writes its number once it accepts clients (the
    # SQLite and PostgreSQL suites run this test at the same time).
    read_end, write_end = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1024x768x24",
                               "-nolisten", "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              pass_fds=(write_end,))
    os.close(write_end)
    try:
        with os.fdopen(read_end) as announced:
            number = announced.readline().strip()
        assert number.isdigit() and server.poll() is None, "Xvfb did not start"
        display = f":{number}"
        yield display
    finally:
        server.terminate()
        server.wait(10)


def _window_titles(display: str) -> str:
    return subprocess.run(["xwininfo", "-display", display, "-root", "-tree"], capture_output=True,
                          text=True).stdout


def test_graphical_console_opens_once_in_virt_viewer(qtbot, run, services, shell_guest, x_display, monkeypatch):
    uri, _admin, _dom = shell_guest
    host, machine = _connected_machine(qtbot, run, services, uri)
    monkeypatch.setenv("DISPLAY", x_display)
    sessions = ViewerSessions()
    try:
        outcome = run(open_viewer(sessions, host, machine.uuid, machine.name))
        assert outcome.started, outcome.message
        # Its window is titled with the machine's name, once the display is connected (virt-viewer
        # starts in seconds alone, but a loaded 2-core CI running both suites' lab tests took longer).
        deadline = time.monotonic() + 90
        while "console1" not in _window_titles(x_display):
            assert not sessions.failure((uri, machine.uuid)), sessions.failure((uri, machine.uuid))
            assert time.monotonic() < deadline, "virt-viewer's window never showed the machine's name"
            qtbot.wait(250)
        assert sessions.is_open((uri, machine.uuid)) and not sessions.failure((uri, machine.uuid))
        again = run(open_viewer(sessions, host, machine.uuid, machine.name))
        assert not again.started and "already open" in again.message
        qtbot.wait(8000)  # the guest's kernel writes to the display meanwhile
        if SHOTS:
            os.makedirs(SHOTS, exist_ok=True)
            subprocess.run(["import", "-display", x_display, "-window", "root", os.path.join(SHOTS, "viewer.png")],
                           check=True, timeout=30)
    finally:
        sessions.close_all()
