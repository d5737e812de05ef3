"""Real libvirt errors from the test driver: fields, names, plain words, and the dialogs."""
import errno
import json
import logging
from types import SimpleNamespace

import libvirt
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from ecp_desktop.services.config import app_log
from ecp_desktop.services.core.errors import HypervisorError
from ecp_desktop.services.core.remedies import REMEDIES
from ecp_desktop.services.inventory.machines import MachineInfo
from ecp_desktop.views.hosts.add_connection_dialog import CUSTOM, AddConnectionDialog
from ecp_desktop.views.common.error_dialog import CrashDialog, ErrorDialog

from ...helpers import LAB_URI

REQUIRED = ["NO_CONNECT", "AUTH_FAILED", "AUTH_CANCELLED", "ACCESS_DENIED", "OPERATION_INVALID",
            "OPERATION_TIMEOUT", "OPERATION_FAILED", "OPERATION_ABORTED", "NO_DOMAIN", "DOM_EXIST",
            "SYSTEM_ERROR", "RPC", "NO_SUPPORT", "ARGUMENT_UNSUPPORTED", "CONFIG_UNSUPPORTED", "XML_ERROR",
            "CPU_INCOMPATIBLE", "MIGRATE_UNSAFE", "MIGRATE_PERSIST_FAILED", "RESOURCE_BUSY", "INTERNAL_ERROR"]


def provoke(call):
    conn = libvirt.open(LAB_URI)
    try:
        call(conn)
    except libvirt.libvirtError as exc:
        return HypervisorError.from_libvirt(exc, operation="test", host_uri=LAB_URI)
    finally:
        conn.close()
    raise AssertionError("libvirt did not fail")


DUPLICATE = "<domain type='test'><name>web01</name><memory>1024</memory><os><type>hvm</type></os></domain>"


@pytest.mark.parametrize("call, code_name, words", [
    (lambda c: c.lookupByName("no-such-machine"), "NO_DOMAIN", "no longer exists"),
    (lambda c: c.lookupByName("web01").create(), "INTERNAL_ERROR", "already running"),
    (lambda c: c.createXML(DUPLICATE, 0), "OPERATION_FAILED", "already exists"),  # duplicate name
    (lambda c: c.defineXML("<domain type='test'><name>half"), "XML_DETAIL", "not well-formed"),
    (lambda c: c.lookupByName("web01").migrateToURI3("test:///default", {}, 0), "ARGUMENT_UNSUPPORTED",
     "does not support an option"),
    (lambda c: c.lookupByName("web01").blockCommit("vda", None, None), "NO_SUPPORT", "does not support"),
])
def test_real_libvirt_errors_keep_every_field_and_get_plain_words(call, code_name, words):
    error = provoke(call)
    assert error.code_name == code_name and error.code == getattr(libvirt, f"VIR_ERR_{code_name}")
    assert error.domain_name and error.domain == getattr(libvirt, f"VIR_FROM_{error.domain_name}")
    assert error.level == libvirt.VIR_ERR_ERROR and error.message
    assert words in error.summary and error.remedy
    labels = dict(error.fields())
    assert labels["Error code"].endswith(f"({code_name})") and labels["Host"] == LAB_URI


def test_every_error_users_meet_has_its_own_words():
    assert [c for c in REQUIRED if not any(c in r.codes for r in REMEDIES)] == []
    assert all(hasattr(libvirt, f"VIR_ERR_{c}") for c in REQUIRED)
    unknown = HypervisorError("odd", code=9999)
    assert unknown.code_name == "UNKNOWN_9999" and unknown.summary == "libvirt reported an error."


