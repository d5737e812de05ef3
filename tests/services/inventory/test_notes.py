"""Operators' notes with an edit version: a stale edit is refused with the other text, on
both backends, between two app instances and between racing OS processes (issue 7)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from ecp_desktop.services.composition import build_services
from ecp_desktop.services.inventory.notes import StaleEdit, UnknownMachine
from ecp_desktop.views.machines.notes_editor import NotesEditor

URI = "test:///default"


@pytest.fixture
def machine(services, run, qtbot):
    host = services.inventory.add_host(URI)
    assert run(services.inventory.connect_host(host))
    run(services.inventory.load_host(host))
    (test,) = services.inventory.machines_of(URI)

    def written():
        try:
            return run(services.inventory.read_notes(test.key)).version == 0
        except UnknownMachine:
            return False
    qtbot.waitUntil(written, timeout=5000)  # the inventory row is on disk
    return test


def test_the_second_of_two_instances_to_save_is_refused_with_the_first_ones_text(services, run, machine):
    other = build_services()  # a second app instance on the same database
    try:
        mine = run(services.inventory.read_notes(machine.key))
        theirs = run(other.inventory.read_notes(machine.key))
        assert mine.version == theirs.version == 0
        saved = run(other.inventory.save_notes(machine.key, "owner: alice; do not stop", theirs.version))
        assert saved.version == 1
        with pytest.raises(StaleEdit) as refused:
            run(services.inventory.save_notes(machine.key, "owner: bob", mine.version))
        assert refused.value.current.text == "owner: alice; do not stop" and refused.value.current.version == 1
        assert "someone else changed these notes" in str(refused.value)
        assert run(services.inventory.read_notes(machine.key)).text == "owner: alice; do not stop"  # nothing lost
        again = run(services.inventory.save_notes(machine.key, "owner: bob", refused.value.current.version))
        assert again.version == 2  # knowingly replacing theirs
    finally:
        other.shutdown()


def test_racing_processes_exactly_one_edit_wins(services, run, machine, db_url):
    racers = [subprocess.Popen([sys.executable, "-m", "ecp_desktop", "--database", db_url, "notes", "test",
                                "--set", f"from racer {n}", "--version", "0", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(4)]
    results = [(p.wait(timeout=60), p.stdout.read(), p.stderr.read()) for p in racers]
    for p in racers:
        p.stdout.close()
        p.stderr.close()
    codes = sorted(code for code, _out, _err in results)
    assert codes == [0, 4, 4, 4], results
    winner = next(n for n, (code, _o, _e) in enumerate(results) if code == 0)
    final = run(services.inventory.read_notes(machine.key))
    assert final.text == f"from racer {winner}" and final.version == 1
    for code, _out, err in results:
        if code == 4:
            assert f"from racer {winner}" in err and "not saved" in err


def test_the_notes_tab_shows_a_refused_save_and_keeps_what_was_typed(services, run, machine, qtbot):
    editor = NotesEditor(services.inventory)
    qtbot.addWidget(editor)
    editor.show_machine(machine)
    qtbot.waitUntil(editor.save_button.isEnabled, timeout=3000)
    run(services.inventory.save_notes(machine.key, "changed elsewhere", 0))  # another operator, meanwhile
    editor.editor.setPlainText("my text")
    editor.save_button.click()
    qtbot.waitUntil(lambda: "Not saved" in editor.status.text(), timeout=3000)
    assert "changed elsewhere" in editor.status.text() and editor.editor.toPlainText() == "my text"
    editor.save_button.click()
    qtbot.waitUntil(lambda: editor.status.text() == "Saved (version 2)", timeout=3000)
    assert run(services.inventory.read_notes(machine.key)).text == "my text"
