"""The user's preferences (Qt-free), kept in the app's config file beside the database choice.

Only what the app acts on is here: the restore policy given to machines seen for the
first time, which machines the window starts again when it opens, confirmation before
destructive actions, keeping running in the tray when the window closes, the log level, and
how often live usage is sampled.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields, replace

from . import app_config

POLICIES = ("last", "always", "never")
# Which machines the window starts again when it opens: "" until the user has been asked
# (a desktop window that starts machines without asking surprises people).
AT_START = ("last", "always", "never")
AT_START_LABELS = {"last": "Those that were running (Last State)",
                   "always": "Only those marked Always On",
                   "never": "None: I start machines myself"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
KEY = "preferences"
USAGE_INTERVALS = range(1, 61)  # seconds between two usage samples (one bulk stats call per host)
HISTORY_LEAST = {"history_keep_versions": 1, "history_keep_days": 0}  # the least each may be


@dataclass
class Preferences:
    default_restore_policy: str = "last"
    confirm_destructive: bool = True  # force off, removing hosts
    keep_in_tray: bool = False
    log_level: str = "INFO"
    restore_at_start: str = ""  # one of AT_START; "" until asked
    usage_interval: int = 2  # seconds between live usage samples (USAGE_INTERVALS)
    # A machine's definition history keeps its newest versions and every version younger than the days.
    history_keep_versions: int = 50
    history_keep_days: int = 90

    def problems(self) -> list[str]:
        out = []
        if self.default_restore_policy not in POLICIES:
            out.append(f"restore policy must be one of {', '.join(POLICIES)}")
        if self.log_level not in LOG_LEVELS:
            out.append(f"log level must be one of {', '.join(LOG_LEVELS)}")
        if self.restore_at_start not in ("", *AT_START):
            out.append(f"restore at start must be one of {', '.join(AT_START)}")
        if isinstance(self.usage_interval, bool) or self.usage_interval not in USAGE_INTERVALS:
            out.append(f"usage interval must be {USAGE_INTERVALS.start} to {USAGE_INTERVALS.stop - 1} seconds")
        for name, lowest in HISTORY_LEAST.items():
            value = getattr(self, name)
            if isinstance(value, bool) or value < lowest:
                out.append(f"{name.replace('_', ' ')} must be a whole number of at least {lowest}")
        return out


_current: Preferences | None = None


def current() -> Preferences:
    """The preferences in force (read once from the config file; a bad value falls back to its default)."""
    global _current
    if _current is None:
        stored = app_config.load().get(KEY)
        prefs = Preferences()
        if isinstance(stored, dict):
            for f in fields(Preferences):
                value = stored.get(f.name)
                if isinstance(value, type(getattr(prefs, f.name))):
                    setattr(prefs, f.name, value)
        for problem in prefs.problems():
            logging.getLogger(__name__).warning("ignoring a preference: %s", problem)
            prefs = Preferences(**{**asdict(prefs), **_defaults_for(prefs)})
        _current = prefs
    return _current


def _defaults_for(prefs: Preferences) -> dict:
    fixed = {}
    if prefs.default_restore_policy not in POLICIES:
        fixed["default_restore_policy"] = "last"
    if prefs.log_level not in LOG_LEVELS:
        fixed["log_level"] = "INFO"
    if prefs.restore_at_start not in ("", *AT_START):
        fixed["restore_at_start"] = ""
    if isinstance(prefs.usage_interval, bool) or prefs.usage_interval not in USAGE_INTERVALS:
        fixed["usage_interval"] = 2
    for name, lowest in HISTORY_LEAST.items():
        value = getattr(prefs, name)
        if isinstance(value, bool) or value < lowest:
            fixed[name] = getattr(Preferences, name)
    return fixed


def set_restore_at_start(choice: str) -> None:
    """The answer to "which machines come back when the window opens?"."""
    save(replace(current(), restore_at_start=choice))


def save(prefs: Preferences) -> None:
    problems = prefs.problems()
    if problems:
        raise ValueError("; ".join(problems))
    global _current
    app_config.save(**{KEY: asdict(prefs)})
    _current = prefs
    apply_log_level(prefs)


def apply_log_level(prefs: Preferences) -> None:
    logging.getLogger().setLevel(getattr(logging, prefs.log_level))


def forget_cached() -> None:
    """Read the file again on next use (tests, and after another process changed it)."""
    global _current
    _current = None