def test_single_error_dialog_folds_details_and_copies_everything(qtbot):
    error = provoke(lambda c: c.lookupByName("ghost"))
    dialog = ErrorDialog("Start failed", [("ghost", error)])
    qtbot.addWidget(dialog)
    dialog.show()
    # what failed and libvirt's own words first; what they mean and what to do below
    assert dialog.headline.text() == "ghost: Domain not found"
    assert dialog.headline.textFormat() == dialog.remedy.textFormat() == Qt.TextFormat.PlainText
    assert dialog.remedy.text() == f"{error.summary} {error.remedy}" and "no longer exists" in error.summary
    assert not dialog.tree.isVisible()
    dialog.details_button.click()
    assert dialog.tree.isVisible() and dialog.details_button.text() == "Hide Details"
    shown = {dialog.tree.topLevelItem(i).text(0): dialog.tree.topLevelItem(i).text(1)
             for i in range(dialog.tree.topLevelItemCount())}
    assert shown["Error code"] == f"{libvirt.VIR_ERR_NO_DOMAIN} (NO_DOMAIN)" and shown["Message"] == error.message
    dialog.copy_button.click()
    copied = QGuiApplication.clipboard().text()
    assert "Error domain:" in copied and "ghost" in copied and error.remedy in copied


def test_bulk_action_failures_are_grouped_in_one_dialog_from_the_main_window(qtbot, services, run):
    from PySide6.QtCore import QSettings
    from ecp_desktop.services.actions.lifecycle import ACTIONS
    from ecp_desktop.views.window.main_window import MainWindow
    window = MainWindow(services, QSettings("ecp-test", "errors"))
    qtbot.addWidget(window)
    host = services.inventory.add_host(LAB_URI)
    assert run(services.inventory.connect_host(host))
    qtbot.waitUntil(lambda: len(services.inventory.machines) == 4)
    ghosts = [MachineInfo(LAB_URI, f"00000000-0000-0000-0000-00000000000{i}", f"ghost{i}", "shutoff")
              for i in (1, 2)]
    stopped = next(m for m in services.inventory.machines.values() if m.name == "stopped01")
    run(window._apply_and_report(ACTIONS["start"], [*ghosts, stopped]))
    dialog = window.last_error_dialog
    assert dialog is not None and dialog.isVisible() and "2 operations failed" in dialog.headline.text()
    rows = [dialog.tree.topLevelItem(i) for i in range(dialog.tree.topLevelItemCount())]
    assert sorted(r.text(0) for r in rows) == ["ghost1", "ghost2"]
    fields = {rows[0].child(i).text(0): rows[0].child(i).text(1) for i in range(rows[0].childCount())}
    assert fields["Error code"].endswith("(NO_DOMAIN)") and fields["Operation"] == "start"
    assert fields["libvirt version"] and fields["Host"] == LAB_URI
    dialog.close()
    run(services.lifecycle.apply("force_off", services.inventory.machines[(LAB_URI, stopped.uuid)]))


def test_crash_dialog_shows_the_traceback(qtbot):
    try:
        {}["missing"]
    except KeyError as exc:
        dialog = CrashDialog(exc)
    qtbot.addWidget(dialog)
    assert "KeyError: 'missing'" in dialog.details.toPlainText()


@pytest.fixture
def log_file(tmp_path):
    """The app's own file handler and format, on a private file, for this test only."""
    path = tmp_path / "ecp-desktop.log"
    handler = app_log.file_handler(path)
    logging.getLogger().addHandler(handler)
    try:
        yield path
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def test_open_log_shows_the_errors_own_log_line_with_every_field(qtbot, log_file, tmp_path):
    target = str(tmp_path / "no-such-dir" / "web01.save")
    error = provoke(lambda c: c.lookupByName("web01").save(target))
    # libvirt fills the extra fields for this one: errno in int1, format and text in str1/str2
    assert error.code_name == "SYSTEM_ERROR" and error.int1 == errno.ENOENT and error.str1 == "%s"
    dialog = ErrorDialog("Save failed", [("web01", error)], log_path=log_file)
    qtbot.addWidget(dialog)
    dialog.show()
    shown = {dialog.tree.topLevelItem(i).text(0): dialog.tree.topLevelItem(i).text(1)
             for i in range(dialog.tree.topLevelItemCount())}
    assert shown["str1"] == "%s" and shown["str2"] == error.str2 and shown["int1"] == str(errno.ENOENT)
    assert shown["Level"] == "error" and shown["Log id"] == error.error_id and "str3" not in shown
    assert not dialog.log_view.isVisible()
    qtbot.mouseClick(dialog.log_button, Qt.MouseButton.LeftButton)
    assert dialog.log_view.isVisible() and dialog.log_file_button.isVisible()
    assert dialog.log_note.textFormat() == Qt.TextFormat.PlainText and str(log_file) in dialog.log_note.text()
    (line,) = dialog.log_view.toPlainText().splitlines()
    assert f"SYSTEM_ERROR id={error.error_id} " in line
    # The line wraps within the dialog: read without scrolling sideways.
    view = dialog.log_view
    qtbot.waitUntil(lambda: view.document().firstBlock().layout().lineCount() > 1)
    assert view.horizontalScrollBar().maximum() == 0
    logged = json.loads(line.split(f" id={error.error_id} ", 1)[1])
    assert {k: logged[k] for k in ("code", "domain", "level", "message", "str1", "str2", "str3", "int1", "int2",
                                   "operation", "host_uri", "when")} == {
        "code": libvirt.VIR_ERR_SYSTEM_ERROR, "domain": error.domain, "level": libvirt.VIR_ERR_ERROR,
        "message": error.message, "str1": "%s", "str2": error.str2, "str3": None, "int1": errno.ENOENT, "int2": -1,
        "operation": "test", "host_uri": LAB_URI, "when": error.when.isoformat()}


