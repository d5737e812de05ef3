"""Hosts as a table: state with reason, hypervisor, versions, CPU and memory."""
from __future__ import annotations

import time

from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtGui import QColor

from ...services.hosts.connection import HostConnection, HostState

from ...services.hosts.facts import version_text
from ...services.inventory.live import Inventory
from ...services.maintenance.watch import MarkWatch
from ...services.usage.service import UsageService
from ..common.table_model import ColumnTableModel, Index
from ..common.icons import state_icon
from ..common.plain import tooltip
from ..usage.usage_column import host_usage_text
from ..common.follow import follow

COLUMNS = ("Host", "State", "Hypervisor", "libvirt", "CPUs", "Memory", "Machines", "In use")
HOST, STATE, HYPERVISOR, LIBVIRT, CPUS, MEMORY, MACHINES, IN_USE = range(len(COLUMNS))
SAMPLED_FLUSH_MS = 100  # the In use cells of hosts sampled together change together
HostRole = Qt.ItemDataRole.UserRole + 1


def host_state_text(host: HostConnection) -> str:
    if host.state is HostState.DISCONNECTED and host.next_attempt_at is not None:
        wait = max(0, round(host.next_attempt_at - time.monotonic()))
        if host.watching_daemon:  # tried the moment its local daemon accepts again
            return f"unreachable, retrying when the daemon is back (at the latest in {wait} s)"
        return f"unreachable, retrying in {wait} s"
    if host.state is HostState.DISCONNECTED and host.reason:
        return "disconnected"
    return host.state.value


