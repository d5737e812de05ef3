"""A pool's fill drawn in its cell: the cell's own text (the space left), and under it a thin
bar of how much of the pool is allocated. Inactive pools (no sizes known) show the text only."""
from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRect, QSize
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QStyle, QStyledItemDelegate

from ...services.storage.pools import PoolRow
from ..common.table_model import RowsTableModel

BAR_HEIGHT = 4
NEARLY_FULL = 0.9  # the bar turns red past this share allocated


class PoolFillDelegate(QStyledItemDelegate):
    def sizeHint(self, option, index: QModelIndex) -> QSize:  # noqa: N802  (Qt's name)
        hint = super().sizeHint(option, index)
        return QSize(max(hint.width(), 110), hint.height())

    def paint(self, painter, option, index: QModelIndex) -> None:
        super().paint(painter, option, index)
        pool = index.data(RowsTableModel.ROW_ROLE)
        if not isinstance(pool, PoolRow) or not pool.active or pool.capacity <= 0:
            return
        share = min(1.0, pool.allocation / pool.capacity)
        track = QRect(option.rect.left() + 4, option.rect.bottom() - BAR_HEIGHT - 1, option.rect.width() - 8,
                      BAR_HEIGHT)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.save()
        painter.fillRect(track, option.palette.midlight())
        fill = QColor("#c0392b") if share >= NEARLY_FULL else (
            option.palette.highlightedText().color() if selected else option.palette.highlight().color())
        painter.fillRect(QRect(track.left(), track.top(), round(track.width() * share), track.height()), fill)
        painter.restore()
