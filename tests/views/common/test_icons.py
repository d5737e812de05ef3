"""The toolbar's and menus' icons: one family (the desktop theme's or the bundled Adwaita set),
drawn dark on a light palette and light on a dark one."""
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from ecp_desktop.views.common.icons import THEME_ACTIONS, action_icon
from ecp_desktop.views.common.symbolic_icons import bundled_names, symbolic_icon
from ecp_desktop.views.window.main_window import MainWindow

LIGHT = QPalette(QColor("#efefef"))
DARK = QPalette(QColor("#2b2b2b"))


@pytest.fixture
def icon_theme():
    """Set the desktop's icon theme (and where themes are looked up) for one test."""
    name, paths = QIcon.themeName(), QIcon.themeSearchPaths()

    def use(theme: str, *search_paths) -> None:
        QIcon.setThemeSearchPaths([str(p) for p in search_paths] or paths)
        QIcon.setThemeName(theme)
    yield use
    QIcon.setThemeSearchPaths(paths)
    QIcon.setThemeName(name)


@pytest.fixture
def palette():
    """Set the application's palette for one test."""
    before = QApplication.palette()
    yield QApplication.setPalette
    QApplication.setPalette(before)


@pytest.fixture
def bare_window(qtbot, services, tmp_path, icon_theme):
    """The main window without hosts, built where the desktop has no icon theme (plain X)."""
    icon_theme("no-such-theme")
    win = MainWindow(services, QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.show()
    return win


def _ink(icon: QIcon, size: int = 22) -> QColor:
    """The average colour of the icon's drawn (mostly opaque) pixels."""
    image = icon.pixmap(size, size).toImage()
    drawn = [image.pixelColor(x, y) for x in range(image.width()) for y in range(image.height())
             if image.pixelColor(x, y).alpha() > 200]
    assert drawn, "the icon draws nothing"
    return QColor(*(round(sum(getattr(c, part)() for c in drawn) / len(drawn)) for part in ("red", "green", "blue")))


def _toolbar_and_menu_actions(win):
    """What the user sees: the toolbar's buttons, then every menu's entries (submenus too)."""
    toolbar = [a for a in win.menu_actions.toolbar.actions() if not a.isSeparator()]
    menus = [action.menu() for action in win.menuBar().actions()]
    entries = []
    while menus:
        menu = menus.pop()
        for action in menu.actions():
            if action.menu() is not None:
                menus.append(action.menu())
            elif not action.isSeparator():
                entries.append(action)
    return toolbar, entries


def test_without_a_desktop_theme_every_toolbar_and_menu_icon_is_one_bundled_family(bare_window, palette):
    palette(LIGHT)
    toolbar, menu_actions = _toolbar_and_menu_actions(bare_window)
    assert toolbar and all(not a.icon().isNull() for a in toolbar), [a.text() for a in toolbar if a.icon().isNull()]
    with_icons = [a for a in toolbar + menu_actions if not a.icon().isNull()]
    assert {"&Connect", "&Disconnect", "&Remove from List…"} <= {a.text() for a in with_icons}  # the Host menu's
    assert {a.icon().name() for a in with_icons} <= set(bundled_names())
    for action in with_icons:  # one ink: Adwaita's dark grey on the light default palette
        assert _ink(action.icon()).name() == "#2e3436", action.text()
    # distinct actions look distinct: only Resume shares Start's triangle
    names = {a.text(): a.icon().name() for a in toolbar}
    assert len(set(names.values())) == len(names) - 1


def test_under_a_dark_palette_the_icons_draw_light_and_follow_a_palette_change(bare_window, palette):
    start = bare_window.menu_actions.lifecycle["start"]
    palette(DARK)
    assert _ink(start.icon()).lightness() > 200
    palette(LIGHT)
    assert _ink(start.icon()).lightness() < 80


@pytest.mark.parametrize("colours", [LIGHT, DARK], ids=["light", "dark"])
def test_a_disabled_action_looks_faded_under_either_palette(bare_window, palette, colours):
    palette(colours)
    migrate = bare_window.menu_actions.migrate
    assert not migrate.isEnabled()  # no machine selected
    normal, faded = (migrate.icon().pixmap(22, 22, mode).toImage() for mode in (QIcon.Mode.Normal, QIcon.Mode.Disabled))
    strongest = [max(image.pixelColor(x, y).alpha() for x in range(22) for y in range(22)) for image in (normal, faded)]
    assert strongest[0] == 255 and strongest[1] < 128


def _theme(folder, name: str, icon_names) -> None:
    """A minimal freedesktop icon theme whose icons are red squares."""
    (folder / name / "scalable").mkdir(parents=True)
    (folder / name / "index.theme").write_text(
        f"[Icon Theme]\nName={name}\nDirectories=scalable\n\n[scalable]\nSize=16\nType=Scalable\n"
        "MinSize=8\nMaxSize=512\n")
    for icon in icon_names:
        (folder / name / "scalable" / f"{icon}.svg").write_text(
            '<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><rect width="16" height="16" '
            'fill="#ff0000"/></svg>')


def test_a_theme_naming_every_action_draws_them_and_a_partial_theme_draws_none(tmp_path, qapp, icon_theme):
    _theme(tmp_path, "complete", set(THEME_ACTIONS.values()))
    _theme(tmp_path, "partial", ["list-add", "media-playback-start"])
    icon_theme("complete", tmp_path)
    assert {_ink(action_icon(name)).name() for name in THEME_ACTIONS} == {"#ff0000"}
    icon_theme("partial", tmp_path)  # the bundled set for all: never a mix of two families
    assert {_ink(action_icon(name)).name() for name in THEME_ACTIONS} == {"#2e3436"}


def test_an_unknown_bundled_icon_is_refused_by_name(qapp):
    with pytest.raises(ValueError, match="no bundled icon named 'no-such-icon'"):
        symbolic_icon("no-such-icon")
