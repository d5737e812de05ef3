"""The machines table's filter: text terms and the hosts selected in the hosts pane."""
from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt

from .machine_model import LIVENESS_WORDS, SortRole, MachineTableModel, state_text
from ..common.table_model import Index


class MachineFilterProxy(QSortFilterProxyModel):
    """Filters by text (any of name, state, host; or ``name:``/``state:``/``host:`` terms)
    and by the hosts selected in the hosts pane (none selected: all hosts).

    ``host:down`` keeps the machines whose host does not answer (last known rows) and
    ``host:up`` the live ones; ``state:known`` matches last known states too."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._terms: list[tuple[str, str]] = []
        self._hosts: frozenset[str] = frozenset()
        self._host_text: dict[str, str] = {}
        self.setSortRole(SortRole)
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setDynamicSortFilter(False)  # on while a filter is set: see _filter_changed

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """The source model sorts (with key functions); this proxy keeps its order and filters."""
        self.sourceModel().sort(column, order)

    def set_filter_text(self, text: str) -> None:
        terms = []
        for word in text.casefold().split():
            field, sep, value = word.partition(":")
            terms.append((field, value) if sep and field in ("name", "state", "host") else ("", word))
        self.beginFilterChange()
        self._terms = terms
        self._host_text = self._host_texts()
        self._filter_changed()

    def _host_texts(self) -> dict[str, str]:
        """Per host, the text a term matches (label and URI), computed once per keystroke
        rather than once per row: at 10,000 rows that was most of a keystroke's time."""
        model = self.sourceModel()
        hosts = model.inventory.hosts if model is not None else {}
        return {uri: f"{h.label} {uri}".casefold() for uri, h in hosts.items()}

    def set_hosts(self, uris: set[str]) -> None:
        if frozenset(uris) == self._hosts:
            return  # e.g. a host's state changed: filtering 100,000 rows again would change nothing
        self.beginFilterChange()
        self._hosts = frozenset(uris)
        self._filter_changed()

    def _filter_changed(self) -> None:
        # Changed rows are filtered again only while a filter is set: with none, every row stays
        # and a change of 100,000 rows (a fleet's hosts lost at once) costs no filter calls.
        self.setDynamicSortFilter(bool(self._terms or self._hosts))
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if not self._hosts and not self._terms:
            return True  # no filter: called once per row when 10,000 rows arrive, keep it short
        model: MachineTableModel = self.sourceModel()  # type: ignore[assignment]
        m = model.machine(source_row)
        if self._hosts and m.host_uri not in self._hosts:
            return False
        if not self._terms:
            return True
        state = state_text(m)
        name = m.name.casefold()
        host = self._host_text.get(m.host_uri) or m.host_uri.casefold()
        for field, value in self._terms:
            if field == "name" and value not in name:
                return False
            if field == "state" and not (value in state or value in m.state):
                return False
            if field == "host" and not (value in host or value == LIVENESS_WORDS[m.live]):
                return False
            if not field and not (value in name or value in state or value in m.state or value in host):
                return False
        return True
