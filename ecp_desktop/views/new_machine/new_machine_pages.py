"""The New Machine wizard's pages: one decision each, with defaults so Next, Next, Create works.

A page reads what it needs from the wizard (``wizard.offer``: what the host offers, read once
when the wizard opens; ``wizard.database``: libosinfo's operating systems) and never calls
libvirt itself: the name check, the ISO detection and the plan run off the GUI thread through
the wizard's ``ask``. Every text from the host or the user is shown as plain text.
"""
from __future__ import annotations

import logging
import os
from dataclasses import replace

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLineEdit,
                               QListWidget, QListWidgetItem, QPlainTextEdit, QPushButton, QRadioButton, QSpinBox,
                               QVBoxLayout, QWizardPage)

from ...services.core.errors import HypervisorError, Refusal
from ...services.core.names import name_problem
from ...services.provisioning.host_offer import iso_like
from ...services.provisioning.seed_iso import SeedConfig, default_ssh_keys, hostname_for
from ...services.provisioning.spec import NO_DISK_SOURCES, SOURCE_LABELS, SOURCES
from ...services.storage.service import PoolSpec
from ...services.tasks.records import SUCCEEDED
from ..common.plain import problem_style, plain_label, tooltip
from .disk_choice import DiskChoice

SOURCE, OS, CLOUD, HARDWARE, SUMMARY = range(5)
ENTRY_ROLE = Qt.ItemDataRole.UserRole
NAME_CHECK_MS = 300
DEFAULT_IMAGES = "/var/lib/libvirt/images"  # libvirt's own folder for images
log = logging.getLogger(__name__)


