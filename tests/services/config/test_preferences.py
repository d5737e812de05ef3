"""Preferences: saved in the config file, and acted on (restore policy of new machines,
confirmation before forcing off, log level); a damaged value falls back to its default."""
from __future__ import annotations

import json
import logging

import pytest
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

from ecp_desktop.models import schema
from ecp_desktop.models.db import database
from ecp_desktop.services.config import app_config, preferences

from ...helpers.gui import names_shown, select_rows


@pytest.fixture(autouse=True)
def default_preferences():
    preferences.save(preferences.Preferences())
    yield
    preferences.save(preferences.Preferences())
    logging.getLogger().setLevel(logging.WARNING)


def test_the_dialog_saves_and_the_app_applies(window, qtbot, run, services):  # noqa: F811
    services.executors.database.submit(lambda: None).result()  # the fleet's rows are written already
    dialog = window.open_preferences()
    dialog.policy.setCurrentIndex(dialog.policy.findData("never"))
    dialog.confirm.setChecked(False)
    dialog.log_level.setCurrentText("DEBUG")
    # Not asked yet: the first choice says so, and keeping it keeps the question.
    assert dialog.at_start.currentData() == "" and "Ask me" in dialog.at_start.currentText()
    dialog.at_start.setCurrentIndex(dialog.at_start.findData("always"))
    dialog.history_versions.setValue(20)
    dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok).click()
    stored = app_config.load()["preferences"]
    assert stored == {"default_restore_policy": "never", "confirm_destructive": False, "keep_in_tray": False,
                      "log_level": "DEBUG", "restore_at_start": "always", "usage_interval": 2,
                      "history_keep_versions": 20, "history_keep_days": 90}
    again = window.open_preferences()  # answered: no "ask me" entry any more
    assert again.at_start.currentData() == "always" and again.at_start.findData("") == -1
    again.reject()
    assert logging.getLogger().level == logging.DEBUG

    # A machine seen for the first time gets the default policy; known ones keep theirs.
    other = services.inventory.add_host("test:///default")
    assert run(services.inventory.connect_host(other))
    run(services.inventory.load_host(other))
    services.executors.database.submit(lambda: None).result()
    with database.connection_context():
        policies = {m.name: m.restore_policy for m in schema.Machine.select()}
    assert policies["test"] == "never"
    assert {policies[n] for n in names_shown(window) if n != "test"} == {"last"}
    run(services.inventory.remove_host("test:///default"))


def test_the_two_restore_settings_say_which_machines_and_when(qtbot):
    """One is what the app starts at its own start, the other the policy a new machine gets:
    each row's label says which, and a line under it says when it applies."""
    from PySide6.QtWidgets import QFormLayout

    from ecp_desktop.views.window.preferences_dialog import PreferencesDialog
    dialog = PreferencesDialog(tray_available=False)
    qtbot.addWidget(dialog)
    form = dialog.findChild(QFormLayout)

    def row_of(widget):
        return form.getWidgetPosition(widget)[0]

    def label_of(widget):
        return form.labelForField(widget).text()

    def line_under(widget):
        return form.itemAt(row_of(widget) + 1, QFormLayout.ItemRole.FieldRole).widget().text()

    assert label_of(dialog.at_start) == "When ECP Desktop opens, start:"
    assert line_under(dialog.at_start).startswith("Each time this app opens, it starts")
    assert label_of(dialog.policy) == "Restore policy of new machines:"
    assert line_under(dialog.policy).startswith("The policy a machine gets the first time the app sees it")
    assert [dialog.policy.itemText(i) for i in range(dialog.policy.count())] == ["Last State", "Always On", "Never"]
    dialog.reject()


def test_force_off_asks_first_unless_told_not_to(window, qtbot, services):  # noqa: F811
    row = next(r for r, n in enumerate(names_shown(window)) if n == "web01")
    select_rows(window, [row])
    window.run_action("force_off")
    box = window.last_confirmation
    assert "Force off web01?" in box.text()
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.No)  # Enter forces nothing off
    box.button(QMessageBox.StandardButton.No).click()
    qtbot.wait(200)
    assert not [t for t in services.tasks.tasks if t.title == "Force off web01"]

    window.run_action("force_off")
    window.last_confirmation.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: any(t.title == "Force off web01" and t.status == "succeeded"
                                for t in services.tasks.tasks), timeout=5000)

    preferences.save(preferences.Preferences(confirm_destructive=False))
    window.last_confirmation = None

    def state_of_web01():
        return next(m.state for m in services.inventory.machines.values() if m.name == "web01")
    qtbot.waitUntil(lambda: state_of_web01() == "shutoff", timeout=5000)  # the event has come in
    select_rows(window, [row])
    window.run_action("start")
    qtbot.waitUntil(lambda: any(t.title == "Start web01" and t.status == "succeeded"
                                for t in services.tasks.tasks), timeout=5000)
    qtbot.waitUntil(lambda: state_of_web01() == "running", timeout=5000)
    window.run_action("force_off")
    assert window.last_confirmation is None
    qtbot.waitUntil(lambda: sum(t.title == "Force off web01" for t in services.tasks.tasks) == 2, timeout=5000)


def test_a_damaged_preference_falls_back_to_its_default(caplog):
    app_config.save(preferences={"default_restore_policy": "sometimes", "log_level": 7, "keep_in_tray": True})
    preferences.forget_cached()
    prefs = preferences.current()
    assert prefs.default_restore_policy == "last" and prefs.log_level == "INFO" and prefs.keep_in_tray is True
    assert "restore policy must be one of" in caplog.text
    assert json.loads(app_config.config_path().read_text())["preferences"]["keep_in_tray"] is True
    with pytest.raises(ValueError, match="log level"):
        preferences.save(preferences.Preferences(log_level="LOUD"))
