"""The machines table's Usage column: a CPU sparkline with the current CPU % and memory,
painted from the usage service's ring buffers (no per-cell Python objects are kept), and
the words for the hosts pane's CPU and memory in use."""
from __future__ import annotations

import math
from operator import attrgetter

from PySide6.QtCore import QObject, QPointF, QRect, QRectF, Qt, QTimer
from PySide6.QtGui import QFontMetricsF, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from ...services.core.wording import size_text
from ...services.inventory.machines import MachineInfo
from ...services.usage.metrics import CPU, DISK_READ, DISK_WRITE, MEMORY, NET_RX, NET_TX
from ...services.usage.service import UsageService
from ..common.plain import tooltip
from ..common.follow import follow
from ..common.palette_colours import CPU_LINE, tone
from ..common.rows_in_view import RowsInView

SPARK_SAMPLES = 30  # a minute at 2 s
_KEY = attrgetter("host_uri", "uuid")  # MachineInfo.key without a Python call per row
UsageRole = Qt.ItemDataRole.UserRole + 20  # the current CPU % (a float), None without a sample
SPARK_GAP = 6  # between the sparkline and the text
SPARK_MIN_WIDTH = 24  # narrower, a minute of samples is no longer a line one can read
SPARK_ROOM = SPARK_GAP + 54  # what the Usage column needs beside its widest usual text


def rate_text(n: float) -> str:
    return "—" if math.isnan(n) else size_text(n) + "/s"


def usage_text(usage: UsageService, m: MachineInfo) -> str:
    """What the cell says: "12 % · 1.2 GiB"; "" when the machine has no sample (not running)."""
    cpu, mem = usage.current(m.key, CPU), usage.current(m.key, MEMORY)
    if math.isnan(cpu) and math.isnan(mem):
        return ""
    parts = ["—" if math.isnan(cpu) else f"{cpu:.0f} %"]
    if not math.isnan(mem):
        parts.append(size_text(mem))
    return " · ".join(parts)


def usage_tooltip(usage: UsageService, m: MachineInfo) -> str:
    cur = lambda metric: usage.current(m.key, metric)  # noqa: E731
    if math.isnan(cur(CPU)) and math.isnan(cur(MEMORY)):
        return tooltip(f"{m.name}: no usage sample (only running machines are sampled)")
    cpu = "not reported" if math.isnan(cur(CPU)) else f"{cur(CPU):.1f} % of its vCPUs"
    mem = "not reported" if math.isnan(cur(MEMORY)) else size_text(cur(MEMORY))
    return tooltip(f"{m.name}\nCPU: {cpu}\nMemory used: {mem}\n"
                   f"Disk: read {rate_text(cur(DISK_READ))}, write {rate_text(cur(DISK_WRITE))}\n"
                   f"Network: received {rate_text(cur(NET_RX))}, sent {rate_text(cur(NET_TX))}")


def host_usage_text(usage: UsageService, uri: str) -> str:
    """For the hosts pane: "CPU 12 % · memory 23.1 of 128.0 GiB"; "" before the first sample."""
    now = usage.host(uri)
    parts = []
    if not math.isnan(now.cpu):
        parts.append(f"CPU {now.cpu:.0f} %")
    if not math.isnan(now.memory_used):
        total = f" of {size_text(now.memory_total)}" if not math.isnan(now.memory_total) else ""
        parts.append(f"memory {size_text(now.memory_used)}{total}")
    return " · ".join(parts)


class UsageColumn:
    """What the machine model answers for its Usage column (see ``data``), and its sort key:
    the current CPU %; a machine without a sample (not running) counts as below 0 %, so the
    busiest come first in descending order and the idle ones last."""

    def __init__(self, usage: UsageService, owner: QObject | None = None) -> None:
        """``owner``: the Qt object it lives as long as (it follows the samples until then)."""
        self.usage = usage
        self._generation = 0
        if owner is not None:
            follow(usage.sampled, owner, self._on_sampled)
        else:
            usage.sampled.connect(self._on_sampled)

    def data(self, m: MachineInfo, role: int):
        if role == Qt.ItemDataRole.DisplayRole:
            return usage_text(self.usage, m)
        if role == Qt.ItemDataRole.ToolTipRole:
            return usage_tooltip(self.usage, m)
        if role == UsageRole:  # the sort value
            value = self.usage.current(m.key, CPU)
            return None if math.isnan(value) else value
        return None

    def sort_key(self):
        """A key function over MachineInfo rows, from one snapshot of the current values (read
        once, not per row: 10,000 rows sort in a few ms more than by name)."""
        now, key = self.usage.current_cpu(), _KEY
        return lambda m: (now.get(key(m), -1.0), m.name.casefold())

    @property
    def generation(self) -> int:
        """How many samples have arrived: the order by current CPU is the same while it is."""
        return self._generation

    def _on_sampled(self, _uri: str) -> None:
        self._generation += 1


def usage_cell_layout(cell: QRectF, text_width: float) -> tuple[QRectF | None, QRectF]:
    """(the sparkline's rect, the text's rect) in a Usage cell: the text right-aligned, the
    sparkline just left of it, never under it; no sparkline when the room left of the text is
    too narrow for one (the text comes first)."""
    width = min(text_width, cell.width())
    text = QRectF(cell.right() - width, cell.top(), width, cell.height())
    room = text.left() - cell.left() - (SPARK_GAP if width else 0)
    if room < SPARK_MIN_WIDTH:
        return None, text
    spark_width = min(room, cell.width() * 0.6)
    return QRectF(cell.left() + room - spark_width, cell.top(), spark_width, cell.height()), text


