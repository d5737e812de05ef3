"""The app's log, shown in the app: Open Log must work where no program opens .log files.

The file's last part is read (the log rotates at a few MB; the end is what matters) and
shown as plain text; a button still offers the desktop's own program for the file."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QFontDatabase, QGuiApplication, QTextCursor
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QPlainTextEdit, QVBoxLayout, QWidget

from .plain import plain_label

TAIL_BYTES = 512 * 1024


def read_tail(path: Path, limit: int = TAIL_BYTES) -> str:
    """The end of the file as text (a partial first line dropped); why not, in words."""
    try:
        with path.open("rb") as file:
            size = file.seek(0, 2)
            file.seek(max(0, size - limit))
            data = file.read()
    except OSError as exc:
        return f"The log cannot be read: {exc.strerror or exc}"
    text = data.decode("utf-8", errors="replace")
    return text.split("\n", 1)[1] if size > limit and "\n" in text else text


class LogViewer(QDialog):
    def __init__(self, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.setWindowTitle("Log")
        layout = QVBoxLayout(self)
        layout.addWidget(plain_label(str(path)))
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setAccessibleName("Log text")
        layout.addWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        reload_button = buttons.addButton("Reload", QDialogButtonBox.ButtonRole.ActionRole)
        reload_button.clicked.connect(self.reload)
        copy_path = buttons.addButton("Copy Path", QDialogButtonBox.ButtonRole.ActionRole)
        copy_path.clicked.connect(lambda: QGuiApplication.clipboard().setText(str(path)))
        external = buttons.addButton("Open in Another Program", QDialogButtonBox.ButtonRole.ActionRole)
        external.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))))
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(900, 560)
        self.reload()

    def reload(self) -> None:
        self.text.setPlainText(read_tail(self.path))
        self.text.moveCursor(QTextCursor.MoveOperation.End)


def show_log(path: Path, parent: QWidget | None = None) -> LogViewer:
    viewer = LogViewer(path, parent)
    viewer.open()  # never exec(): a nested loop stalls asyncio work
    return viewer
