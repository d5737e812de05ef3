"""A moment in words relative to now, as a list of recent events reads best ("3 min ago",
"yesterday 14:02"), and the exact moment for a tooltip. Both take naive local times, as the
task records keep them."""
from __future__ import annotations

import datetime as dt

REFRESH_SECONDS = 20  # the words change at most once a minute: a refresh this often keeps them true


def relative_time(when: dt.datetime, now: dt.datetime) -> str:
    """"just now", "3 min ago", "today 09:15", "yesterday 14:02", "Mon 14:02", "2025-03-12 14:02"."""
    seconds = (now - when).total_seconds()
    if seconds < 0:
        return exact_time(when)  # a clock set back, or another computer's clock ahead: no guess
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    days = (now.date() - when.date()).days
    clock = when.strftime("%H:%M")
    if days == 0:
        return f"today {clock}"
    if days == 1:
        return f"yesterday {clock}"
    if days < 7:
        return f"{when.strftime('%a')} {clock}"
    return when.strftime("%Y-%m-%d %H:%M")


def exact_time(when: dt.datetime) -> str:
    """"Tue 2026-12-01 00:07:00"."""
    return when.strftime("%a %Y-%m-%d %H:%M:%S")
