"""The list sections of Edit Hardware: disks and network interfaces (the dialog holds the rest). Each page
shows the machine as read (``HardwareFacts``), keeps what the user changed, and adds only
that to a change set (``contribute``); ``changed`` after every edit. Names, paths and
titles from the host are shown as plain text (list items, plain labels)."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLineEdit,
                               QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget)

from ...services.hardware.changes import (ChangeSet, DiskChange, DiskRemoval, DiskResize, ExistingDisk, NewDisk,
                                          NewNic, NicChange, NicRemoval)
from ...services.libvirt_xml.devices import DISK_BUSES, DISK_CACHES, DISK_FORMATS, NIC_MODELS
from ...services.hardware.facts import GIB, HardwareFacts
from ..common.plain import plain_label

KEY = Qt.ItemDataRole.UserRole


def _combo(items, current: str = "") -> QComboBox:
    box = QComboBox()
    for item in items:
        box.addItem(item, item)
    if current and box.findData(current) < 0:
        box.addItem(current, current)
    box.setCurrentIndex(max(box.findData(current), 0))
    return box


def row_of(*widgets) -> QHBoxLayout:
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget) if widget is not None else row.addStretch()  # None: a stretch
    return row


def _gib_box(least: float, value: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(least, 1 << 20)
    box.setDecimals(1)
    box.setValue(value)
    box.setSuffix(" GiB")
    return box


def _choose(box: QComboBox, value: str) -> None:
    if box.findData(value) < 0:
        box.addItem(value, value)
    box.setCurrentIndex(box.findData(value))



def fill_devices(view: QListWidget, rows: list[tuple[str, str]], new: list) -> None:
    """The machine's devices (text, key: a target or a MAC), then the new ones (their words,
    keyed by their index), the first one current."""
    view.blockSignals(True)
    view.clear()
    for text, key in [*rows, *((f"(new) {device.words()}", index) for index, device in enumerate(new))]:
        item = QListWidgetItem(text)
        item.setData(KEY, key)
        view.addItem(item)
    view.blockSignals(False)
    view.setCurrentRow(0)

class DisksPage(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.facts: HardwareFacts | None = None
        self.caches: dict[str, str] = {}
        self.edits: dict[str, dict] = {}  # target -> bus, cache, size_gib, remove, delete
        self.new: list[NewDisk | ExistingDisk] = []
        self.list = QListWidget()
        self.list.currentItemChanged.connect(self._selected)
        self.bus, self.cache = _combo(DISK_BUSES), _combo(DISK_CACHES)
        self.size = _gib_box(0, 0)
        self.remove = QCheckBox("Remove this disk")
        self.delete = QCheckBox("Also delete its volume (its data is gone for good)")
        for signal in (self.bus.currentIndexChanged, self.cache.currentIndexChanged, self.size.valueChanged,
                       self.remove.toggled, self.delete.toggled):
            signal.connect(self._edited)
        selected = QGroupBox("Selected disk")
        form = QFormLayout(selected)
        form.addRow("Bus:", self.bus)
        form.addRow("Cache:", self.cache)
        form.addRow("Size:", self.size)
        form.addRow(self.remove)
        form.addRow(self.delete)

        self.pool, self.new_size = QComboBox(), _gib_box(0.1, 10)
        self.new_format, self.new_bus = _combo(DISK_FORMATS), _combo(DISK_BUSES)
        add_new = QPushButton("Add New Disk")
        add_new.clicked.connect(lambda: self._add(NewDisk(self.new_size.value(), self.pool.currentData() or "",
                                                          self.new_format.currentData(), self.new_bus.currentData())))
        self.source = QLineEdit()
        self.source.setPlaceholderText("/path/to/file or POOL/VOLUME")
        self.device = _combo(("disk", "cdrom"))
        add_existing = QPushButton("Add Existing")
        add_existing.clicked.connect(lambda: self.source.text().strip() and self._add(ExistingDisk(
            self.source.text().strip(), self.new_bus.currentData(), self.device.currentData())))
        adding = QGroupBox("Add a disk")
        add_form = QFormLayout(adding)
        add_form.addRow("New volume in pool:", row_of(self.pool, self.new_size, self.new_format, self.new_bus, add_new))
        add_form.addRow("Existing:", row_of(self.source, self.device, add_existing))
        box = QVBoxLayout(self)
        box.addWidget(self.list)
        box.addWidget(selected)
        box.addWidget(adding)

    def load(self, facts: HardwareFacts) -> None:
        self.facts, self.edits, self.new = facts, {}, []
        self.caches = {disk.target: disk.cache for disk in facts.definition.disks}
        self.pool.clear()
        for pool in facts.pools.values():
            if pool.active:
                self.pool.addItem(f"{pool.name} ({pool.available / GIB:.1f} GiB free)", pool.name)
        self._fill()

    def _fill(self) -> None:
        rows = []
        for disk in self.facts.disks:
            edit = self.edits.get(disk.target, {})
            size = f", {disk.capacity / GIB:g} GiB" if disk.capacity else ""
            text = f"{disk.target}  {disk.device} on {disk.bus or '?'}: {disk.source or 'no source'}{size}"
            if edit.get("remove"):
                text += "  — removed" + (", volume deleted" if edit.get("delete") else "")
            rows.append((text, disk.target))
        fill_devices(self.list, rows, self.new)
        self._selected()

    def _add(self, disk) -> None:
        self.new.append(disk)
        self._fill()
        self.list.setCurrentRow(self.list.count() - 1)
        self.changed.emit()

    def _selected(self, *_args) -> None:
        item = self.list.currentItem()
        key = item.data(KEY) if item is not None else None
        disk = self.facts.disk(key) if self.facts is not None and isinstance(key, str) else None
        widgets = (self.bus, self.cache, self.size, self.remove, self.delete)
        for widget in widgets:
            widget.blockSignals(True)
        if disk is not None:
            edit = self.edits.get(key, {})
            _choose(self.bus, edit.get("bus", disk.bus))
            _choose(self.cache, edit.get("cache", self.caches.get(key) or "default"))
            self.size.setValue(edit.get("size_gib", disk.capacity / GIB))
            self.remove.setChecked(edit.get("remove", False))
            self.delete.setChecked(edit.get("delete", False))
        else:
            self.remove.setChecked(False)
        for widget in (self.bus, self.cache, self.delete):
            widget.setEnabled(disk is not None)
        self.size.setEnabled(disk is not None and bool(disk.capacity))
        self.remove.setEnabled(key is not None)
        self.remove.setText("Remove this disk" if disk is not None or key is None else "Do not add this disk")
        for widget in widgets:
            widget.blockSignals(False)

    def _edited(self, *_args) -> None:
        item = self.list.currentItem()
        key = item.data(KEY) if item is not None else None
        if isinstance(key, int):  # a new one: the only edit is not adding it
            if self.remove.isChecked():
                del self.new[key]
                self._fill()
                self.changed.emit()
            return
        disk = self.facts.disk(key) if key is not None else None
        if disk is None:
            return
        self.edits[key] = {"bus": self.bus.currentData(), "cache": self.cache.currentData(),
                           "size_gib": self.size.value(), "remove": self.remove.isChecked(),
                           "delete": self.remove.isChecked() and self.delete.isChecked()}
        row = self.list.currentRow()
        self._fill()
        self.list.setCurrentRow(row)
        self.changed.emit()

    def contribute(self, changes: ChangeSet) -> None:
        for target, edit in self.edits.items():
            disk = self.facts.disk(target)
            if edit["remove"]:
                changes.removed_disks.append(DiskRemoval(target, edit["delete"]))
                continue
            bus = edit["bus"] if edit["bus"] != disk.bus else ""
            cache = edit["cache"] if edit["cache"] != (self.caches.get(target) or "default") else ""
            if bus or cache:
                changes.disk_changes.append(DiskChange(target, bus, cache))
            if disk.capacity and round(edit["size_gib"] * GIB) > disk.capacity + GIB // 20:
                changes.resizes.append(DiskResize(target, edit["size_gib"]))
        changes.new_disks += self.new


class NetworkPage(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.facts: HardwareFacts | None = None
        self.links: dict[str, str] = {}
        self.edits: dict[str, dict] = {}  # MAC -> source, model, link, remove
        self.new: list[NewNic] = []
        self.list = QListWidget()
        self.list.currentItemChanged.connect(self._selected)
        self.source, self.model = QComboBox(), _combo(NIC_MODELS)
        self.source.setEditable(True)  # a bridge: "bridge:NAME"
        self.link = QCheckBox("Link up (the cable plugged in)")
        self.remove = QCheckBox("Remove this interface")
        for signal in (self.source.currentTextChanged, self.model.currentIndexChanged, self.link.toggled,
                       self.remove.toggled):
            signal.connect(self._edited)
        selected = QGroupBox("Selected interface")
        form = QFormLayout(selected)
        form.addRow("Network:", self.source)
        self.source_words = plain_label(wrap=True)  # the chosen network is not active: said
        form.addRow("", self.source_words)
        self.source.currentTextChanged.connect(self._say_inactive)
        form.addRow("Model:", self.model)
        form.addRow(self.link)
        form.addRow(self.remove)
        self.new_source, self.new_model = QComboBox(), _combo(NIC_MODELS)
        self.new_source.setEditable(True)
        add = QPushButton("Add Interface")
        add.clicked.connect(self._add)
        adding = QGroupBox("Add an interface (a network, or bridge:NAME)")
        adding.setLayout(row_of(self.new_source, self.new_model, add))
        box = QVBoxLayout(self)
        box.addWidget(self.list)
        box.addWidget(selected)
        box.addWidget(adding)

    def load(self, facts: HardwareFacts) -> None:
        self.facts, self.edits, self.new = facts, {}, []
        self.links = {nic.mac.lower(): nic.link_state or "up" for nic in facts.definition.interfaces}
        for combo in (self.source, self.new_source):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(facts.networks)
            for row, name in enumerate(facts.networks):
                if name in facts.inactive_networks:
                    combo.setItemData(row, f"network {name} is not active: start it (Host → Networks…) "
                                           "before a machine on it starts", Qt.ItemDataRole.ToolTipRole)
                    combo.setItemData(row, QColor(Qt.GlobalColor.gray), Qt.ItemDataRole.ForegroundRole)
            combo.blockSignals(False)
        self._fill()

    def _say_inactive(self, text: str) -> None:
        inactive = self.facts is not None and text.strip() in self.facts.inactive_networks
        self.source_words.setText(f"Network {text.strip()} is not active: the machine cannot start on it until it "
                                  "is started (Host → Networks…)." if inactive else "")

    @staticmethod
    def _nic_source(text: str) -> tuple[str, str]:
        kind, colon, name = text.partition(":")
        return ("bridge", name) if colon and kind == "bridge" else ("network", text)

    def _fill(self) -> None:
        rows = []
        for nic in self.facts.definition.interfaces:
            mac = nic.mac.lower()
            edit = self.edits.get(mac, {})
            text = f"{nic.mac}  {nic.kind} {nic.source} ({nic.model or 'default model'}), link " \
                   f"{edit.get('link', self.links.get(mac, 'up'))}" + ("  — removed" if edit.get("remove") else "")
            rows.append((text, mac))
        fill_devices(self.list, rows, self.new)
        self._selected()

    def _add(self) -> None:
        kind, source = self._nic_source(self.new_source.currentText().strip())
        if source:
            self.new.append(NewNic(source, kind, self.new_model.currentData()))
            self._fill()
            self.list.setCurrentRow(self.list.count() - 1)
            self.changed.emit()

    def _nic(self, key):
        return next((n for n in self.facts.definition.interfaces if n.mac.lower() == key), None) \
            if isinstance(key, str) and self.facts is not None else None

    def _selected(self, *_args) -> None:
        item = self.list.currentItem()
        key = item.data(KEY) if item is not None else None
        nic = self._nic(key)
        widgets = (self.source, self.model, self.link, self.remove)
        for widget in widgets:
            widget.blockSignals(True)
        if nic is not None:
            edit = self.edits.get(key, {})
            self.source.setEditText(edit.get("source", nic.source if nic.kind != "bridge" else f"bridge:{nic.source}"))
            _choose(self.model, edit.get("model", nic.model or "virtio"))
            self.link.setChecked(edit.get("link", self.links.get(key, "up")) == "up")
            self.remove.setChecked(edit.get("remove", False))
        else:
            self.remove.setChecked(False)
        for widget in (self.source, self.model, self.link):
            widget.setEnabled(nic is not None)
        self.remove.setEnabled(key is not None)
        for widget in widgets:
            widget.blockSignals(False)

    def _edited(self, *_args) -> None:
        item = self.list.currentItem()
        key = item.data(KEY) if item is not None else None
        if isinstance(key, int):
            if self.remove.isChecked():
                del self.new[key]
                self._fill()
                self.changed.emit()
            return
        if self._nic(key) is None:
            return
        self.edits[key] = {"source": self.source.currentText().strip(), "model": self.model.currentData(),
                           "link": "up" if self.link.isChecked() else "down", "remove": self.remove.isChecked()}
        row = self.list.currentRow()
        self._fill()
        self.list.setCurrentRow(row)
        self.changed.emit()

    def contribute(self, changes: ChangeSet) -> None:
        for mac, edit in self.edits.items():
            nic = self._nic(mac)
            if edit["remove"]:
                changes.removed_nics.append(NicRemoval(nic.mac))
                continue
            was = nic.source if nic.kind != "bridge" else f"bridge:{nic.source}"
            kind, source = self._nic_source(edit["source"]) if edit["source"] != was else ("", "")
            model = edit["model"] if edit["model"] != (nic.model or "virtio") else ""
            link = edit["link"] if edit["link"] != self.links.get(mac, "up") else ""
            if source or model or link:
                changes.nic_changes.append(NicChange(nic.mac, source, kind if source else "", model, link))
        changes.new_nics += self.new
