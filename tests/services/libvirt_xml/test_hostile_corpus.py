"""Property-based tests (hypothesis) over what another operator or host can hand us: domain
XML and task rows. Each input gets a clear outcome (parsed, or refused in words), never a
crash of the reader."""
from __future__ import annotations

import datetime as dt
import itertools
import json
import xml.etree.ElementTree as ET

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ecp_desktop.services.core.errors import HypervisorError
from ecp_desktop.services.libvirt_xml.domain import Disk, Domain, parse_domain
from ecp_desktop.services.tasks.records import build_trees, record_from_row

texts = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)  # what XML 1.0 can carry
attrs = st.dictionaries(st.sampled_from(["type", "device", "dev", "bus", "file", "pool", "volume", "protocol",
                                         "name", "unit", "arch", "machine", "mode", "port", "listen",
                                         "address", "network", "current"]), texts, max_size=4)


@st.composite
def domain_documents(draw):
    """Domain XML of any shape libvirt's schema allows and many it does not."""
    root = ET.Element("domain", draw(attrs))
    for tag in draw(st.lists(st.sampled_from(["name", "uuid", "title", "memory", "currentMemory", "vcpu",
                                              "description"]), max_size=5)):
        ET.SubElement(root, tag, draw(attrs)).text = draw(texts)
    os_ = ET.SubElement(root, "os")
    ET.SubElement(os_, "type", draw(attrs)).text = draw(texts)
    devices = ET.SubElement(root, "devices")
    for tag in draw(st.lists(st.sampled_from(["disk", "interface", "graphics"]), max_size=6)):
        device = ET.SubElement(devices, tag, draw(attrs))
        for child in draw(st.lists(st.sampled_from(["source", "target", "driver", "mac", "model", "readonly",
                                                    "listen"]), max_size=4)):
            ET.SubElement(device, child, draw(attrs))
    return ET.tostring(root, encoding="unicode")


@settings(max_examples=300, deadline=None)
@given(domain_documents())
# a port in a digit int() refuses ("¹")
@example('<domain><os><type /></os><devices><graphics type="" port="\u00b9" /></devices></domain>')
def test_any_domain_xml_is_read_without_a_crash(xml):
    parsed = parse_domain(xml)
    assert parsed.xml == xml
    for disk in parsed.disks:
        assert isinstance(disk.source, str) and isinstance(disk.needs_copy, bool)
    assert all(isinstance(g.port, int) for g in parsed.graphics)


@settings(max_examples=200, deadline=None)
@given(texts)
def test_text_written_through_the_vocabulary_comes_back_exactly(text):
    text = "".join(ch for ch in text if ch.isprintable())  # XML 1.0 cannot carry control characters
    domain = Domain(name=text, title=text)
    domain.disks.append(Disk(source_file=text, target="vda"))
    again = Domain.from_xml(domain.to_xml())
    assert (again.name, again.title, again.disks[0].source_file) == (text, text, text)
    assert len(again.disks) == 1 and not again.uuid


values = st.one_of(st.none(), st.integers(), st.text(max_size=20), st.booleans(), st.floats(allow_nan=True),
                   st.just(dt.datetime(2026, 1, 1)))


@st.composite
def task_rows(draw):
    """Task rows as another version or operator could leave them: any column any type."""
    row = {name: draw(values) for name in ("kind", "title", "host_uri", "target_uuid", "target_name", "status",
                                            "progress", "started_at", "finished_at", "error_message", "summary",
                                            "op", "reason", "attempts", "owner", "concurrent")}
    row["params"] = draw(st.one_of(st.none(), texts, st.just(json.dumps({"uuid": "x"})), st.just("[1, 2]")))
    row["error_json"] = draw(st.one_of(st.none(), texts, st.just('{"message": "m"}'), st.just('{"code": "x"}'),
                                       st.just("[]"), st.just('{"when": "yesterday"}')))
    row["id"], row["parent_id"], row["compensates_id"] = draw(st.integers(1, 5)), None, None
    return row


@settings(max_examples=300, deadline=None)
@given(task_rows())
def test_any_task_row_becomes_a_record(row):
    record = record_from_row(row, 1)
    assert isinstance(record.params, dict) and isinstance(record.title, str)
    assert record.role in ("regular", "rollback")
    assert isinstance(record.outcome, str)
    if record.error is not None:
        assert isinstance(record.error, HypervisorError) and isinstance(record.error.one_line(), str)


@settings(max_examples=100, deadline=None)
@given(st.lists(task_rows(), max_size=6))
def test_any_rows_become_trees(rows):
    for index, row in enumerate(rows):
        row["id"] = index + 1
        row["parent_id"] = index if index and index % 2 else None
    roots, records = build_trees(rows, itertools.count(1))
    assert len(records) == len(rows) and all(r.parent is None for r in roots)


passwords = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs")), min_size=4, max_size=20).filter(
    lambda p: "@" not in p or p.count("@") == 1)


@settings(max_examples=300, deadline=None)
@given(passwords, st.sampled_from(["alice", "bob.smith"]), st.sampled_from(["db.example", "127.0.0.1:5432"]))
def test_no_password_survives_in_a_database_url_or_message(password, user, host):
    """Whatever characters a password has, the URL shown and a driver's message about it
    never contain it (as written or percent-decoded)."""
    from urllib.parse import quote

    from ecp_desktop.models.db import scrub, without_password
    for written in (password, quote(password, safe="")):
        url = f"postgresql://{user}:{written}@{host}/inventory"
        assert written not in without_password(url).split("@")[0].split("//", 1)[1].removeprefix(user)
        message = f'connection to "{url}" failed: password authentication failed ({password})'
        assert password not in scrub(message, url) and written not in scrub(message, url)
