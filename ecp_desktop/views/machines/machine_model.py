"""Machines as a table: adapts the inventory's batched events into exact row changes."""
from __future__ import annotations

import bisect
from operator import attrgetter

from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtGui import QColor

from ...services.inventory.live import Inventory, Key
from ...services.hosts.states import STATE_LABELS
from ...services.inventory.machines import MachineInfo
from ..common.table_model import ColumnTableModel, Index
from ..common.filter_proxy import ACCEPT_ROLE, accept_answer
from ..common.icons import last_known_icon, state_icon
from ..common.plain import tooltip
from ..usage.usage_column import UsageColumn
from .address_column import AddressColumn
from ..common.follow import follow

COLUMNS = ("Name", "State", "Host", "vCPUs", "Max memory", "Autostart", "Persistent", "Usage", "Addresses")
NAME, STATE, HOST, VCPUS, MEMORY, AUTOSTART, PERSISTENT, USAGE, ADDRESSES = range(len(COLUMNS))
LIVENESS_WORDS = {True: "up", False: "down"}  # host:up, host:down
MachineRole = Qt.ItemDataRole.UserRole + 1
SortRole = Qt.ItemDataRole.UserRole + 2


CHANGE_FLUSH_MS = 25
# New rows (a listing) going to more places than this are appended and sorted once instead.
MAX_INSERTIONS = 200
_KEY = attrgetter("host_uri", "uuid")  # MachineInfo.key, without a Python call per row


class _Reversed:
    """A descending list seen ascending, for bisect (a view: nothing is copied)."""
    def __init__(self, rows: list) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: int):
        return self._rows[len(self._rows) - 1 - i]


def _runs(rows: list[int]):
    """(first, last) of each run of consecutive numbers in sorted ``rows``."""
    start = prev = None
    for row in rows:
        if start is None:
            start = prev = row
        elif row == prev + 1:
            prev = row
        else:
            yield start, prev
            start = prev = row
    if start is not None:
        yield start, prev


def state_text(m: MachineInfo) -> str:
    """The state as a row shows it: live, or the last known one, marked as such."""
    label = STATE_LABELS.get(m.state, m.state)
    return label if m.live else f"{label} (last known)"


def seen_text(m: MachineInfo) -> str:
    """When last known facts were last true, in local time; "" for a live row."""
    if m.live:
        return ""
    if m.last_seen is None:
        return "never seen in this inventory"
    return "last seen " + m.last_seen.astimezone().strftime("%Y-%m-%d %H:%M %Z")


def away_text(m: MachineInfo, host) -> str:
    """Why a last known row's actions are disabled: its host does not answer."""
    label = host.label if host is not None else m.host_uri
    reason = f": {host.reason}" if host is not None and host.reason else ""
    state = host.state.value if host is not None else "not configured"
    return f"{label} is {state}{reason}. Actions on this machine need its host."


def memory_text(kib: int) -> str:
    mib = kib / 1024
    return f"{mib / 1024:.1f} GiB" if mib >= 1024 else f"{mib:.0f} MiB"


