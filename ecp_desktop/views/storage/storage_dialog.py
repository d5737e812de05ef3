"""Host → Storage…: the host's pools (type, state, autostart, sizes, what they are made of)
and the selected pool's volumes (format, sizes, the machines that use each), with the
changes each allows. Everything is read and changed through services/storage on the host's
worker; the window never waits. After each change the lists are read again."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QHBoxLayout, QInputDialog, QLabel,
                               QPushButton, QVBoxLayout, QWidget)

from ...services.core.wording import size_text
from ...services.storage.pools import PoolRow, VolumeRow
from ...services.storage.service import StorageService
from ...services.tasks.records import TaskRecord
from ..common.follow import follow
from ..common.host_objects_dialog import HostObjectsDialog
from ..common.plain import ask, plain_label
from ..common.table_model import RowsTableModel, replace_rows, rows_view, selected_row
from .usage_bar import PoolFillDelegate
from .pool_forms import NewPoolForm, NewVolumeForm, ResizeForm

POOL_COLUMNS = ("Pool", "Type", "State", "Autostart", "Size", "Allocated", "Free", "Volumes", "Folder or source")
VOLUME_COLUMNS = ("Volume", "Format", "Size", "Allocated", "Used by", "Path")


def pool_cells(p: PoolRow) -> tuple:
    return (p.name, p.kind_text, "active" if p.active else "inactive", "yes" if p.autostart else "no",
            size_text(p.capacity) if p.active else "—", size_text(p.allocation) if p.active else "—",
            size_text(p.available) if p.active else "—", len(p.volumes) if p.active else "—", p.path or p.source)


def volume_cells(v: VolumeRow) -> tuple:
    used = ", ".join(v.users) or (f"base of {', '.join(v.overlays)}" if v.overlays else "—")
    return (v.name, v.format or "—", size_text(v.capacity), size_text(v.allocation), used, v.path)


class StorageDialog(HostObjectsDialog):
    def __init__(self, parent: QWidget | None, storage: StorageService, host_uri: str, label: str) -> None:
        super().__init__(parent, storage, host_uri, "storage")
        self.storage = storage
        self.setWindowTitle(f"Storage of {label}")
        self.resize(980, 620)
        self.pools = RowsTableModel(POOL_COLUMNS, pool_cells, self, grey=lambda p: self.stale or not p.active)
        self.volumes = RowsTableModel(VOLUME_COLUMNS, volume_cells, self, tip=lambda v: v.why_kept,
                                      grey=lambda _v: self.stale)
        self.pool_view, self.volume_view = rows_view(self.pools), rows_view(self.volumes)
        self.fill_bar = PoolFillDelegate(self.pool_view)  # the Free column: allocated as a bar
        self.pool_view.setItemDelegateForColumn(POOL_COLUMNS.index("Free"), self.fill_bar)
        self.buttons = {}
        pool_row, volume_row = QHBoxLayout(), QHBoxLayout()
        for row, names in ((pool_row, ("New Pool…", "Start", "Stop", "Refresh", "Autostart", "Delete Pool…")),
                           (volume_row, ("New Volume…", "Upload…", "Download…", "Copy…", "Resize…", "Delete Volume…",
                                        "Cancel Transfer"))):
            for name in names:
                button = QPushButton(name)
                self.buttons[name] = button
                row.addWidget(button)
            row.addStretch()
        handlers = {"New Pool…": self.new_pool, "Start": lambda: self._pool_change("start"),
                    "Stop": lambda: self._pool_change("stop"), "Refresh": lambda: self._pool_change("refresh"),
                    "Autostart": lambda: self._pool_change("autostart"), "Delete Pool…": self.delete_pool,
                    "New Volume…": self.new_volume, "Resize…": self.resize_volume,
                    "Delete Volume…": self.delete_volume, "Upload…": self.choose_upload,
                    "Download…": self.choose_download, "Copy…": self.copy_volume,
                    "Cancel Transfer": self.cancel_transfer}
        for name, handler in handlers.items():
            self.buttons[name].clicked.connect(handler)
        top, bottom = QWidget(), QWidget()
        top_box, bottom_box = QVBoxLayout(top), QVBoxLayout(bottom)
        top_box.addWidget(QLabel("Pools"))
        top_box.addWidget(self.pool_view)
        top_box.addLayout(pool_row)
        self.volumes_title = plain_label("Volumes")
        bottom_box.addWidget(self.volumes_title)
        bottom_box.addWidget(self.volume_view)
        bottom_box.addLayout(volume_row)
        self.arrange(top, bottom)
        self.pool_view.selectionModel().selectionChanged.connect(self._pool_chosen)
        self.volume_view.selectionModel().selectionChanged.connect(self.enable)
        self.transfer: TaskRecord | None = None  # the upload or download this dialog runs now
        self.transfer_asked = False  # one was started here and its task is not known yet
        follow(storage.tasks.task_changed, self, self._task_changed)
        self.follow_host()
        self.enable()

    # ----- reading ---------------------------------------------------------------------------
    def show_rows(self, pools: list[PoolRow]) -> None:
        replace_rows(self.pool_view, pools)
        self._pool_chosen()

    def pool(self) -> PoolRow | None:
        return selected_row(self.pool_view)

    def volume(self) -> VolumeRow | None:
        return selected_row(self.volume_view)

    def _pool_chosen(self, *_args) -> None:
        pool = self.pool()
        replace_rows(self.volume_view, list(pool.volumes) if pool is not None else [], first=False)
        self.volumes_title.setText(f"Volumes of {pool.name}" + ("" if pool.active else " (inactive: start it to "
                                                                                       "see them)")
                                   if pool is not None else "Volumes")
        self.enable()

    def enable(self, *_args) -> None:
        pool, volume = self.pool(), self.volume()
        busy = self.busy()
        self.buttons["New Pool…"].setEnabled(not busy)
        for name, on in (("Start", pool is not None and not pool.active), ("Stop", pool is not None and pool.active),
                         ("Refresh", pool is not None and pool.active), ("Autostart", pool is not None),
                         ("Delete Pool…", pool is not None), ("New Volume…", pool is not None and pool.active),
                         ("Resize…", volume is not None), ("Delete Volume…", volume is not None),
                         ("Upload…", pool is not None and pool.active), ("Download…", volume is not None),
                         ("Copy…", volume is not None)):
            self.buttons[name].setEnabled(on and not busy)
        self.buttons["Cancel Transfer"].setVisible(self.changing() and self.transfer is not None)
        if pool is not None:
            self.buttons["Autostart"].setText("No Autostart" if pool.autostart else "Autostart")
        self.buttons["Delete Volume…"].setToolTip(volume.why_kept if volume is not None else "")

    # ----- changing --------------------------------------------------------------------------
    def change_ended(self) -> None:
        self.transfer, self.transfer_asked = None, False

    def _pool_change(self, what: str) -> None:
        pool = self.pool()
        if pool is None:
            return
        change = {"start": lambda: self.storage.start_pool(self.uri, pool.name),
                  "stop": lambda: self.storage.stop_pool(self.uri, pool.name),
                  "refresh": lambda: self.storage.refresh_pool(self.uri, pool.name),
                  "autostart": lambda: self.storage.set_pool_autostart(self.uri, pool.name, not pool.autostart)}[what]
        self.run(change())

    def new_pool(self) -> NewPoolForm:
        self.form = NewPoolForm(self, {p.name for p in self.pools.rows},
                                lambda kind, server: self.storage.find_sources(self.uri, kind, server))
        self.form.chosen.connect(lambda spec: self.run(self.storage.create_pool(self.uri, spec)))
        self.form.open()
        return self.form

    def delete_pool(self) -> None:
        pool = self.pool()
        if pool is None:
            return
        if pool.users:
            self.say(f"Pool {pool.name} holds disks of {', '.join(pool.users)}; it cannot be deleted.", error=True)
            return
        empty_dir = pool.kind == "dir" and pool.active and not pool.volumes
        question = (f"Delete pool {pool.name}? Its volumes stay where they are; libvirt forgets the pool."
                    + (f"\n\nIts folder {pool.path} is empty and is removed too." if empty_dir else ""))
        self.form = ask(self, "Delete pool", question, lambda: self.run(
            self.storage.delete_pool(self.uri, pool.name, remove_folder=empty_dir)))

    def new_volume(self) -> NewVolumeForm | None:
        pool = self.pool()
        if pool is None:
            return None
        self.form = NewVolumeForm(self, pool)
        self.form.chosen.connect(lambda v: self.run(self.storage.create_volume(self.uri, pool.name, v[0], v[1], v[2],
                                                                                backing=v[3])))
        self.form.open()
        return self.form

    def resize_volume(self) -> ResizeForm | None:
        volume = self.volume()
        if volume is None:
            return None
        self.form = ResizeForm(self, volume)
        self.form.chosen.connect(lambda size: self.run(self.storage.resize_volume(self.uri, volume.pool, volume.name,
                                                                                   size)))
        self.form.open()
        return self.form

    def delete_volume(self) -> None:
        volume = self.volume()
        if volume is None:
            return
        if volume.why_kept:
            self.say(f"Volume {volume.name} is {volume.why_kept}; it cannot be deleted.", error=True)
            return
        self.form = ask(self, "Delete volume", f"Delete volume {volume.pool}/{volume.name} "
                                               f"({size_text(volume.capacity)})? Its data does not come back.",
                        lambda: self.run(self.storage.delete_volume(self.uri, volume.pool, volume.name,
                                                                     wipe=wipe.isChecked())))
        wipe = QCheckBox("Overwrite its data first (wipe; slow on a large volume)")
        self.form.setCheckBox(wipe)

    # ----- moving bytes ----------------------------------------------------------------------
    def choose_upload(self) -> QFileDialog | None:
        pool = self.pool()
        if pool is None:
            return None
        self.form = QFileDialog(self, f"Upload a file into pool {pool.name}")
        self.form.setFileMode(QFileDialog.FileMode.ExistingFile)
        self.form.fileSelected.connect(lambda path: self.upload(pool.name, path))
        self.form.open()
        return self.form

    def upload(self, pool: str, path: str) -> None:
        self.transfer_asked = True
        self.run(self.storage.upload_volume(self.uri, pool, path))

    def choose_download(self) -> QFileDialog | None:
        volume = self.volume()
        if volume is None:
            return None
        self.form = QFileDialog(self, f"Download volume {volume.name} to")
        self.form.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        self.form.selectFile(volume.name)
        self.form.fileSelected.connect(lambda path: self.download(volume, path))
        self.form.open()
        return self.form

    def download(self, volume: VolumeRow, path: str) -> None:
        self.transfer_asked = True
        self.run(self.storage.download_volume(self.uri, volume.pool, volume.name, path))

    def copy_volume(self) -> QInputDialog | None:
        volume = self.volume()
        if volume is None:
            return None
        stem, dot, ext = volume.name.rpartition(".")
        proposed = f"{stem}-copy.{ext}" if dot and stem else f"{volume.name}-copy"
        self.form = QInputDialog(self)
        self.form.setWindowTitle("Copy volume")
        self.form.setLabelText(f"A full copy of {volume.pool}/{volume.name}, named:")
        self.form.setTextValue(proposed)
        self.form.textValueSelected.connect(lambda name: self.run(
            self.storage.clone_volume(self.uri, volume.pool, volume.name, name.strip())))
        self.form.open()
        return self.form

    def _task_changed(self, record: TaskRecord) -> None:
        """The progress of the transfer this dialog started (never another's, e.g. one a closed
        dialog left running)."""
        if self.transfer is None and self.transfer_asked and record.kind in ("upload_volume", "download_volume") \
                and record.host_uri == self.uri and record.cancel is not None:
            self.transfer = record
        if record is self.transfer and not self.closed():
            self.say(f"{record.title}: {record.progress}% ({record.summary})")
            self.enable()

    def cancel_transfer(self) -> None:
        if self.transfer is not None and self.transfer.cancel is not None:
            self.transfer.cancel()


def open_storage_dialog(parent: QWidget, storage: StorageService, host_uri: str, label: str) -> StorageDialog:
    dialog = StorageDialog(parent, storage, host_uri, label)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()  # not exec(): a nested loop would stall the asyncio loop
    dialog.reload()
    return dialog
