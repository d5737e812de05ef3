"""The single-instance key is the database opened, not the URL's text (issue 24, point 6).

A second window on the same SQLite file through a symbolic link, a ``./`` path, a linked
directory or a hard link used to get a socket of its own (the key hashed the URL's text),
so two windows wrote one inventory. Real files, links and local sockets throughout; the
PostgreSQL keys are pure functions of the URL (no server is needed to compare them).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from ecp_desktop.models.db import make_database
from ecp_desktop.views.window.single_instance import SingleInstance, database_identities, socket_key, socket_keys


def url_of(path: Path | str) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def inventory_file(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    file = real / "inv.sqlite3"
    make_database(url_of(file))  # creates the file, as the app does on open
    assert file.exists()
    return file


@pytest.fixture
def instances(qtbot):
    """``start(url)``: an instance listening for ``url``; all closed at the end."""
    made = []

    def start(url: str) -> SingleInstance:
        instance = SingleInstance(url)
        assert instance.listen()
        made.append(instance)
        return instance
    yield start
    for instance in made:
        for server in instance.servers.values():
            server.close()


def second_launch_finds(qtbot, first: SingleInstance, url: str) -> bool:
    with qtbot.waitSignal(first.raise_requested, timeout=3000, raising=False) as raised:
        answered = SingleInstance(url).ask_running_instance()
    return answered and raised.signal_triggered


def test_a_symbolic_link_names_the_same_database(qtbot, tmp_path, inventory_file, instances):
    link = tmp_path / "link.sqlite3"
    link.symlink_to(inventory_file)
    assert socket_key(url_of(link)) == socket_key(url_of(inventory_file))
    first = instances(url_of(inventory_file))
    assert second_launch_finds(qtbot, first, url_of(link))


def test_a_dot_path_and_a_linked_directory_name_the_same_database(qtbot, tmp_path, inventory_file, instances):
    dotted = f"sqlite:///{inventory_file.parent}/./inv.sqlite3"
    assert "/./" in dotted
    linked_dir = tmp_path / "linked"
    linked_dir.symlink_to(inventory_file.parent, target_is_directory=True)
    via_dir = url_of(linked_dir / "sub" / ".." / "inv.sqlite3")
    (inventory_file.parent / "sub").mkdir()
    first = instances(dotted)
    assert socket_key(via_dir) == socket_key(dotted) == socket_key(url_of(inventory_file))
    assert second_launch_finds(qtbot, first, url_of(inventory_file))
    assert second_launch_finds(qtbot, first, via_dir)


def test_a_hard_link_is_the_same_file_and_another_file_is_not(qtbot, tmp_path, inventory_file, instances):
    hard = tmp_path / "hard.sqlite3"
    os.link(inventory_file, hard)
    assert socket_key(url_of(hard)) == socket_key(url_of(inventory_file))  # device and inode
    other = tmp_path / "other.sqlite3"
    make_database(url_of(other))
    assert socket_key(url_of(other)) != socket_key(url_of(inventory_file))
    first = instances(url_of(inventory_file))
    assert second_launch_finds(qtbot, first, url_of(hard))
    assert not SingleInstance(url_of(other)).ask_running_instance()


def test_a_file_setup_makes_later_is_found_by_every_name(qtbot, tmp_path, instances):
    """The first window starts before setup made the file (a first run): it listens under
    the resolved path, then also under the file's identity once the file is there, so a
    launch through a hard link made afterwards finds it too."""
    file = tmp_path / "data" / "ecp" / "inv.sqlite3"  # not even its directory exists yet
    link = tmp_path / "link.sqlite3"
    link.symlink_to(file)  # a dangling link now
    assert len(socket_keys(url_of(file))) == 1
    first = instances(url_of(file))
    assert second_launch_finds(qtbot, first, url_of(link))  # the resolved path, before the file exists
    make_database(url_of(file))  # what setup does: the directories and the file
    qtbot.waitUntil(lambda: len(first.servers) == 2, timeout=5000)
    hard = tmp_path / "hard.sqlite3"
    os.link(file, hard)
    assert socket_key(url_of(hard)) == socket_key(url_of(file)) != socket_keys(url_of(file))[1]
    assert second_launch_finds(qtbot, first, url_of(hard))
    assert second_launch_finds(qtbot, first, url_of(link))


def test_a_relative_sqlite_path_is_the_file_from_the_working_directory(tmp_path, inventory_file, monkeypatch):
    monkeypatch.chdir(inventory_file.parent.parent)
    # sqlite:///real/inv.sqlite3 is what peewee opens as real/inv.sqlite3 from here
    assert socket_key("sqlite:///real/inv.sqlite3") == socket_key(url_of(inventory_file))


@pytest.mark.parametrize("same", [
    "postgresql://ecp:secret@LocalHost/inventory",
    "postgresql://other@127.0.0.1:5432/inventory",
    "postgres://ecp@[::1]/inventory?sslmode=require",
    "postgresql:///inventory?host=/var/run/postgresql",
    "postgresql://ecp@localhost:5432/inventory?password=hunter2&connect_timeout=3",
])
def test_postgresql_is_its_server_port_and_database(same, monkeypatch):
    for name in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER"):
        monkeypatch.delenv(name, raising=False)
    base = "postgresql://ecp@localhost/inventory"
    assert database_identities(same) == database_identities(base) == ["postgresql:local:5432/inventory"]
    assert socket_key(same) == socket_key(base)
    for secret in ("secret", "hunter2"):
        assert secret not in database_identities(same)[0]


def test_postgresql_servers_ports_and_databases_differ(monkeypatch):
    for name in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER"):
        monkeypatch.delenv(name, raising=False)
    keys = {socket_key(url) for url in (
        "postgresql://ecp@localhost/inventory", "postgresql://ecp@localhost:5433/inventory",
        "postgresql://ecp@localhost/other", "postgresql://ecp@DB.Example.com./inventory",
        "postgresql://ecp@10.0.0.7/inventory")}
    assert len(keys) == 5
    assert socket_key("postgresql://ecp@db.example.com/inventory") == socket_key(
        "postgresql://ecp@DB.Example.com./inventory")
    # libpq's environment fills in what the URL leaves out, as it does when connecting
    monkeypatch.setenv("PGHOST", "db.example.com")
    monkeypatch.setenv("PGPORT", "6543")
    assert database_identities("postgresql:///inventory") == ["postgresql:db.example.com:6543/inventory"]


def test_an_instance_that_quits_answers_under_no_name(qtbot, tmp_path, inventory_file, instances):
    """Quit closes every name it listens under (the file's identity and its path): a launch
    while the old one still saves its work starts afresh instead of asking a dying process."""
    link = tmp_path / "link.sqlite3"
    link.symlink_to(inventory_file)
    first = instances(url_of(inventory_file))
    assert len(first.servers) >= 2
    first.close()
    assert not first.servers
    assert not SingleInstance(url_of(inventory_file)).ask_running_instance()
    assert not SingleInstance(url_of(link)).ask_running_instance()
