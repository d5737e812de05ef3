"""Every item model passes Qt's model tester while rows are added, changed and removed."""
import libvirt

from ecp_desktop.views.hosts.host_model import HostTableModel
from ecp_desktop.views.machines.machine_filter import MachineFilterProxy
from ecp_desktop.views.machines.machine_model import NAME, MachineTableModel
from ecp_desktop.views.tasks.task_model import TaskTreeModel

from ...helpers import LAB_URI, VIRT_MANAGER_URI


def test_machine_model_and_proxy_follow_the_inventory(model_tester, qtbot, run, services):
    inventory = services.inventory
    model = MachineTableModel(inventory)
    proxy = MachineFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(NAME)
    model_tester(model)
    model_tester(proxy)
    for uri in (LAB_URI, VIRT_MANAGER_URI, "test:///default"):
        assert run(inventory.connect_host(inventory.add_host(uri)))
    qtbot.waitUntil(lambda: model.rowCount() == len(inventory.machines) and model.rowCount() > 15, timeout=5000)
    other = libvirt.open("test:///default")
    try:
        other.lookupByName("test").suspend()
        qtbot.waitUntil(lambda: any(model.index(r, 1).data() == "paused" and model.index(r, 0).data() == "test"
                                    for r in range(model.rowCount())), timeout=2000)
        other.lookupByName("test").resume()
    finally:
        other.close()
    proxy.set_filter_text("state:paused")
    assert 0 < proxy.rowCount() < model.rowCount()
    assert all(proxy.index(r, 1).data() == "paused" for r in range(proxy.rowCount()))
    proxy.set_filter_text("")
    proxy.set_hosts({LAB_URI})
    assert sorted(proxy.index(r, NAME).data() for r in range(proxy.rowCount())) == \
        ["db01", "paused01", "stopped01", "web01"]
    run(inventory.remove_host(VIRT_MANAGER_URI))
    assert model.rowCount() == len(inventory.machines)
    model_tester(model)
    model_tester(proxy)


def test_host_model_shows_state_and_facts(model_tester, run, services):
    inventory = services.inventory
    model = HostTableModel(inventory)
    model_tester(model)
    assert run(inventory.connect_host(inventory.add_host(LAB_URI)))
    run(inventory.connect_host(inventory.add_host("qemu+tcp://127.0.0.1:1/system")))
    assert model.rowCount() == 2
    assert model.index(0, 1).data() == "connected" and model.index(0, 2).data() == "TEST 0.0.2"
    assert model.index(1, 1).data().startswith("unreachable, retrying in")
    assert "Connection refused" in model.index(1, 0).data(3)  # tooltip gives the reason
    model_tester(model)


def test_task_model_lists_newest_first(model_tester, qtbot, run, services):
    inventory = services.inventory
    model = TaskTreeModel(services.tasks)
    model_tester(model)
    assert run(inventory.connect_host(inventory.add_host(LAB_URI)))
    qtbot.waitUntil(lambda: len(inventory.machines) == 4, timeout=5000)
    web, stopped = (next(m for m in inventory.machines.values() if m.name == n) for n in ("web01", "stopped01"))
    run(services.lifecycle.apply("start", stopped))
    run(services.lifecycle.apply("start", web))
    qtbot.waitUntil(lambda: model.rowCount() == 2)  # new rows are shown together, within 40 ms
    assert [model.index(r, 0).data() for r in range(2)] == ["Start web01", "Start stopped01"]
    assert model.index(0, 1).data() == "failed" and "already running" in model.index(0, 6).data()
    assert model.index(1, 1).data() == "succeeded" and model.index(1, 3).data() == "100 %"
    model_tester(model)


def test_sorting_by_any_column_keeps_the_selection_and_follows_state_changes(model_tester, qtbot, run, services):
    from PySide6.QtCore import QItemSelectionModel, Qt
    from ecp_desktop.views.machines.machine_model import STATE, VCPUS
    inventory = services.inventory
    model = MachineTableModel(inventory)
    proxy = MachineFilterProxy()
    proxy.setSourceModel(model)
    model_tester(proxy)
    host = inventory.add_host(LAB_URI)
    assert run(inventory.connect_host(host))
    qtbot.waitUntil(lambda: proxy.rowCount() == 4)

    def column(col):
        return [proxy.index(r, col).data() for r in range(proxy.rowCount())]

    proxy.sort(VCPUS, Qt.SortOrder.DescendingOrder)
    vcpus = [int(v) for v in column(VCPUS)]
    assert vcpus == sorted(vcpus, reverse=True)
    proxy.sort(STATE)
    assert column(STATE) == sorted(column(STATE))
    selection = QItemSelectionModel(proxy)
    row = column(0).index("stopped01")
    selection.select(proxy.index(row, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect)
    stopped = next(m for m in inventory.machines_of(LAB_URI) if m.name == "stopped01")
    run(services.lifecycle.apply("start", stopped))
    qtbot.waitUntil(lambda: column(STATE) == sorted(column(STATE)) and
                    proxy.index(column(0).index("stopped01"), STATE).data() == "running", timeout=3000)
    (selected,) = selection.selectedIndexes()
    assert selected.data() == "stopped01", "the selection follows the row when it moves"
    run(services.lifecycle.apply("force_off", inventory.machines[stopped.key]))


def test_a_painted_cell_is_one_call_into_the_model_through_the_filter(qtbot, run, services):
    """Each call from Qt into Python waits for the interpreter lock that worker threads hold:
    the view asks each cell's roles in one call, which the filter proxy hands on whole (Qt's
    own proxy would ask the model once per role)."""
    from PySide6.QtWidgets import QTableView

    inventory = services.inventory
    model = MachineTableModel(inventory)
    proxy = MachineFilterProxy()
    proxy.setSourceModel(model)
    assert run(inventory.connect_host(inventory.add_host(LAB_URI)))
    qtbot.waitUntil(lambda: model.rowCount() == 4, timeout=5000)
    calls, inside = {"multi": 0, "alone": 0}, [False]
    data, multi = model.data, model.multiData

    def counted_data(*args):
        calls["alone"] += not inside[0]
        return data(*args)

    def counted_multi(*args):
        calls["multi"] += 1
        inside[0] = True
        try:
            return multi(*args)
        finally:
            inside[0] = False
    model.data, model.multiData = counted_data, counted_multi
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(proxy)
    view.resize(900, 300)
    image = view.grab()
    assert not image.isNull()
    assert calls["multi"] >= 4 * 5 and calls["alone"] == 0
    assert {proxy.index(r, NAME).data() for r in range(4)} == {"db01", "paused01", "stopped01", "web01"}
