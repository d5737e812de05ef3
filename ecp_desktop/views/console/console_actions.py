"""Machine → Open Console and Enter on a machine: show the machine the way it can be shown.

Enter on a running machine opens its graphical console when it has a display, else the
details' Console tab when it has a serial console, else the details (as before)."""
from __future__ import annotations

from ...services.console.viewer import ViewerSessions
from ...services.core.aio import spawn
from ...services.hosts.states import ACTIVE_STATES
from .console_tab import open_graphical_console


def viewers(window) -> ViewerSessions:
    """One viewer per machine for this window (closed with it)."""
    if getattr(window, "viewers", None) is None:
        window.viewers = ViewerSessions()
    return window.viewers


def open_console(window) -> None:
    selected = window.selected_machines()
    if len(selected) != 1:
        window.statusBar().showMessage("Open Console: select one machine", 5000)
        return
    machine = selected[0]
    spawn(open_graphical_console(window, viewers(window), window.inventory.hosts.get(machine.host_uri), machine,
                                 lambda text: window.statusBar().showMessage(text, 5000), window.show_errors))


def activate_machine(window) -> None:
    selected = window.selected_machines()
    machine = selected[0] if len(selected) == 1 else None
    details = window.details.details  # the selected machine's XML facts, once read
    if machine is None or not machine.live or machine.state not in ACTIVE_STATES or details is None:
        window.focus_details()
    elif details.displays:
        open_console(window)
    elif details.text_console is not None:
        window.console_dock.show()
        window.console_dock.raise_()
        window.details.console.setFocus()
    else:
        window.focus_details()


def can_open_console(selected) -> bool:
    return len(selected) == 1 and selected[0].live and selected[0].state in ACTIVE_STATES