class HostTableModel(ColumnTableModel):
    COLUMNS = COLUMNS

    def __init__(self, inventory: Inventory, parent=None, *, usage: UsageService | None = None,
                 marks: MarkWatch | None = None) -> None:
        super().__init__(parent)
        self._inventory = inventory
        self._marks = marks  # hosts in maintenance: said in the state, greyed
        if marks is not None:
            follow(marks.changed, self, self._on_marks)
        # The In use column: each connected host's own CPU and memory, from its last sample
        # (two calls per host per interval while the window is seen: no machine stats).
        self._usage = usage
        self._sampled: set[str] = set()  # hosts sampled since the last repaint of their cells
        self._sampled_flush = QTimer(self)
        self._sampled_flush.setSingleShot(True)
        self._sampled_flush.setInterval(SAMPLED_FLUSH_MS)
        self._sampled_flush.timeout.connect(self._flush_sampled)
        if usage is not None:
            follow(usage.sampled, self, self._on_sampled)
        self._hosts: list[HostConnection] = list(inventory.hosts.values())
        self._in_view: set[str] | None = None  # the rows a view shows (sample_rows_in_view); None: all
        self._counts: dict[str, int] = {}
        follow(inventory.host_added, self, self._on_added)
        follow(inventory.host_changed, self, self._on_changed)
        follow(inventory.host_removed, self, self._on_removed)
        for uri, _uuid in inventory.machines:
            self._counts[uri] = self._counts.get(uri, 0) + 1
        follow(inventory.machines_added, self, lambda ms: self._count([m.host_uri for m in ms], +1))
        follow(inventory.machines_removed, self, lambda keys: self._count([uri for uri, _ in keys], -1))
        self._watch_hosts()

    def _on_added(self, host: HostConnection) -> None:
        row = len(self._hosts)
        self.beginInsertRows(QModelIndex(), row, row)
        self._hosts.append(host)
        self.endInsertRows()
        self._watch_hosts()

    def _on_marks(self, _marks) -> None:
        if self._hosts:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._hosts) - 1, len(COLUMNS) - 1))

    def _maintenance(self, host: HostConnection) -> str:
        return self._marks.words(host.uri) if self._marks is not None else ""

    def sample_rows_in_view(self, hosts: list[HostConnection]) -> None:
        """Only these rows' In use is sampled from now on (a view's rows on screen: a fleet's
        other hosts cost nothing while the window is idle)."""
        self._in_view = {h.uri for h in hosts}
        self._watch_hosts()

    def _watch_hosts(self) -> None:
        if self._usage is not None:
            uris = {h.uri for h in self._hosts}
            self._usage.watch_hosts(self, uris if self._in_view is None else uris & self._in_view)

    def _on_sampled(self, uri: str) -> None:
        # The samples of the hosts in view arrive one by one within a few turns: their cells
        # change together, one repaint (a repaint per host was most of the idle window's CPU).
        self._sampled.add(uri)
        if not self._sampled_flush.isActive():
            self._sampled_flush.start()

    def _flush_sampled(self) -> None:
        uris, self._sampled = self._sampled, set()
        rows = [row for row, host in enumerate(self._hosts) if host.uri in uris]
        if rows:
            self.dataChanged.emit(self.index(min(rows), IN_USE), self.index(max(rows), IN_USE))

    def _on_changed(self, host: HostConnection) -> None:
        if host in self._hosts:
            row = self._hosts.index(host)
            self.emit_row_changed(row)

    def _on_removed(self, host: HostConnection) -> None:
        if host in self._hosts:
            row = self._hosts.index(host)
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._hosts[row]
            self.endRemoveRows()
            self._watch_hosts()

    def _count(self, uris: list[str], step: int) -> None:
        for uri in uris:
            self._counts[uri] = self._counts.get(uri, 0) + step
        touched = set(uris)
        for row, host in enumerate(self._hosts):
            if host.uri in touched:
                self.emit_row_changed(row, MACHINES, MACHINES)

    def refresh_countdowns(self) -> None:
        for row, host in enumerate(self._hosts):
            if host.next_attempt_at is not None:
                self.emit_row_changed(row, STATE, STATE)

    def host(self, row: int) -> HostConnection:
        return self._hosts[row]

    def _row_count(self) -> int:
        return len(self._hosts)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        host = self._hosts[index.row()]
        col, facts = index.column(), host.facts
        if role == Qt.ItemDataRole.DisplayRole:
            if col == HOST:
                return host.label
            if col == STATE:
                return host_state_text(host) + (" · in maintenance" if self._maintenance(host) else "")
            if not facts.driver_type:
                return "" if col != MACHINES else str(self._counts.get(host.uri, 0))
            if col == IN_USE:
                return host_usage_text(self._usage, host.uri) if self._usage is not None and host.connected else ""
            if col == HYPERVISOR:
                return f"{facts.driver_type} {version_text(facts.hypervisor_version)}".strip()
            if col == LIBVIRT:
                return version_text(facts.libvirt_version)
            if col == CPUS:
                return f"{facts.cpus} × {facts.cpu_model}" if facts.cpu_model else str(facts.cpus)
            if col == MEMORY:
                return f"{facts.memory_mib / 1024:.1f} GiB"
            if col == MACHINES:
                return str(self._counts.get(host.uri, 0))
        elif role == Qt.ItemDataRole.DecorationRole and col == HOST:
            return state_icon(host.state.value)
        elif role == Qt.ItemDataRole.ForegroundRole and self._maintenance(host):
            return QColor("#6b7079")
        elif role == Qt.ItemDataRole.ToolTipRole:
            lines = [host.uri, f"State: {host.state.value}"]
            if self._maintenance(host):
                lines.append(f"In maintenance: {self._maintenance(host)}. Restore starts nothing here, and it is "
                             "no destination for migrations or new machines.")
            if host.reason:
                lines.append(f"Reason: {host.reason}")
            if host.events_error:
                lines.append(f"Live updates unavailable: {host.events_error}")
            if host.is_demo:
                lines.append("Demo host: libvirt's built-in test driver, nothing here is real.")
            if facts.hostname:
                lines.append(f"Host name: {facts.hostname}")
            return tooltip("\n".join(lines))
        elif role == HostRole:
            return host
        return None
