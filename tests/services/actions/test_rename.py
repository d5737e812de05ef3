"""Rename: libvirt's own, for a shut-off machine; the row, the inventory and the notes follow
the machine's UUID; a running machine and a bad or taken name are refused in words."""
import pytest

from ecp_desktop.models import schema
from ecp_desktop.services.core.errors import Refusal
from ecp_desktop.services.inventory.notes import read_notes, save_notes

from ...helpers import LAB_URI
from .test_lifecycle import by_name, lab  # noqa: F401  (the fixture)


def test_a_shut_off_machine_is_renamed_and_everything_follows_its_uuid(qtbot, run, lab):  # noqa: F811
    machine = by_name(lab, "stopped01")
    lab.executors.database.submit(lambda: save_notes(LAB_URI, machine.uuid, "keep me", 0)).result()
    record = run(lab.renamer.rename(machine, "archive-01"))
    assert record.status == "succeeded", record.error_message
    assert record.outcome == "renamed stopped01 to archive-01"
    qtbot.waitUntil(lambda: lab.inventory.machines[machine.key].name == "archive-01", timeout=3000)
    assert len(lab.inventory.machines_of(LAB_URI)) == 4  # the same row, renamed in place
    name = run(lab.inventory.hosts[LAB_URI].call(lambda c: c.lookupByUUIDString(machine.uuid).name()))
    assert name == "archive-01"
    run(lab.inventory.writes.written())

    def stored():
        with schema.database.connection_context():
            row = schema.Machine.get(schema.Machine.uuid == machine.uuid)
            return row.name, read_notes(LAB_URI, machine.uuid).text
    assert lab.executors.database.submit(stored).result() == ("archive-01", "keep me")


@pytest.mark.parametrize("name, new, words", [
    ("web01", "web-02", "libvirt renames only a machine that is shut off"),
    ("stopped01", "db01", "exists on this host already"),
    ("stopped01", "bad/name", "'/'"),
    ("stopped01", "stopped01", "already has that name"),
])
def test_a_rename_that_cannot_be_is_refused_in_words_and_nothing_runs(run, lab, name, new, words):  # noqa: F811
    with pytest.raises(Refusal, match=words.replace("(", r"\(")):
        run(lab.renamer.rename(by_name(lab, name), new))
    assert by_name(lab, name).name == name and not lab.tasks.tasks


def test_the_command_line_renames_and_refuses_in_words(db_url, tmp_path):
    import shutil
    import subprocess
    import sys

    from ...helpers import LAB_XML
    copy = tmp_path / "lab.xml"  # a test:///FILE host starts afresh in each process
    shutil.copy(LAB_XML, copy)
    uri = f"test://{copy}"

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", uri, *args],
                              capture_output=True, text=True, timeout=60)
    done = cli("rename", "stopped01", "archive-01", "--json")
    assert done.returncode == 0, done.stderr
    assert '"status": "succeeded"' in done.stdout and "renamed stopped01 to archive-01" in done.stdout
    running = cli("rename", "web01", "web-02")
    assert running.returncode == 2 and "shut it down first" in running.stderr
    bad = cli("rename", "stopped01", "bad/name")
    assert bad.returncode == 2 and "not renamed" in bad.stderr and "'/'" in bad.stderr