class MachineTableModel(ColumnTableModel):
    COLUMNS = COLUMNS

    def __init__(self, inventory: Inventory, parent=None, *, usage: UsageColumn | None = None,
                 addresses: AddressColumn | None = None) -> None:
        super().__init__(parent)
        self._inventory = inventory
        # The Usage column's values (live CPU % and memory); without a usage service it stays empty.
        self._usage = usage
        self._addresses = addresses  # the Addresses column's (empty without an address watch)
        self.accepts = lambda _m: True  # the filter's test of a row (set by the filter proxy)
        self._rows: list[MachineInfo] = []
        self._row_of: dict[Key, int] = {}
        self._sort: tuple[int, Qt.SortOrder] | None = None  # (column, order) once sorted
        self._sorted_generation = -1  # the usage samples the Usage order was made from
        self._dirty: set[Key] = set()  # changed rows the views have not heard of yet
        self._flush_pending = False
        self._labels = {uri: host.label for uri, host in inventory.hosts.items()}  # as the rows show them
        follow(inventory.machines_added, self, self._on_added)
        follow(inventory.machines_changed, self, self._on_changed)
        follow(inventory.machines_removed, self, self._on_removed)
        follow(inventory.host_changed, self, self._on_host_changed)
        if addresses is not None:
            follow(addresses.watch.changed, self, self._on_addresses)
        self._on_added(list(inventory.machines.values()))

    # ----- adapter --------------------------------------------------------------------
    def _on_added(self, machines: list[MachineInfo]) -> None:
        fresh = [m for m in machines if m.key not in self._row_of]
        if not fresh:
            return
        was_empty = not self._rows
        if self._sort is not None:
            # In order: the first listing needs no re-sort, and a later one (the next host of a
            # fleet) goes where it belongs, without sorting (and filtering) every row again.
            key, reverse = self._key(self._sort[0]), self._sort[1] == Qt.SortOrder.DescendingOrder
            fresh.sort(key=key, reverse=reverse)
            if not was_empty and self._insert_in_order(fresh, key, reverse):
                return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        for offset, machine in enumerate(fresh):
            self._row_of[machine.key] = first + offset
            self._rows.append(machine)
        self.endInsertRows()
        if not was_empty:
            self._resort()

    def _insert_in_order(self, fresh: list[MachineInfo], key, reverse: bool) -> bool:
        """Insert ``fresh`` (sorted) where each belongs, one insertion per run of rows that go
        to the same place; False (nothing done) when they would scatter into too many places:
        then one re-sort is cheaper."""
        rows, n = self._rows, len(self._rows)
        # Found in the rows seen ascending, the new ones taken ascending too: each place is at or
        # after the one before, and most often the same (a host's rows sort together).
        ordered, rising = (_Reversed(rows), fresh[::-1]) if reverse else (rows, fresh)
        find = bisect.bisect_left if reverse else bisect.bisect_right
        spots, spot, spot_key = [], 0, None
        for machine in rising:
            k = key(machine)
            if not spots or not (spot == n or (k <= spot_key if reverse else k < spot_key)):
                spot = find(ordered, k, spot, key=key)
                spot_key = key(ordered[spot]) if spot < n else None
            spots.append(spot)
        places = [n - spot for spot in reversed(spots)] if reverse else spots
        groups: list[tuple[int, list[MachineInfo]]] = []  # (place in rows, machines), places ascending
        for machine, place in zip(fresh, places, strict=True):
            if groups and groups[-1][0] == place:
                groups[-1][1].append(machine)
            elif len(groups) == MAX_INSERTIONS:
                return False
            else:
                groups.append((place, [machine]))
        for place, machines in reversed(groups):  # from the end: the places before stay right
            self.beginInsertRows(QModelIndex(), place, place + len(machines) - 1)
            rows[place:place] = machines
            self.endInsertRows()
        self._reindex(groups[0][0])
        return True

    # ----- sorting --------------------------------------------------------------------
    # Sorting here, with Python key functions, instead of in the proxy: the proxy's sort
    # calls data() once per comparison, about 256,000 Python calls for 10,000 rows.
    def _key(self, column: int):
        hosts = self._inventory.hosts

        def host_label(m: MachineInfo) -> str:
            host = hosts.get(m.host_uri)
            return (host.label if host else m.host_uri).casefold()
        return {
            NAME: lambda m: m.name.casefold(),
            STATE: lambda m: (not m.live, STATE_LABELS.get(m.state, m.state), m.name.casefold()),
            HOST: lambda m: (host_label(m), m.name.casefold()),
            VCPUS: lambda m: (m.vcpus, m.name.casefold()),
            MEMORY: lambda m: (m.memory_kib, m.name.casefold()),
            AUTOSTART: lambda m: (m.autostart, m.name.casefold()),
            PERSISTENT: lambda m: (m.persistent, m.name.casefold()),
            ADDRESSES: self._addresses.sort_key() if self._addresses is not None else lambda m: m.name.casefold(),
        }[column] if column != USAGE else self._usage_key()

    def _usage_key(self):
        # By the CPU % of the last sample when the user sorts; a new sample does not move the rows
        # under the pointer (sorting again takes the newest values).
        return self._usage.sort_key() if self._usage is not None else (lambda m: m.name.casefold())

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return
        generation = self._usage.generation if self._usage is not None else 0
        if column == USAGE and self._sort == (column, order) and self._sorted_generation == generation:
            return  # the same order (QTableView.sortByColumn asks twice: 10,000 rows cost 20 ms a time)
        self._sort, self._sorted_generation = (column, order), generation
        self._resort()

    def _resort(self) -> None:
        if self._sort is None or len(self._rows) < 2:
            return
        column, order = self._sort
        ordered = sorted(self._rows, key=self._key(column), reverse=order == Qt.SortOrder.DescendingOrder)
        if ordered == self._rows:
            return
        self.layoutAboutToBeChanged.emit()
        before = self.persistentIndexList()
        old_keys = [(self._rows[i.row()].key, i.column()) for i in before]
        self._rows = ordered
        self._reindex()
        self.changePersistentIndexList(before, [self.index(self._row_of[k], c) for k, c in old_keys])
        self.layoutChanged.emit()

    def _on_changed(self, machines: list[MachineInfo]) -> None:
        # The rows take the new facts at once; the views hear of them at most every
        # CHANGE_FLUSH_MS, one dataChanged per run of adjacent rows: a bulk action of 1,000
        # machines sends thousands of changes, and each signal costs the filter proxy and
        # the view a fraction of a millisecond. A batch (a host's listing, or the host gone
        # away) is told at once, in as few signals as it has runs of rows.
        for machine in machines:
            row = self._row_of.get(machine.key)
            if row is None:
                continue
            self._rows[row] = machine
            self._dirty.add(machine.key)
        if len(machines) > 1 and self._dirty:
            self._flush_changes()
        elif self._dirty and not self._flush_pending:
            self._flush_pending = True
            QTimer.singleShot(CHANGE_FLUSH_MS, self._flush_changes)

    def _flush_changes(self) -> None:
        self._flush_pending = False  # a timer still pending then finds nothing to tell
        keys, self._dirty = self._dirty, set()
        rows = sorted(self._row_of[k] for k in keys if k in self._row_of)
        last_column = len(COLUMNS) - 1
        for first, last in _runs(rows):
            self.dataChanged.emit(self.index(first, 0), self.index(last, last_column))
        if rows and self._sort is not None and self._sort[0] not in (NAME, USAGE):
            self._resort()  # a state or size change may move the row

    def _on_addresses(self, keys: list[Key]) -> None:
        """New addresses read (rows in view only: a few cells)."""
        for first, last in _runs(sorted(r for r in map(self._row_of.get, keys) if r is not None)):
            self.dataChanged.emit(self.index(first, ADDRESSES), self.index(last, ADDRESSES))

    def _on_removed(self, keys: list[Key]) -> None:
        rows = sorted((self._row_of[k] for k in keys if k in self._row_of), reverse=True)
        if not rows:
            return
        if len(rows) > 100:  # one reset is cheaper than hundreds of removals
            self.beginResetModel()
            gone = set(rows)
            self._rows = [m for i, m in enumerate(self._rows) if i not in gone]
            self._reindex()
            self.endResetModel()
            return  # removing keeps the order
        for row in rows:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self.endRemoveRows()
        self._reindex()

    def _reindex(self, start: int = 0) -> None:
        """Row numbers again, from ``start`` on (the rows before it did not move)."""
        if start == 0:
            self._row_of = dict(zip(map(_KEY, self._rows), range(len(self._rows)), strict=True))
        else:  # in C: a fleet's listing moves up to 100,000 rows
            self._row_of.update(zip(map(_KEY, self._rows[start:]), range(start, len(self._rows)), strict=True))

    def _on_host_changed(self, host) -> None:
        # Liveness comes with machines_changed, a tooltip is read when shown: only a new label
        # changes what rows show (no walk over a fleet's rows for each of its hosts' states).
        if self._labels.get(host.uri) == host.label:
            return
        self._labels[host.uri] = host.label
        rows = sorted(r for r in (self._row_of.get(m.key) for m in self._inventory.machines_of(host.uri))
                      if r is not None)
        for first, last in _runs(rows):
            self.dataChanged.emit(self.index(first, HOST), self.index(last, HOST))
        if rows and self._sort is not None and self._sort[0] == HOST:
            self._resort()

    # ----- model API ------------------------------------------------------------------
    @property
    def inventory(self) -> Inventory:
        return self._inventory

    def machine(self, row: int) -> MachineInfo:
        return self._rows[row]

    def row_of(self, key: Key) -> int | None:
        return self._row_of.get(key)

    def _row_count(self) -> int:
        return len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        m = self._rows[index.row()]
        col = index.column()
        if col == USAGE and role != MachineRole:
            return self._usage.data(m, role) if self._usage is not None else None
        if col == ADDRESSES and role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, SortRole):
            column = self._addresses
            return column.data(m, Qt.ItemDataRole.DisplayRole if role == SortRole else role) if column else None
        if role == Qt.ItemDataRole.DisplayRole:
            if col == NAME:
                return m.name
            if col == STATE:
                return state_text(m)
            if col == HOST:
                host = self._inventory.hosts.get(m.host_uri)
                return host.label if host else m.host_uri
            if col == VCPUS:
                return str(m.vcpus)
            if col == MEMORY:
                return memory_text(m.memory_kib)
            if col == AUTOSTART:
                return "yes" if m.autostart else "no"
            if col == PERSISTENT:
                return "persistent" if m.persistent else "transient"
        elif role == SortRole:
            if col == VCPUS:
                return m.vcpus
            if col == MEMORY:
                return m.memory_kib
            if col == NAME:
                return m.name.casefold()
            return self.data(index, Qt.ItemDataRole.DisplayRole)
        elif role == Qt.ItemDataRole.DecorationRole and col == STATE:
            return state_icon(m.state) if m.live else last_known_icon(m.state)
        elif role == Qt.ItemDataRole.ForegroundRole and not m.live:
            return QColor("#6b7079")
        elif role == Qt.ItemDataRole.TextAlignmentRole and col in (VCPUS, MEMORY):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        elif role == Qt.ItemDataRole.ToolTipRole:
            text = f"{m.name}\nUUID {m.uuid}\n{m.host_uri}" + (f"\n\n{m.reason[:1].upper()}{m.reason[1:]}."
                                                             if m.reason else "")
            if not m.live:
                host = self._inventory.hosts.get(m.host_uri)
                text += (f"\n\nLast known state: {STATE_LABELS.get(m.state, m.state)}, {seen_text(m)}."
                         f"\n{away_text(m, host)}")
            return tooltip(text)
        elif role == MachineRole:
            return m
        elif role == ACCEPT_ROLE:
            return accept_answer(self.accepts(m))
        return None