class SourcePage(QWizardPage):
    """The name (checked against the host as it is typed) and where the machine starts from."""

    def __init__(self, wizard) -> None:
        super().__init__()
        self.setTitle("Name and source")
        self.setSubTitle("Where the new machine runs, and how it gets its operating system.")
        self.host = QComboBox()  # the hosts that take machines now; the wizard reads the chosen one's offer
        self.host.setToolTip(tooltip("the host the machine is made on: its pools, networks and firmware "
                                     "fill the next pages"))
        self.name = QLineEdit()
        self.name_status = plain_label(wrap=True)
        self.sources = QButtonGroup(self)
        self.path = QLineEdit()
        self.path.setPlaceholderText("a file on the host, e.g. /var/lib/libvirt/images/debian.iso")
        self.upload = QCheckBox("The file is on this computer: upload it into the storage pool")
        self.flatten = QCheckBox("If the image reads other files (a backing file), upload a copy standing alone "
                                 "made here with qemu-img")
        self.flatten.setToolTip(tooltip("an image that reads other files is never used as it is: without this, "
                                        "the plan says which file it reads and stops"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.volumes = QComboBox()  # the host's pool volumes: choosing one fills in its path
        self.volumes.setToolTip(tooltip("an ISO, image or disk already in one of the host's storage pools"))
        self.volumes.activated.connect(self._volume_chosen)
        form = QFormLayout(self)
        form.addRow("Host:", self.host)
        form.addRow("Name:", self.name)
        form.addRow("", self.name_status)
        for index, kind in enumerate(SOURCES):
            button = QRadioButton(SOURCE_LABELS[kind][:1].upper() + SOURCE_LABELS[kind][1:])
            self.sources.addButton(button, index)
            form.addRow("" if index else "Source:", button)
        row = QHBoxLayout()
        row.addWidget(self.path)
        row.addWidget(browse)
        form.addRow("File:", row)
        form.addRow("In a pool:", self.volumes)
        form.addRow("", self.upload)
        form.addRow("", self.flatten)
        self.taken: str | None = None  # the host's answer for the name as typed (None: free)
        self._proposed = ""  # the name this page proposed (replaced on another host; a typed one is kept)
        self._timer = QTimer(self, singleShot=True, interval=NAME_CHECK_MS)
        self._timer.timeout.connect(lambda: wizard.ask(self._ask_host(wizard)))
        self.name.textChanged.connect(self._name_changed)
        self.sources.idClicked.connect(lambda _id: self._source_changed())
        self.path.textChanged.connect(self.completeChanged)
        self.upload.toggled.connect(self.completeChanged)
        self.upload.toggled.connect(lambda _on: self._enable_for_source())

    def offer_hosts(self, hosts: dict[str, str], current: str) -> None:
        for uri, label in hosts.items():
            self.host.addItem(label, uri)  # item text is never markup
            self.host.setItemData(self.host.count() - 1, uri, Qt.ItemDataRole.ToolTipRole)
        self.host.setCurrentIndex(max(self.host.findData(current), 0))
        self.host.currentIndexChanged.connect(self._host_chosen)

    def _host_chosen(self, row: int) -> None:
        wizard = self.wizard()
        wizard.choose_host(self.host.itemData(row))
        self.completeChanged.emit()

    def source(self) -> str:
        return SOURCES[max(self.sources.checkedId(), 0)]

    def set_defaults(self, offer) -> None:
        """A free name, and an installer ISO: the first in the host's pools, else one to name or
        upload (never network boot: most hosts have no PXE server)."""
        if self.name.text() in ("", self._proposed):
            number = 1
            while f"new-machine-{number}" in offer.names:
                number += 1
            self._proposed = f"new-machine-{number}"
            self.name.setText(self._proposed)
        else:
            self._name_changed()  # the typed name, checked against this host
        isos = [path for path in offer.volume_paths() if iso_like(path)]
        self.path.setText(isos[0] if isos else "")
        self.sources.button(SOURCES.index("iso")).setChecked(True)
        self._source_changed()

    def _offered_volumes(self) -> None:
        """The pool volumes that fit the source: ISOs for an installer, the others for an image or disk."""
        offer, iso = self.wizard().offer, self.source() == "iso"
        fitting = [path for path in (offer.volume_paths() if offer is not None else []) if iso_like(path) == iso]
        self.volumes.clear()
        self.volumes.addItem("Choose a volume…" if fitting else "None in the host's active pools: name a file "
                             "above, or Browse… to upload one" if iso else "None in the host's active pools", "")
        for path in fitting:
            self.volumes.addItem(path, path)  # item text is never markup

    def _source_changed(self) -> None:
        self._offered_volumes()
        self._enable_for_source()

    def _enable_for_source(self) -> None:
        files = self.source() != "pxe"
        self.path.setEnabled(files)
        self.volumes.setEnabled(files)
        self.upload.setEnabled(self.source() in ("iso", "cloud-image"))
        self.flatten.setVisible(self.source() == "cloud-image")
        self.flatten.setEnabled(self.source() == "cloud-image" and self.upload.isChecked())
        self.completeChanged.emit()

    def _volume_chosen(self, row: int) -> None:
        path = self.volumes.itemData(row)
        if path:
            self.path.setText(path)
            self.upload.setChecked(False)  # it is on the host already

    def _browse(self) -> None:
        dialog = QFileDialog(self, "Choose the file on this computer")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(lambda path: (self.path.setText(path), self.upload.setChecked(True)))
        dialog.open()

    def _name_changed(self) -> None:
        text = self.name.text()
        offer = self.wizard().offer
        problem = name_problem(text) or (f"a machine named {text!r} exists on this host already"
                                         if offer is not None and text in offer.names else None)
        self.taken = problem
        self._show_name(problem)
        if problem is None:
            self._timer.start()  # and ask the host itself, in case another client made one meanwhile
        self.completeChanged.emit()

    async def _ask_host(self, wizard) -> None:
        text = self.name.text()
        problem = await wizard.service.name_problem(wizard.host_uri, text)
        if text == self.name.text():  # the user has not typed on meanwhile
            self.taken = problem
            self._show_name(problem)
            self.completeChanged.emit()

    def _show_name(self, problem: str | None) -> None:
        self.name_status.setText(problem or "")
        self.name_status.setStyleSheet(problem_style() if problem else "")

    def isComplete(self) -> bool:
        if self.wizard().offer is None or self.taken is not None:
            return False
        return self.source() == "pxe" or bool(self.path.text().strip())

    def nextId(self) -> int:
        return OS


class OsPage(QWizardPage):
    """The operating system: detected from a local ISO, or chosen from libosinfo's list."""

    def __init__(self, wizard) -> None:
        super().__init__()
        self.setTitle("Operating system")
        self.setSubTitle("Its recommended memory, vCPUs, disk, firmware and device models come from libosinfo.")
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter, e.g. debian or windows")
        self.list = QListWidget()
        self.detection = plain_label(wrap=True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.detection)
        layout.addWidget(self.filter)
        layout.addWidget(self.list)
        self.filter.textChanged.connect(self._filter)
        self.list.currentItemChanged.connect(lambda *_: self.completeChanged.emit())
        self._filled = False
        self._detected_for = None

    def entry(self):
        item = self.list.currentItem()
        return item.data(ENTRY_ROLE) if item is not None else None

    def initializePage(self) -> None:
        wizard = self.wizard()
        if not self._filled:
            self._filled = True
            from ...services.provisioning.osinfo import GENERIC
            for entry in [GENERIC, *wizard.database.entries]:
                item = QListWidgetItem(entry.name if entry is GENERIC else f"{entry.name}  ({entry.short_id})")
                item.setData(ENTRY_ROLE, entry)
                self.list.addItem(item)
            self.list.setCurrentRow(0)
            self.detection.setText(wizard.database.problem)
        source = wizard.page(SOURCE)
        path = source.path.text().strip()
        # (whether the path is a local file is asked in the worker too: a stat on a hung network
        # mount would stall the window)
        if source.source() == "iso" and path and path != self._detected_for:
            self._detected_for = path
            self.detection.setText(f"Looking at {os.path.basename(path)}…")
            wizard.ask(self._detect(wizard, path))

    async def _detect(self, wizard, path: str) -> None:
        detection = await wizard.service.detect(path)
        self.detection.setText(detection.words)
        if detection.entry is not None:
            self.select(detection.entry.short_id)

    def select(self, short_id: str) -> bool:
        for row in range(self.list.count()):
            if self.list.item(row).data(ENTRY_ROLE).short_id == short_id:
                self.list.setCurrentRow(row)
                return True
        return False

    def _filter(self, text: str) -> None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            item.setHidden(not item.data(ENTRY_ROLE).matches(text))

    def isComplete(self) -> bool:
        return self.entry() is not None

    def nextId(self) -> int:
        return CLOUD if self.wizard().page(SOURCE).source() == "cloud-image" else HARDWARE


class CloudPage(QWizardPage):
    """Who may log in to a cloud image: delivered by a NoCloud seed ISO (cloud-init)."""

    def __init__(self, wizard) -> None:
        super().__init__()
        self.setTitle("Cloud image login")
        self.setSubTitle("cloud-init in the guest makes this user at its first boot.")
        self.user = QLineEdit("user")
        self.keys = QPlainTextEdit("\n".join(default_ssh_keys()))
        self.keys.setPlaceholderText("SSH public keys, one a line (from ~/.ssh/*.pub by default)")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setPlaceholderText("none: the account has no password (SSH keys only)")
        self.hostname = QLineEdit()
        self.user_data = QPlainTextEdit()
        self.user_data.setPlaceholderText("optional: more #cloud-config, or a script starting with #!")
        self.problem = plain_label(wrap=True)
        self.problem.setStyleSheet(problem_style())
        form = QFormLayout(self)
        form.addRow("User:", self.user)
        form.addRow("SSH keys:", self.keys)
        form.addRow("Password:", self.password)
        form.addRow("Host name:", self.hostname)
        form.addRow("User-data:", self.user_data)
        form.addRow(self.problem)
        for edit in (self.user, self.password, self.hostname):
            edit.textChanged.connect(self.completeChanged)
        for text in (self.keys, self.user_data):
            text.textChanged.connect(self.completeChanged)

    def initializePage(self) -> None:
        if not self.hostname.text():
            self.hostname.setText(hostname_for(self.wizard().page(SOURCE).name.text()))

    def seed(self, password_hash: str = "") -> SeedConfig:
        keys = [line.strip() for line in self.keys.toPlainText().splitlines() if line.strip()]
        return SeedConfig(user=self.user.text().strip(), ssh_keys=keys, password_hash=password_hash,
                          hostname=self.hostname.text().strip(), extra_user_data=self.user_data.toPlainText())

    def isComplete(self) -> bool:
        # The password is hashed when the plan is made; "$" stands for its hash here.
        problem = self.seed("$" if self.password.text() else "").problem()
        self.problem.setText(problem or "")
        return problem is None

    def nextId(self) -> int:
        return HARDWARE


async def change_outcome(change) -> tuple[bool, str]:
    """Whether ``change`` (a coroutine making one task: a pool or a network the page helps
    with) succeeded, and its words: the outcome, the failure or the refusal."""
    try:
        record = await change
    except Refusal as refusal:
        return False, str(refusal)
    except HypervisorError as err:
        return False, err.one_line()
    return record.status == SUCCEEDED, record.error_message or record.outcome


class HardwarePage(QWizardPage):
    """CPU, memory, disk, network, display and firmware: the OS's recommendations first."""

    def __init__(self, wizard) -> None:
        super().__init__()
        self.setTitle("Hardware")
        self.memory = QSpinBox(suffix=" MiB", singleStep=256)
        self.vcpus = QSpinBox()
        self.disk = DiskChoice()
        self.disk.changed.connect(self._disk_changed)
        self.disk_format = QComboBox()
        for text, value in (("qcow2 (grows as written, snapshots)", "qcow2"), ("raw (fastest)", "raw")):
            self.disk_format.addItem(text, value)
        self.pool = QComboBox()
        self.network = QComboBox()
        self.graphics = QComboBox()
        for text, value in (("VNC", "vnc"), ("SPICE", "spice"), ("None (serial console only)", "none")):
            self.graphics.addItem(text, value)
        self.firmware = QComboBox()
        self.full_copy = QCheckBox("A full copy of the cloud image (default: a copy-on-write overlay on it)")
        self.firmware_words = plain_label(wrap=True)
        form = QFormLayout(self)
        form.addRow("Memory:", self.memory)
        form.addRow("vCPUs:", self.vcpus)
        form.addRow("Disk:", self.disk)
        form.addRow("Disk format:", self.disk_format)
        form.addRow("Storage pool:", self.pool)
        # a host with no active pool: one made here, where libvirt keeps images by convention
        self.make_pool = QPushButton(f"Create a directory pool at {DEFAULT_IMAGES}")
        self.make_pool.clicked.connect(self.create_pool)
        self.pool_words = plain_label(wrap=True)
        form.addRow("", self.make_pool)
        form.addRow("", self.pool_words)
        form.addRow("", self.full_copy)
        form.addRow("Network:", self.network)
        self.network_words = plain_label(wrap=True)  # an inactive network picked: said, with Start Network
        self.start_network = QPushButton("Start Network")
        self.start_network.clicked.connect(self.start_chosen_network)
        network_row = QHBoxLayout()
        network_row.addWidget(self.network_words, 1)
        network_row.addWidget(self.start_network)
        form.addRow("", network_row)
        self.network.currentIndexChanged.connect(self._network_chosen)
        form.addRow("Display:", self.graphics)
        form.addRow("Firmware:", self.firmware)
        form.addRow("", self.firmware_words)
        self.virt_type = QComboBox()  # what the host offers; KVM first where it has it
        form.addRow("Acceleration:", self.virt_type)
        self._for_entry = None
        self._for_offer = None

    def initializePage(self) -> None:
        wizard = self.wizard()
        offer, entry = wizard.offer, wizard.page(OS).entry()
        if self._for_offer is not offer:  # first shown, or another host chosen since
            self._for_offer, self._for_entry = offer, None
            for box in (self.pool, self.network, self.firmware, self.virt_type):
                box.clear()
            for pool in offer.pools.values():
                if pool.active:
                    self.pool.addItem(pool.name, pool.name)
            self.pool.setCurrentIndex(max(self.pool.findData(offer.default_pool), 0))
            for name in offer.networks:
                inactive = " (inactive)" if name in offer.inactive_networks else ""
                self.network.addItem(f"Network {name}{inactive}", ("network", name))
            for name in offer.bridges:
                self.network.addItem(f"Bridge {name}", ("bridge", name))
            self.network.addItem("No network", ("none", ""))
            self.network.setCurrentIndex(max(self.network.findData(("network", "default")), 0))
            self._network_chosen()
            self._pool_offered()
            self.memory.setRange(64, max(offer.memory_mib, 64))
            self.vcpus.setRange(1, max(offer.cpus, 1))
            self.firmware.addItem("BIOS", "bios")
            self.firmware.addItem("UEFI", "efi")
            self.firmware.addItem("UEFI with secure boot", "secure")
            for row, offered in ((1, offer.efi), (2, offer.secure_boot)):
                self.firmware.model().item(row).setEnabled(offered)
            words = offer.firmware_words
            self.firmware_words.setText(words[:1].upper() + words[1:] + ("." if words else ""))
            labels = {"kvm": "KVM (hardware)", "qemu": "QEMU (software emulation, slower)"}
            for kind in sorted(offer.domain_types or (offer.domain_type,), key=lambda t: t != offer.domain_type):
                self.virt_type.addItem(labels.get(kind, kind), kind)
        if entry is not self._for_entry:  # another OS: its recommendations again
            self._for_entry = entry
            self.setSubTitle(f"Recommended for {entry.name}; change what you need.")
            self.memory.setValue(min(entry.memory_mib, self.memory.maximum()))
            self.vcpus.setValue(min(entry.vcpus, self.vcpus.maximum()))
            self.disk.set_mib(entry.disk_mib)
            self.firmware.setCurrentIndex(1 if entry.firmware == "efi" and offer.efi else 0)
        source = wizard.page(SOURCE).source()
        self.full_copy.setVisible(source == "cloud-image")
        self.disk.setEnabled(source != "import-disk")
        self.disk.offer_none(source in NO_DISK_SOURCES)
        self._disk_changed()
        self.pool.setToolTip(tooltip("where the new disk (and an uploaded file, and a seed ISO) are made"))

    def _disk_changed(self) -> None:
        wizard = self.wizard()
        source = wizard.page(SOURCE).source() if wizard is not None else "iso"
        # an overlay is qcow2; a copy keeps its format; no disk has none
        self.disk_format.setEnabled(source in NO_DISK_SOURCES and not self.disk.wanted_none())
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.disk.problem_words() is None

    def _stopped_pool(self) -> str:
        """A defined pool that is only stopped (the usual "default" at /var/lib/libvirt/images):
        started rather than a second pool made over its folder."""
        pools = self.wizard().offer.pools
        stopped = [name for name, pool in pools.items() if not pool.active]
        return next((n for n in ("default", *sorted(stopped)) if n in stopped), "")

    def _pool_offered(self) -> None:
        wizard = self.wizard()
        none = self.pool.count() == 0
        stopped = self._stopped_pool() if none else ""
        self.make_pool.setText(f"Start pool {stopped}" if stopped
                               else f"Create a directory pool at {DEFAULT_IMAGES}")
        self.make_pool.setVisible(none and wizard.storage is not None)
        self.pool_words.setText("The host has no active storage pool for the new disk." if none else "")

    def create_pool(self) -> None:
        wizard = self.wizard()
        stopped = self._stopped_pool()
        if stopped:
            change, name = wizard.storage.start_pool(wizard.host_uri, stopped), stopped
            self.pool_words.setText(f"Starting pool {stopped}…")
        else:
            taken = set(wizard.offer.pools)
            name = next((n for n in ("default", "images", *(f"images-{i}" for i in range(1, 100)))
                         if n not in taken), "")
            if not name:
                self.pool_words.setText("Every name proposed for a pool is taken; make one in Host → Storage….")
                return
            change = wizard.storage.create_pool(wizard.host_uri, PoolSpec(name, "dir", DEFAULT_IMAGES))
            self.pool_words.setText(f"Creating pool {name} at {DEFAULT_IMAGES}…")
        self.make_pool.setEnabled(False)
        wizard.ask(self._pool_made(change, name, wizard.host_uri))

    async def _pool_made(self, change, name: str, host_uri: str) -> None:
        wizard = self.wizard()
        ok, words = await change_outcome(change)
        self.make_pool.setEnabled(True)
        if wizard.host_uri != host_uri or wizard.offer is None:
            return  # another host was chosen meanwhile: its page is filled from its own answers
        if not ok:
            self.pool_words.setText(f"Pool {name} is not ready: {words}")
            self.pool_words.setStyleSheet(problem_style())
            return
        if name in wizard.offer.pools:
            wizard.offer.pools[name] = replace(wizard.offer.pools[name], active=True)
        self.pool.addItem(name, name)
        self.pool.setCurrentIndex(self.pool.findData(name))
        self.pool_words.setStyleSheet("")
        self._pool_offered()
        self.completeChanged.emit()

    def _network_chosen(self, *_args) -> None:
        wizard = self.wizard()
        if wizard is None:
            return
        kind, name = self.network.currentData() or ("none", "")
        inactive = kind == "network" and wizard.offer is not None and name in wizard.offer.inactive_networks
        self.network_words.setText(f"Network {name} is not active: the new machine could not start on it."
                                   if inactive else "")
        self.start_network.setVisible(inactive and wizard.networks is not None)

    def start_chosen_network(self) -> None:
        _kind, name = self.network.currentData()
        self.start_network.setEnabled(False)
        self.wizard().ask(self._start_network(name, self.wizard().host_uri))

    async def _start_network(self, name: str, host_uri: str) -> None:
        wizard = self.wizard()
        ok, words = await change_outcome(wizard.networks.start(host_uri, name))
        self.start_network.setEnabled(True)
        if wizard.host_uri != host_uri or wizard.offer is None:
            return  # another host was chosen meanwhile
        if not ok:
            self.network_words.setText(f"Network {name} did not start: {words}")
            return
        wizard.offer.inactive_networks.discard(name)
        rows = [r for r in range(self.network.count()) if self.network.itemData(r) == ("network", name)]
        for row in rows:
            self.network.setItemText(row, f"Network {name}")
        self._network_chosen()

    def nextId(self) -> int:
        return SUMMARY


class SummaryPage(QWizardPage):
    """The definition to review, the steps, and Start after creating."""

    def __init__(self, wizard) -> None:
        super().__init__()
        self.setTitle("Review")
        self.setSubTitle("Create runs these steps as one task; if one fails, what was made is removed.")
        self.planning = 0  # counts the visits: only the newest visit's plan is shown
        self.host = plain_label(wrap=True)
        self.status = plain_label(wrap=True)
        self.steps = plain_label(wrap=True)
        self.xml = QPlainTextEdit()
        self.xml.setReadOnly(True)
        self.xml.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.start = QCheckBox("Start after creating")
        self.start.setChecked(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.host)
        layout.addWidget(self.status)
        layout.addWidget(self.steps)
        layout.addWidget(self.xml)
        layout.addWidget(self.start)
        self.start.toggled.connect(lambda _on: self._show_steps())

    def initializePage(self) -> None:
        wizard = self.wizard()
        wizard.plan = None
        self.host.setText(f"On host: {wizard.host_label()}")
        self.xml.setPlainText("")
        self.steps.setText("")
        self.status.setStyleSheet("")
        self.status.setText("Planning…")
        self.completeChanged.emit()
        self.planning += 1
        wizard.ask(self._plan(wizard, self.planning))

    async def _plan(self, wizard, planning: int) -> None:
        """``planning``: this page's visit; a plan asked for on an earlier visit (another host,
        other answers) is dropped when it arrives late."""
        try:
            plan = await wizard.make_plan()
        except Exception as exc:  # noqa: BLE001  said, whatever it is: never "Planning…" for ever
            if planning != self.planning:
                return
            if not isinstance(exc, ValueError):  # PlanError says the request's or the host's answer in words
                log.warning("planning a new machine failed", exc_info=True)
            self.status.setText(str(exc) if isinstance(exc, ValueError) else f"Cannot plan: {exc!r}")
            self.status.setStyleSheet(problem_style())
            return
        if planning != self.planning or plan.spec.host_uri != wizard.host_uri:
            return
        wizard.plan = plan
        self.status.setText("; ".join(plan.notes))
        self.xml.setPlainText(plan.xml)
        self._show_steps()
        self.completeChanged.emit()

    def _show_steps(self) -> None:
        plan = self.wizard().plan
        if plan is not None:
            titles = [s.title for s in plan.flow.children if s.op != "start_domain"]
            titles += [f"Start {plan.spec.name}"] if self.start.isChecked() else []
            self.steps.setText("Steps: " + " → ".join(titles))

    def isComplete(self) -> bool:
        return self.wizard().plan is not None
