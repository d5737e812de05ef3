"""The machines table's filter: text terms and the hosts selected in the hosts pane."""
from __future__ import annotations

from PySide6.QtCore import Qt

from .machine_model import LIVENESS_WORDS, SortRole, MachineTableModel, state_text
from ...services.inventory.machines import MachineInfo
from ..common.filter_proxy import PredicateFilterProxy


class MachineFilter:
    """Which rows a filter keeps: text terms (any of name, state, host; or ``name:``/
    ``state:``/``host:`` terms) and the hosts selected in the hosts pane (none: all hosts).

    ``host:down`` keeps the machines whose host does not answer (last known rows) and
    ``host:up`` the live ones; ``state:known`` matches last known states too."""

    def __init__(self) -> None:
        self.terms: list[tuple[str, str]] = []
        self.hosts: frozenset[str] = frozenset()
        self.host_text: dict[str, str] = {}  # per host, its label and URI as a term matches them

    @property
    def active(self) -> bool:
        return bool(self.terms or self.hosts)

    def set_text(self, text: str, hosts: dict) -> None:
        terms = []
        for word in text.casefold().split():
            field, sep, value = word.partition(":")
            terms.append((field, value) if sep and field in ("name", "state", "host") else ("", word))
        self.terms = terms
        # Once per keystroke rather than once per row: at 10,000 rows that was most of a keystroke.
        self.host_text = {uri: f"{h.label} {uri}".casefold() for uri, h in hosts.items()}

    def accepts(self, m: MachineInfo) -> bool:
        if self.hosts and m.host_uri not in self.hosts:
            return False
        if not self.terms:
            return True
        state = state_text(m)
        name = m.name.casefold()
        host = self.host_text.get(m.host_uri) or m.host_uri.casefold()
        for field, value in self.terms:
            if field == "name" and value not in name:
                return False
            if field == "state" and not (value in state or value in m.state):
                return False
            if field == "host" and not (value in host or value == LIVENESS_WORDS[m.live]):
                return False
            if not field and not (value in name or value in state or value in m.state or value in host):
                return False
        return True


class MachineFilterProxy(PredicateFilterProxy):
    """Keeps the rows ``MachineFilter`` accepts; the source model sorts."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.filter = MachineFilter()
        self.setSortRole(SortRole)
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

    @property
    def active(self) -> bool:
        return self.filter.active

    def setSourceModel(self, model: MachineTableModel) -> None:  # noqa: N802  (Qt's name)
        model.accepts = self.filter.accepts
        super().setSourceModel(model)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """The source model sorts (with key functions); this proxy keeps its order and filters."""
        self.sourceModel().sort(column, order)

    def set_filter_text(self, text: str) -> None:
        model = self.sourceModel()
        hosts = model.inventory.hosts if model is not None else {}
        self.change(lambda: self.filter.set_text(text, hosts), bool(text.split() or self.filter.hosts))

    def set_hosts(self, uris: set[str]) -> None:
        if frozenset(uris) == self.filter.hosts:
            return  # e.g. a host's state changed: filtering 100,000 rows again would change nothing
        self.change(lambda: setattr(self.filter, "hosts", frozenset(uris)), bool(self.filter.terms or uris))