def test_open_log_shows_untrusted_words_as_escaped_plain_text(qtbot, log_file):
    error = provoke(lambda c: c.defineXML("<domain type='test'><name><b>x</b>\u202e\x1b[2J</name>"))
    assert "\x1b" in error.message and "<b>" in error.message
    dialog = ErrorDialog("Define failed", [("x", error)], log_path=log_file)
    qtbot.addWidget(dialog)
    dialog.open_log()
    text = dialog.log_view.toPlainText()
    assert len(text.splitlines()) == 1 and "<b>x</b>" in text  # shown as written, never as markup
    assert "\x1b" not in text and "\u202e" not in text and "\\u001b" in text


def test_open_log_says_when_an_error_has_no_entry(qtbot, log_file):
    old = HypervisorError.from_json(json.dumps({"message": "written by an older version", "code": 42}))
    dialog = ErrorDialog("Start failed", [("a", old), ("b", "a plain reason")], log_path=log_file)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.open_log()
    assert "No entry for these errors" in dialog.log_note.text() and not dialog.log_view.isVisible()
    assert dialog.log_file_button.isVisible()


def test_a_one_line_error_is_a_small_window_that_grows_for_its_details(qtbot):
    error = provoke(lambda c: c.lookupByName("web01").create())
    dialog = ErrorDialog("Start failed", [("web01", error)])
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.headline.text() == "web01: Domain 'web01' is already running"
    folded = dialog.size()
    assert dialog.sizeHint().height() <= 200 and 360 <= dialog.sizeHint().width() <= 600
    assert folded.height() <= 200 and folded.width() <= 600, "no large empty window"
    dialog.details_button.click()
    assert dialog.width() >= 640 and dialog.height() > folded.height() + 150  # room for every field
    dialog.details_button.click()
    assert dialog.size() == folded


def test_a_message_of_several_lines_keeps_its_lines_below_the_headline(qtbot):
    error = provoke(lambda c: c.defineXML("<domain type='test'><name>half"))
    dialog = ErrorDialog("Define failed", [("half", error)])
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.headline.text().startswith("half: (domain_definition):1: Premature end of data")
    assert dialog.more.isVisible() and dialog.more.text().splitlines()[-1].endswith("^")
    assert dialog.height() <= 260


def test_a_flows_outcome_is_shown_whole_at_the_top_as_plain_wrapped_text(qtbot):
    error = provoke(lambda c: c.lookupByName("web01").create())
    outcome = ("failed: not enough free space in pool-a; undone: deleted volume pool-a/<b>web-1</b>.qcow2, "
               "deleted volume pool-a/web-2.qcow2, undefined web-1\u202e\nStill left behind: pool-a/web-3.qcow2")
    dialog = ErrorDialog("Create 3 machines: failed", [("web-1", error)], outcome=outcome)
    qtbot.addWidget(dialog)
    dialog.resize(640, 300)
    dialog.show()
    shown = dialog.outcome
    assert shown.isVisible() and shown.wordWrap() and shown.textFormat() == Qt.TextFormat.PlainText
    assert shown.text() == ("Outcome: failed: not enough free space in pool-a; undone: deleted volume "
                            "pool-a/<b>web-1</b>.qcow2, deleted volume pool-a/web-2.qcow2, undefined web-1\\u202e\n"
                            "Still left behind: pool-a/web-3.qcow2")
    assert shown.y() < dialog.headline.y()  # above libvirt's words
    assert dialog.text().startswith(shown.text() + "\n\nweb-1\nSummary: ")  # and first in what Copy copies
    assert shown.width() <= dialog.width()  # wrapped to the dialog, not wider
    plain = ErrorDialog("Start failed", [("web01", error)])
    qtbot.addWidget(plain)
    plain.show()
    assert not plain.outcome.isVisible()  # a single action has no outcome of its own to show