class UsageDelegate(QStyledItemDelegate):
    """Paints the last minute of CPU % as a line (0-100 %) with the cell's text right-aligned
    beside it (``usage_cell_layout``). ``machine_role``: the model's role for a row's MachineInfo."""

    def __init__(self, usage: UsageService, machine_role: int, parent=None) -> None:
        super().__init__(parent)
        self._usage = usage
        self._role = machine_role

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text, opt.text = opt.text, ""
        style = opt.widget.style() if opt.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        m = index.data(self._role)
        if m is None:
            return
        rect = QRectF(opt.rect).adjusted(3, 3, -3, -3)
        text_width = math.ceil(QFontMetricsF(opt.font).horizontalAdvance(text)) + 1 if text else 0
        spark, text_rect = usage_cell_layout(rect, text_width)
        values = self._usage.recent(m.key, CPU, SPARK_SAMPLES) if spark is not None else None
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if values is not None and len(values):
            step = spark.width() / max(1, SPARK_SAMPLES - 1)
            x0 = spark.right() - step * (len(values) - 1)
            line = QPolygonF()
            # On the selection's highlight, the highlight's own text colour is the one readable.
            pen = QPen(opt.palette.highlightedText().color() if selected else tone(CPU_LINE, opt.palette), 1.2)
            painter.setPen(pen)
            for i, v in enumerate(values.tolist()):
                if math.isnan(v):
                    if line.size() > 1:
                        painter.drawPolyline(line)
                    line = QPolygonF()
                    continue
                y = spark.bottom() - min(max(v, 0.0), 100.0) / 100.0 * spark.height()
                line.append(QPointF(x0 + i * step, y))
            if line.size() > 1:
                painter.drawPolyline(line)
            elif line.size() == 1:
                painter.drawPoint(line.at(0))
        painter.setPen(opt.palette.highlightedText().color() if selected else opt.palette.text().color())
        painter.setFont(opt.font)
        shown = text if text_width <= text_rect.width() else opt.fontMetrics.elidedText(
            text, Qt.TextElideMode.ElideRight, int(text_rect.width()))
        painter.drawText(text_rect, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), shown)
        painter.restore()


def show_usage_column(view, column: int, usage: UsageService | None, machine_role: int):
    """The machines table's Usage column: painted by a UsageDelegate, repainted after each sample,
    and the hosts of the rows in view sampled. Hidden without a usage service."""
    if usage is None:
        view.setColumnHidden(column, True)
        return None
    view.setItemDelegateForColumn(column, UsageDelegate(usage, machine_role, view))
    return UsageColumnRefresher(usage, view, column, machine_role)


class UsageColumnRefresher(QObject):
    """After samples, the view repaints its Usage column's visible cells (the delegate reads
    the new values as it paints), once for the samples of many hosts that arrive together and
    only when one of them has a row in view. No model signal: a dataChanged over 10,000 rows
    makes the filter proxy run its filter on each of them again whenever a filter is set, even
    for a role it does not filter on (measured here with PySide6 6.11), every interval.

    With ``machine_role``, it also tells the usage service which machines the rows in view are
    (``RowsInView``): those are sampled, and a fleet's other machines are not; while the view
    is sorted by this column, every machine of their hosts (the order needs them all)."""

    REPAINT_MS = 100  # the samples of a fleet's hosts arrive over a few turns: one repaint

    def __init__(self, usage: UsageService, view, column: int, machine_role: int | None = None) -> None:
        super().__init__(view)
        self._usage, self._view, self._column = usage, view, column
        self._in_view: set[str] = set()  # the hosts of the rows in view, as last told
        self._repaint = QTimer(self)
        self._repaint.setSingleShot(True)
        self._repaint.setInterval(self.REPAINT_MS)
        self._repaint.timeout.connect(self._paint_column)
        follow(usage.sampled, self, self._on_sampled)
        self._rows = None if machine_role is None else RowsInView(view, column, machine_role, self._watch)
        if self._rows is not None:
            view.horizontalHeader().sortIndicatorChanged.connect(lambda *_: self._rows.soon())

    def _watch(self, machines: list[MachineInfo]) -> None:
        self._in_view = {m.host_uri for m in machines}
        sorted_by_usage = bool(machines) and self._view.horizontalHeader().sortIndicatorSection() == self._column
        self._usage.watch(self, {m.key for m in machines}, whole_hosts=self._in_view if sorted_by_usage else ())

    def hosts_in_view(self) -> set[str]:
        return {m.host_uri for m in self._rows.rows()} if self._rows is not None else set()

    def _on_sampled(self, uri: str) -> None:
        if self._rows is not None:
            self._rows.soon()  # the window shown again, a pane resized: rows may have come into view
            if uri not in self._in_view:
                return
        if not self._repaint.isActive():
            self._repaint.start()

    def _paint_column(self) -> None:
        view = self._view
        if not view.isVisible() or view.isColumnHidden(self._column):
            return
        viewport = view.viewport()
        x = view.columnViewportPosition(self._column)
        viewport.update(QRect(x, 0, view.columnWidth(self._column), viewport.height()))
