"""File → Preferences: what the app does by default, saved in the app's config file."""
from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QSpinBox, QWidget

from ...services.config import preferences
from ...services.actions.restore import POLICIES as POLICY_LABELS
from ...services.actions.restore import POLICY_HELP
from ..common.discard_guard import AsksBeforeDiscarding
from ..common.plain import plain_label

AT_START_LABEL = "When ECP Desktop opens, start:"
AT_START_HELP = ("Each time this app opens, it starts the machines chosen here that are not running, "
                 "on every host it connects to.")
POLICY_LABEL = "Restore policy of new machines:"
POLICY_HELP_LINE = ("The policy a machine gets the first time the app sees it; a restore starts machines by it. "
                    "Change one machine's with Machine → After a Restart, Restore.")


class PreferencesDialog(AsksBeforeDiscarding, QDialog):
    def __init__(self, tray_available: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        prefs = preferences.current()
        self.policy = QComboBox()
        for policy in preferences.POLICIES:
            self.policy.addItem(POLICY_LABELS[policy], policy)
            self.policy.setItemData(self.policy.count() - 1, POLICY_HELP[policy], 3)  # tooltip role
        self.policy.setCurrentIndex(preferences.POLICIES.index(prefs.default_restore_policy))
        self.at_start = QComboBox()
        for choice in preferences.AT_START:
            self.at_start.addItem(preferences.AT_START_LABELS[choice], choice)
        if prefs.restore_at_start:
            self.at_start.setCurrentIndex(preferences.AT_START.index(prefs.restore_at_start))
        else:
            self.at_start.insertItem(0, "Ask me the next time the window opens", "")
            self.at_start.setCurrentIndex(0)
        self.confirm = QCheckBox("Ask before forcing machines off or removing hosts")
        self.confirm.setChecked(prefs.confirm_destructive)
        self.tray = QCheckBox("Keep running in the tray when the window is closed")
        self.tray.setChecked(prefs.keep_in_tray)
        self.tray.setEnabled(tray_available)
        if not tray_available:
            self.tray.setToolTip("This desktop offers no system tray")
        self.usage_interval = QSpinBox()
        self.usage_interval.setRange(1, 60)
        self.usage_interval.setSuffix(" s")
        self.usage_interval.setValue(prefs.usage_interval)
        # A machine's configuration history keeps its newest versions and every younger one.
        self.history_versions = QSpinBox()
        self.history_versions.setRange(preferences.HISTORY_LEAST["history_keep_versions"], 10_000)
        self.history_versions.setSuffix(" versions")
        self.history_versions.setValue(prefs.history_keep_versions)
        self.history_days = QSpinBox()
        self.history_days.setRange(preferences.HISTORY_LEAST["history_keep_days"], 36_500)
        self.history_days.setSuffix(" days")
        self.history_days.setValue(prefs.history_keep_days)
        self.log_level = QComboBox()
        self.log_level.addItems(list(preferences.LOG_LEVELS))
        self.log_level.setCurrentText(prefs.log_level)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        # Two settings a user mixed up: one is a choice the app makes at its own start, the
        # other the policy a machine is given when first seen. Each says which and when.
        self.at_start_help = plain_label(AT_START_HELP, wrap=True)
        self.policy_help = plain_label(POLICY_HELP_LINE, wrap=True)
        form.addRow(AT_START_LABEL, self.at_start)
        form.addRow("", self.at_start_help)
        form.addRow(POLICY_LABEL, self.policy)
        form.addRow("", self.policy_help)
        form.addRow("", self.confirm)
        form.addRow("", self.tray)
        form.addRow("Usage graphs, a sample every:", self.usage_interval)
        form.addRow("Configuration history keeps the last:", self.history_versions)
        form.addRow("and every version younger than:", self.history_days)
        form.addRow("Log level:", self.log_level)
        form.addRow(buttons)

    def chosen(self) -> preferences.Preferences:
        return preferences.Preferences(default_restore_policy=self.policy.currentData(),
                                       confirm_destructive=self.confirm.isChecked(),
                                       keep_in_tray=self.tray.isChecked(), log_level=self.log_level.currentText(),
                                       restore_at_start=self.at_start.currentData(),
                                       usage_interval=self.usage_interval.value(),
                                       history_keep_versions=self.history_versions.value(),
                                       history_keep_days=self.history_days.value())

    def _save(self) -> None:
        preferences.save(self.chosen())
        self.accept()