def add_connection(qtbot, hosts=(), connect=None):
    dialog = AddConnectionDialog(SimpleNamespace(hosts=dict.fromkeys(hosts)), connect)
    qtbot.addWidget(dialog)
    return dialog


@pytest.mark.parametrize("uri, kind", [
    ("test:///default", "Demo host (libvirt test driver)"),
    (LAB_URI, "Demo host (libvirt test driver)"),
    ("qemu:///session", "QEMU/KVM, this computer (user session)"),
    ("qemu+unix:///system?socket=/run/libvirt/virtqemud-sock", "QEMU/KVM, this computer (system)"),
    ("qemu+ssh://me@lab-b/system", "QEMU/KVM over SSH"),
    ("qemu://lab-b/system", "QEMU/KVM over TLS"),
    ("qemu+tcp://lab-b:16509/system", "QEMU/KVM over TCP (unencrypted)"),
    ("lxc:///system", "LXC, this computer"),
    ("xen:///system", CUSTOM),
])
def test_add_connection_hypervisor_box_follows_the_typed_uri(qtbot, uri, kind):
    dialog = add_connection(qtbot)
    dialog.kind.setCurrentText("QEMU/KVM over SSH")
    dialog.uri.setText(uri)
    assert dialog.kind.currentText() == kind and dialog.uri.text() == uri  # the URI typed stays as typed


def test_add_connection_shows_libvirts_reason_and_the_remedy(qtbot, run):
    try:
        libvirt.open("qemu+tcp://no-such-host.invalid/system")
    except libvirt.libvirtError as exc:
        error = HypervisorError.from_libvirt(exc, operation="connect", host_uri="qemu+tcp://no-such-host.invalid/system")

    async def connect(_uri, _label, _autoconnect):
        return SimpleNamespace(last_error=error, reason=error.one_line()), False
    dialog = add_connection(qtbot, connect=connect)
    dialog.uri.setText("qemu+tcp://no-such-host.invalid/system")
    run(dialog._connect("qemu+tcp://no-such-host.invalid/system"))
    text = dialog.message.text()
    assert dialog.message.textFormat() == Qt.TextFormat.PlainText
    assert text.startswith(f"Could not connect: {error.own_words}")  # libvirt's own words
    assert "Could not resolve the host name" in text and "check this computer's DNS" in text
    assert "could not be reached or a system call failed" not in text


def test_the_whole_log_opens_in_the_app_where_no_program_opens_log_files(qtbot, log_file):
    """Open Log must show something even on a desktop without a program for .log files:
    the file's end, in the app, as plain text."""
    log_file.write_text("older line\n<b>not markup</b> last line\n")
    dialog = ErrorDialog("Start failed", [("a", "a plain reason")], log_path=log_file)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.open_log_file()
    viewer = dialog.log_viewer
    assert viewer.isVisible() and viewer.text.isReadOnly()
    assert viewer.text.toPlainText().endswith("<b>not markup</b> last line\n")
    viewer.close()


def test_read_tail_keeps_the_end_of_a_big_log(tmp_path):
    from ecp_desktop.views.common.log_viewer import read_tail
    big = tmp_path / "big.log"
    big.write_text("".join(f"line {i}\n" for i in range(200_000)))
    tail = read_tail(big, limit=1000)
    assert tail.endswith("line 199999\n") and tail.startswith("line ") and len(tail) <= 1000
    assert "cannot be read" in read_tail(tmp_path / "missing.log")
