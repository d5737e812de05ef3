"""When a task started, in the words a list of recent events reads best."""
import datetime as dt

import pytest

from ecp_desktop.services.core.relative_time import exact_time, relative_time

NOW = dt.datetime(2026, 12, 3, 14, 30, 0)  # a Thursday


@pytest.mark.parametrize("ago, words", [
    (dt.timedelta(seconds=5), "just now"),
    (dt.timedelta(minutes=3, seconds=40), "3 min ago"),
    (dt.timedelta(minutes=59), "59 min ago"),
    (dt.timedelta(hours=5), "today 09:30"),
    (dt.timedelta(hours=24, minutes=28), "yesterday 14:02"),
    (dt.timedelta(days=3), "Mon 14:30"),
    (dt.timedelta(days=40), "2026-10-24 14:30"),
])
def test_a_start_reads_relative_to_now(ago, words):
    assert relative_time(NOW - ago, NOW) == words


def test_a_start_after_now_is_given_exactly_and_the_tooltip_has_the_second():
    later = NOW + dt.timedelta(minutes=2)  # another computer's clock ahead of this one
    assert relative_time(later, NOW) == exact_time(later) == "Thu 2026-12-03 14:32:00"
