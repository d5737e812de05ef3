"""Reading and driving the main window's machine list as a user would."""
from PySide6.QtCore import QItemSelectionModel


def names_shown(win):
    return first_column(win.machine_proxy)


def first_column(model) -> list[str]:
    """The first column of ``model`` top to bottom: the names a user reads in a list."""
    return [model.index(r, 0).data() for r in range(model.rowCount())]


def select_rows(win, rows):
    view, proxy = win.machines_view, win.machine_proxy
    view.clearSelection()
    for r in rows:
        view.selectionModel().select(proxy.index(r, 0), QItemSelectionModel.SelectionFlag.Select
                                     | QItemSelectionModel.SelectionFlag.Rows)


def select_machine(win, machine):
    """Select the one row of ``machine`` (a MachineInfo) in the machines view."""
    from ecp_desktop.views.machines.machine_model import MachineRole
    proxy = win.machine_proxy
    row = next(r for r in range(proxy.rowCount()) if proxy.index(r, 0).data(MachineRole).key == machine.key)
    select_rows(win, [row])
