"""A fleet of hosts (issue 19): what concerns one host touches its own rows only, and a host's
listing goes into the sorted machine table where it belongs (bench/fleet.py measures it)."""
import pytest
from PySide6.QtCore import Qt

from ecp_desktop.views.machines import machine_model

from ecp_desktop.services.inventory.machines import MachineIndex, MachineInfo
from ecp_desktop.testing.hostgen import write_host
from ecp_desktop.views.machines.machine_filter import MachineFilterProxy
from ecp_desktop.views.machines.machine_model import HOST, NAME, MachineTableModel


def _machine(uri: str, uuid: str, name: str = "", state: str = "running") -> MachineInfo:
    return MachineInfo(host_uri=uri, uuid=uuid, name=name or uuid, state=state)


def test_the_index_keeps_every_row_and_each_hosts_rows_the_same():
    index = MachineIndex()
    a1, a2, b1 = _machine("a", "1"), _machine("a", "2"), _machine("b", "1")
    for m in (a1, a2, b1):
        index.put(m)
    assert set(index.all) == {("a", "1"), ("a", "2"), ("b", "1")}
    assert index.of_host("a") == {"1": a1, "2": a2} and index.of_host("b") == {"1": b1}
    newer = _machine("a", "1", state="shutoff")
    index.put(newer)  # the same key again: replaced, not added
    assert index.all[("a", "1")] is newer and index.of_host("a")["1"] is newer and len(index.all) == 3
    assert index.drop(("b", "1")) is b1 and index.of_host("b") == {} and ("b", "1") not in index.all
    assert index.drop(("b", "1")) is None and index.drop(("c", "9")) is None
    assert index.of_host("nowhere") == {}


def _hosts(tmp_path, count: int, per_host: int, *, interleaved: bool) -> list[str]:
    """Test-driver hosts; ``interleaved``: the same names on every host (they sort together)."""
    return [write_host(tmp_path / f"h{i}.xml", per_host, seed=i + 1, prefix="" if interleaved else f"h{i}-")
            for i in range(count)]


def _check_rows(model: MachineTableModel, inventory, column: int, order: Qt.SortOrder) -> None:
    rows = [model.machine(r) for r in range(model.rowCount())]
    assert len({m.key for m in rows}) == len(rows) == len(inventory.machines)
    assert all(model.row_of(m.key) == r for r, m in enumerate(rows))
    key = model._key(column)
    assert [key(m) for m in rows] == sorted((key(m) for m in rows), reverse=order == Qt.SortOrder.DescendingOrder)
    for uri in inventory.hosts:
        assert {m.uuid for m in inventory.machines_of(uri)} == {uuid for u, uuid in inventory.machines if u == uri}


@pytest.mark.parametrize("insertions", [200, 2])  # 2: the same names scatter, one re-sort instead
def test_listings_of_many_hosts_go_where_they_belong_and_a_host_touches_its_own_rows(
        model_tester, qtbot, run, services, tmp_path, monkeypatch, insertions):
    monkeypatch.setattr(machine_model, "MAX_INSERTIONS", insertions)
    inventory = services.inventory
    model = MachineTableModel(inventory)
    proxy = MachineFilterProxy()
    proxy.setSourceModel(model)
    model_tester(proxy)
    uris = _hosts(tmp_path, 3, 40, interleaved=False)
    (tmp_path / "same").mkdir()
    uris += _hosts(tmp_path / "same", 3, 30, interleaved=True)
    for column, order in ((NAME, Qt.SortOrder.DescendingOrder), (HOST, Qt.SortOrder.AscendingOrder),
                          (NAME, Qt.SortOrder.AscendingOrder)):
        proxy.sort(column, order)
        for uri in uris:
            if uri not in inventory.hosts:
                assert run(inventory.connect_host(inventory.add_host(uri)))
        qtbot.waitUntil(lambda: model.rowCount() == 3 * 40 + 3 * 30, timeout=10000)
        _check_rows(model, inventory, column, order)
        # One host goes away and comes back: its rows turn last known and live again, no others.
        host = inventory.hosts[uris[1]]
        host.lost("gone for the test")
        assert not any(m.live for m in inventory.machines_of(host.uri))
        assert all(m.live for m in inventory.machines.values() if m.host_uri != host.uri)
        assert run(host.connect())
        qtbot.waitUntil(lambda: all(m.live for m in inventory.machines.values()), timeout=10000)
        _check_rows(model, inventory, column, order)
        # Removed and added again: its rows leave and come back in order, once each.
        run(inventory.remove_host(uris[4]))
        assert inventory.machines_of(uris[4]) == [] and model.rowCount() == 3 * 40 + 2 * 30
        _check_rows(model, inventory, column, order)
        assert run(inventory.connect_host(inventory.add_host(uris[4])))
        qtbot.waitUntil(lambda: model.rowCount() == 3 * 40 + 3 * 30, timeout=10000)
        _check_rows(model, inventory, column, order)
    model_tester(model)
    model_tester(proxy)


def test_a_hosts_state_changes_no_rows_and_refilters_nothing(qtbot, run, services, tmp_path):
    inventory = services.inventory
    model = MachineTableModel(inventory)
    proxy = MachineFilterProxy()
    proxy.setSourceModel(model)
    uri = _hosts(tmp_path, 1, 20, interleaved=False)[0]
    host = inventory.add_host(uri)
    assert run(inventory.connect_host(host))
    qtbot.waitUntil(lambda: model.rowCount() == 20, timeout=5000)
    changes, filtered = [], []
    model.dataChanged.connect(lambda *a: changes.append(a))
    proxy.layoutChanged.connect(lambda *a: filtered.append(a))
    inventory.host_changed.emit(host)  # e.g. connecting, connected: the rows show none of it
    proxy.set_hosts(set())  # the same selection again: nothing to filter again
    assert changes == [] and filtered == []
    host.label = "renamed"
    inventory.host_changed.emit(host)
    assert changes and all(c[0].column() == HOST == c[1].column() for c in changes)
    assert {model.index(r, HOST).data() for r in range(model.rowCount())} == {"renamed"}


def test_rows_arrive_without_a_python_filter_call_until_a_filter_is_set(qtbot, run, services, tmp_path):
    """Each call from Qt into Python waits for the interpreter lock that listing threads hold:
    with no filter set, a host's rows reach the view with no filter call per row."""
    inventory = services.inventory
    model = MachineTableModel(inventory)
    proxy = MachineFilterProxy()
    proxy.setSourceModel(model)
    asked = []
    accepts = model.accepts
    model.accepts = lambda m: asked.append(m.name) or accepts(m)
    first, second = _hosts(tmp_path, 2, 30, interleaved=False)
    assert run(inventory.connect_host(inventory.add_host(first)))
    qtbot.waitUntil(lambda: proxy.rowCount() == 30, timeout=5000)
    assert asked == []
    proxy.set_filter_text("name:1")  # now every row is asked, and new rows too
    kept = {m.name for m in inventory.machines.values() if "1" in m.name}
    assert {proxy.index(r, 0).data() for r in range(proxy.rowCount())} == kept and len(asked) == 30
    assert run(inventory.connect_host(inventory.add_host(second)))
    qtbot.waitUntil(lambda: model.rowCount() == 60, timeout=5000)
    kept = {m.name for m in inventory.machines.values() if "1" in m.name}
    assert {proxy.index(r, 0).data() for r in range(proxy.rowCount())} == kept
    proxy.set_filter_text("")  # cleared: every row again, and no more asking
    asked.clear()
    assert proxy.rowCount() == 60
    run(inventory.remove_host(second))
    assert proxy.rowCount() == 30 and asked == []
