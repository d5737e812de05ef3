"""Names and name patterns from anyone (a user, another operator, a template's own name):
parsed and checked, never str.format, never a path outside its folder."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecp_desktop.services.actions.templates import PlanError, clone_volume_name, expand_names
from ecp_desktop.services.libvirt_xml.domain import Disk
from ecp_desktop.services.core.names import (BadName, check_file_name, file_name_part, name_problem, parse_pattern,
                                             pattern_from_name)

from ...helpers import TEMPLATE_URI


def test_the_pattern_language_numbers_and_pads():
    assert expand_names("web-{n}", 3) == ["web-1", "web-2", "web-3"]
    assert expand_names("web-{n:03}", 2) == ["web-001", "web-002"]
    assert expand_names("{{web}}-{n:3}", 1) == ["{web}-001"]


@pytest.mark.parametrize("pattern, words", [
    ("{n.__class__.__mro__}", "is not a number field"),   # was: a machine named after Python internals
    ("{n.foo}", "is not a number field"),                 # was: a traceback
    ("{n!r}", "is not a number field"),
    ("{0}", "is not a number field"),
    ("web-{n", "is not closed"),
    ("web-}", "a lone '}'"),
    ("web", "must contain {n}"),
    ("{n:010}", "is not a number field"),                 # more than 9 digits
])
def test_a_bad_pattern_is_refused_in_words(pattern, words):
    with pytest.raises(PlanError, match=words):
        expand_names(pattern, 2)


def test_a_huge_width_is_refused_at_once():
    started = time.monotonic()
    with pytest.raises(PlanError):
        expand_names("a{n:>1000000000}", 1)   # was: gigabytes of memory
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("name", [
    " web", "-web", "web ", "we\x7fb", "web\u202e1-gpj", "web\u20281", "we\nb", "we\tb", "a/b", "",
    "x" * 201, "web\u200f",
])
def test_names_that_read_as_something_else_are_refused(name):
    assert name_problem(name)


@pytest.mark.parametrize("pattern", ["-{n}", " web-{n}", "web-{n} ", "web\u202e{n}-gpj", "we\x7f{n}", "a/{n}",
                                     "web\u2028{n}", "x" * 200 + "{n}"])
def test_a_pattern_that_makes_such_names_is_refused(pattern):
    with pytest.raises(PlanError, match="cannot be used"):
        expand_names(pattern, 1)


def test_a_template_named_like_a_pattern_gives_literal_names():
    name = "{n.__class__.__mro__}"
    assert expand_names(pattern_from_name(name), 2) == [f"{name}-1", f"{name}-2"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_pattern_is_parsed_or_refused_in_words(pattern):
    try:
        parsed = parse_pattern(pattern)
    except BadName as exc:
        assert str(exc)
        return
    name = parsed.name(7)
    assert len(name) <= len(pattern) + 9  # no field can grow a name past its width


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_name_from_a_template_is_a_literal_pattern(name):
    assert parse_pattern(pattern_from_name(name)).name(1) == f"{name}-1"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_becomes_a_safe_file_name(text):
    safe = file_name_part(text)
    assert check_file_name(safe) == safe and "/" not in safe and ".." not in safe


def test_volume_names_never_leave_their_pool_folder():
    disk = Disk(target="vd../../x", volume="tpl-root.qcow2")
    name = clone_volume_name("web-1", disk)
    assert check_file_name(name) == name and ".." not in name and "/" not in name
    assert clone_volume_name("Ünïcode 名前", Disk(target="vda", volume="t.img")) == "_n_code___-vda.img"
    assert clone_volume_name("web.", Disk(target="vd.", volume="t.qcow2")) == "web-vd.qcow2"


def test_the_command_line_refuses_a_bad_pattern_with_exit_2(db_url):
    done = subprocess.run([sys.executable, "-m", "ecp_desktop", "--database", db_url, "--connect", TEMPLATE_URI,
                           "clone-template", "tpl", "--count", "1", "--name-pattern", "{n.foo}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "is not a number field" in done.stderr and "Traceback" not in done.stderr
