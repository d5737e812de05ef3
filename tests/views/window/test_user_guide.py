"""What the README and the user guide tell a newcomer to click or press is in the real window:
every "Menu → Entry" they name is an entry of that menu, and every row of the guide's keyboard
table is that entry's shortcut."""
import re
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from ecp_desktop.views.window.main_window import MainWindow

REPO = Path(__file__).resolve().parents[3]
DOCS = (REPO / "README.md", REPO / "docs" / "user-guide.md")
MENU_PATH = re.compile(r"\b(File|Machine|Host|View|Help) → ")


@pytest.fixture
def menus(qtbot, services, tmp_path):
    """Each menu bar title (access key removed) with its entries: text (access key removed) → action."""
    window = MainWindow(services, QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    return {top.text().replace("&", ""): {a.text().replace("&", ""): a for a in top.menu().actions() if a.text()}
            for top in window.menuBar().actions()}


def _text(path: Path) -> str:
    return " ".join(path.read_text(encoding="utf-8").split())  # a path may wrap across lines


def test_every_menu_path_the_docs_name_is_in_the_window(menus):
    missing = []
    for path in DOCS:
        text = _text(path)
        for found in MENU_PATH.finditer(text):
            menu, rest = found.group(1), text[found.end():]
            if not any(rest.startswith(entry) for entry in menus[menu]):
                missing.append(f"{path.name}: {menu} → {rest[:40]}")
    assert not missing, "the docs name menu entries the window does not have:\n" + "\n".join(missing)


def test_the_keyboard_table_gives_each_entrys_own_shortcut(menus):
    guide = (REPO / "docs" / "user-guide.md").read_text(encoding="utf-8")
    table = guide.split("## Keyboard shortcuts", 1)[1].split("\n\n", 2)[1]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    assert len(rows) >= 10
    wrong = []
    for _what, where, keys in rows:
        menu, entry = where.split(" → ")
        action = menus[menu].get(entry)
        shown = [key.toString() for key in action.shortcuts()] if action else "no such entry"
        if keys not in shown:
            wrong.append(f"{where}: the guide says {keys}, the window has {shown}")
    assert not wrong, "\n".join(wrong)
