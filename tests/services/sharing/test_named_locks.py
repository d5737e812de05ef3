"""Locks across instances on one inventory: an advisory lock on PostgreSQL, a flock beside
the SQLite file (the suite runs on both). A second holder waits, and gives up in words."""
import threading
import time

from ecp_desktop.services.sharing.named_locks import LockTimeout, exclusive


def test_a_second_holder_waits_then_gets_the_lock(db):
    got = []

    def second():
        with exclusive("restore:test:///default", timeout=5):
            got.append(time.monotonic())

    with exclusive("restore:test:///default"):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.4)
        assert got == []  # still waiting
        released = time.monotonic()
    thread.join(5)
    assert got and got[0] >= released


def test_a_lock_held_too_long_is_refused_in_words_and_other_names_are_free(db):
    with exclusive("restore:host-a"):
        errors = []

        def contender():
            try:
                with exclusive("restore:host-a", timeout=0.3):
                    pass
            except LockTimeout as exc:
                errors.append(str(exc))
            with exclusive("restore:host-b", timeout=0.3):  # another host: no wait
                errors.append("b held")
        thread = threading.Thread(target=contender)
        thread.start()
        thread.join(5)
    assert len(errors) == 2 and "another instance holds" in errors[0] and errors[1] == "b held"
