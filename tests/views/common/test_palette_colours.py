"""The colours that carry meaning stay readable on a light and on a dark desktop: the task
states' words, the state dots, the sparkline and the usage graphs, each at least WCAG's 4.5:1
(text) or 3:1 (a dot) against the base it is drawn on, and they follow a change of palette."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from ecp_desktop.services.tasks.records import FAILED, ROLLBACK_FAILED, SUCCEEDED
from ecp_desktop.services.usage.service import UsageService
from ecp_desktop.views.common.icons import state_icon
from ecp_desktop.views.common.palette_colours import (CPU_LINE, GRAPHIC_CONTRAST, STATE_COLOURS, TEXT_CONTRAST,
                                                      TONES, contrast, is_dark, tone)
from ecp_desktop.views.tasks.task_model import OUTCOME, STATUS, TaskTreeModel
from ecp_desktop.views.usage.usage_tab import UsageTab


def palette(base: str, alternate: str, text: str, window: str) -> QPalette:
    p = QPalette(QColor(window))
    for role, colour in ((QPalette.ColorRole.Base, base), (QPalette.ColorRole.AlternateBase, alternate),
                         (QPalette.ColorRole.Text, text), (QPalette.ColorRole.WindowText, text),
                         (QPalette.ColorRole.Window, window)):
        p.setColor(role, QColor(colour))
    return p


PALETTES = {  # as desktops give them: Qt's default look, Adwaita, Breeze Dark, a dark Fusion
    "light": palette("#ffffff", "#f7f7f7", "#000000", "#efefef"),
    "adwaita": palette("#ffffff", "#f6f5f4", "#2e3436", "#f6f5f4"),
    "breeze dark": palette("#1b1e20", "#232629", "#fcfcfc", "#2a2e32"),
    "fusion dark": palette("#2b2b2b", "#353535", "#ffffff", "#353535"),
}


@pytest.fixture(params=list(PALETTES))
def desktop(request, qapp):
    """The application's palette set as a desktop theme would, restored afterwards."""
    before = QPalette(qapp.palette())
    QApplication.setPalette(PALETTES[request.param])
    yield PALETTES[request.param]
    QApplication.setPalette(before)


def _bases(p: QPalette) -> list[QColor]:
    return [p.color(QPalette.ColorRole.Base), p.color(QPalette.ColorRole.AlternateBase)]


def test_task_states_are_readable_on_the_desktops_palette(desktop, qtbot, services):
    model = TaskTreeModel(services.tasks)
    tasks = services.tasks
    for status in (FAILED, ROLLBACK_FAILED, SUCCEEDED):
        record = tasks.create("test", f"A task that {status}")
        tasks.start(record)
        tasks.finish(record, status, message="disk full; undone: deleted volume pool-a/web-1.qcow2")
    qtbot.waitUntil(lambda: model.rowCount() == 3)  # new rows are shown together, within 40 ms
    coloured = []
    for row in range(model.rowCount()):
        status = model.index(row, STATUS).data()
        columns = (STATUS, OUTCOME) if status != SUCCEEDED else (STATUS,)
        for column in columns:
            colour = model.index(row, column).data(Qt.ItemDataRole.ForegroundRole)
            assert colour is not None, (status, column)
            coloured.append(colour)
            assert min(contrast(colour, base) for base in _bases(desktop)) >= TEXT_CONTRAST, (status, colour.name())
    assert len(coloured) == 5
    failed = model.index(next(r for r in range(3) if model.index(r, STATUS).data() == FAILED), STATUS)
    succeeded = model.index(next(r for r in range(3) if model.index(r, STATUS).data() == SUCCEEDED), STATUS)
    assert failed.data(Qt.ItemDataRole.ForegroundRole) != succeeded.data(Qt.ItemDataRole.ForegroundRole)


def test_every_meaningful_colour_and_state_dot_reaches_its_contrast(desktop):
    for meaning in TONES:
        colour = tone(meaning)
        assert min(contrast(colour, base) for base in _bases(desktop)) >= TEXT_CONTRAST, (meaning, colour.name())
    for state in STATE_COLOURS:
        # The dot's colour, read back from the icon the tables show (its centre pixel).
        dot = state_icon(state).pixmap(16, 16).toImage().pixelColor(8, 8)
        assert min(contrast(dot, base) for base in _bases(desktop)) >= GRAPHIC_CONTRAST, (state, dot.name())


def test_dark_and_light_palettes_get_their_own_colours(qapp):
    light, dark = PALETTES["light"], PALETTES["fusion dark"]
    assert not is_dark(light) and is_dark(dark)
    assert tone(CPU_LINE, light) != tone(CPU_LINE, dark)
    assert tone(CPU_LINE, dark).lightnessF() > tone(CPU_LINE, light).lightnessF()


def test_the_usage_graphs_follow_a_change_of_palette(qtbot, qapp, services):
    before = QPalette(qapp.palette())
    QApplication.setPalette(PALETTES["light"])
    try:
        tab = UsageTab(UsageService(services.inventory))
        qtbot.addWidget(tab)
        tab.resize(500, 700)
        tab.show()  # the graphs are made when first shown
        for name in ("light", "breeze dark"):
            QApplication.setPalette(PALETTES[name])  # the desktop's theme changed while the tab is open
            base = PALETTES[name].color(QPalette.ColorRole.Base)
            qtbot.waitUntil(lambda base=base: tab.graphs.backgroundBrush().color() == base)
            background = tab.graphs.backgroundBrush().color()
            for metric, curve in tab.curves.items():
                colour = curve.opts["pen"].color()
                assert contrast(colour, background) >= TEXT_CONTRAST, (name, metric, colour.name())
            axis = tab.plots[0].getAxis("left")
            assert contrast(axis.textPen().color(), background) >= TEXT_CONTRAST
    finally:
        QApplication.setPalette(before)


def test_problem_lines_and_the_migration_and_console_words_are_readable(desktop):
    """The lines that say what is wrong (a name refused, a step failed), the migration plan's
    verdicts and the console's state: readable on the palette, light or dark."""
    from ecp_desktop.views.common.palette_colours import readable_text
    from ecp_desktop.views.common.plain import problem_style
    from ecp_desktop.views.console.console_tab import STATE_TEXT_COLOURS
    from ecp_desktop.views.migration.migration_dialog import VERDICT_COLOURS
    shown = [QColor(problem_style().removeprefix("color: ").removesuffix(";"))]
    shown += [readable_text(c) for c in (*VERDICT_COLOURS.values(), *STATE_TEXT_COLOURS.values())]
    for colour in shown:
        assert min(contrast(colour, base) for base in _bases(desktop)) >= TEXT_CONTRAST, colour.name()
