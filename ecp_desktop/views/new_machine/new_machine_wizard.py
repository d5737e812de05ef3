"""Machine → New Machine…: a wizard, one page per decision (``new_machine_pages``), whose
Create runs the plan as one flow on the task engine (the tasks pane shows it; a failure undoes
what was made). What the host offers and libosinfo's list are read once, off the GUI thread,
when the wizard opens; until then Next waits (the first page says so, and why, with Retry, when
the host could not be read)."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QWidget, QWizard

from ...services.core.aio import spawn
from ...services.core.errors import HypervisorError
from ...services.provisioning.plan import Plan, set_start
from ...services.networks.service import NetworkService
from ...services.storage.service import StorageService
from ...services.provisioning.service import ProvisioningService
from ...services.provisioning.spec import MachineSpec
from ...services.tasks.records import SUCCEEDED, TaskRecord
from .new_machine_pages import (CLOUD, HARDWARE, OS, SOURCE, SUMMARY, CloudPage, HardwarePage, OsPage, SourcePage,
                                SummaryPage)
from ...services.tasks.tree import what_failed
from ..common.discard_guard import AsksBeforeDiscarding
from ..common.plain import problem_style

log = logging.getLogger(__name__)


class NewMachineWizard(AsksBeforeDiscarding, QWizard):
    def __init__(self, service: ProvisioningService, host_uri: str, parent: QWidget | None = None, *,
                 storage: StorageService | None = None, networks: NetworkService | None = None,
                 hosts: dict[str, str] | None = None) -> None:
        super().__init__(parent)
        self.service = service
        # where the Hardware page makes a missing pool or starts an inactive network (None: not offered)
        self.storage, self.networks = storage, networks
        self.host_uri = host_uri
        # the hosts offered on the first page, URI -> label (the chosen one is among them)
        self.hosts = dict(hosts or {})
        self.hosts.setdefault(host_uri, self._label_of(host_uri))
        self.offer = None
        self.database = None
        self.plan: Plan | None = None
        self.creation: asyncio.Task | None = None  # the flow, once Create was pressed
        # Called with the flow's root when it has ended (whatever its status). Plain callables,
        # not a signal: the wizard is closed (and may be deleted) long before a flow ends.
        self.when_created: list = []
        self._tasks: set[asyncio.Task] = set()
        self._closed = False
        self.setWindowTitle("New Machine")
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, False)
        self.setButtonText(QWizard.WizardButton.FinishButton, "Create")
        self.resize(720, 560)
        for page_id, page in ((SOURCE, SourcePage(self)), (OS, OsPage(self)), (CLOUD, CloudPage(self)),
                              (HARDWARE, HardwarePage(self)), (SUMMARY, SummaryPage(self))):
            self.setPage(page_id, page)
        self.setStartId(SOURCE)
        self.retry = QPushButton("Retry")  # shown when the host could not be read
        self.retry.setVisible(False)
        self.retry.clicked.connect(self.load)
        self.page(SOURCE).layout().addRow("", self.retry)
        self.page(SOURCE).offer_hosts(self.hosts, host_uri)
        self.finished.connect(self._on_finished)
        self.load()

    # ----- work off the GUI thread ----------------------------------------------------------
    def ask(self, coro) -> asyncio.Task:
        """Run ``coro`` on the loop; its answer is dropped once the wizard has closed."""
        task = spawn(self._guarded(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guarded(self, coro) -> None:
        try:
            await coro
        except HypervisorError as err:
            if not self._closed:
                self.page(SOURCE).name_status.setText(f"The host did not answer: {err.one_line()}")
        except RuntimeError:
            if not self._closed:  # a widget deleted under a late answer is fine once closed
                raise

    def busy(self) -> bool:
        return any(not t.done() for t in self._tasks)

    def load(self) -> None:
        """Read what the host offers (again, after a failure: Retry)."""
        if self.offer is not None:
            return
        self.retry.setVisible(False)
        source = self.page(SOURCE)
        source.name_status.setStyleSheet("")
        source.name_status.setText("Reading what the host offers…")
        self.ask(self._load())

    def choose_host(self, uri: str) -> None:
        """Make the machine on ``uri`` instead: what that host offers is read afresh."""
        if uri == self.host_uri:
            return
        self.host_uri, self.offer = uri, None
        self.load()

    def host_label(self) -> str:
        return self.hosts.get(self.host_uri) or self.host_uri

    def _label_of(self, uri: str) -> str:
        host = self.service.inventory.hosts.get(uri)
        return getattr(host, "label", "") or uri

    async def _load(self) -> None:
        uri = self.host_uri
        try:
            self.database = await self.service.database()
            offer = await self.service.offer(uri)
        except Exception as exc:  # noqa: BLE001  (said on the page, with Retry: never "Reading…" forever)
            if uri != self.host_uri:
                return  # another host was chosen meanwhile: its own reading says
            if isinstance(exc, HypervisorError):
                words = exc.one_line()
            else:
                log.warning("reading %s for a new machine failed", self.host_uri, exc_info=True)
                words = str(exc) or type(exc).__name__
            if not self._closed:
                source = self.page(SOURCE)
                source.name_status.setText(f"Cannot read what the host offers: {words}")
                source.name_status.setStyleSheet(problem_style())
                self.retry.setVisible(True)
            return
        if self._closed or uri != self.host_uri:
            return
        self.offer = offer
        source = self.page(SOURCE)
        source.name_status.setText("")
        source.set_defaults(offer)

    # ----- the request ----------------------------------------------------------------------
    def spec(self, password_hash: str = "") -> MachineSpec:
        source, os_page, cloud, hardware = (self.page(SOURCE), self.page(OS), self.page(CLOUD),
                                            self.page(HARDWARE))
        kind = source.source()
        network_kind, network = hardware.network.currentData() or ("none", "")
        firmware = hardware.firmware.currentData() or "bios"
        entry = os_page.entry()
        return MachineSpec(
            name=source.name.text(), host_uri=self.host_uri, source=kind,
            source_path="" if kind == "pxe" else source.path.text().strip(),
            upload=source.upload.isChecked() and source.upload.isEnabled(),
            flatten=source.flatten.isChecked() and source.flatten.isEnabled(),
            os_id=entry.short_id if entry is not None else "generic",
            memory_mib=hardware.memory.value(), vcpus=hardware.vcpus.value(),
            disk_mib=hardware.disk.mib(), no_disk=hardware.disk.wanted_none(),
            disk_format=hardware.disk_format.currentData() or "qcow2",
            pool=hardware.pool.currentData() or "",
            full_copy=kind == "cloud-image" and hardware.full_copy.isChecked(),
            virt_type=hardware.virt_type.currentData() or "",
            network=network if network_kind == "network" else "", bridge=network if network_kind == "bridge" else "",
            graphics=hardware.graphics.currentData() or "vnc", firmware="efi" if firmware == "secure" else firmware,
            secure_boot=firmware == "secure",
            seed=cloud.seed(password_hash) if kind == "cloud-image" else None, start=False)

    async def make_plan(self) -> Plan:
        password = self.page(CLOUD).password.text()
        hashed = await self.service.hash_password(password) if password and self.page(SOURCE).source() == \
            "cloud-image" else ""
        return await self.service.plan(self.spec(hashed))

    def accept(self) -> None:
        """Create: the flow starts and the wizard closes; the tasks pane follows it."""
        if self.plan is None or self.plan.spec.host_uri != self.host_uri:
            return  # (a plan for a host no longer chosen is never run)
        set_start(self.plan, self.page(SUMMARY).start.isChecked())
        self.creation = spawn(_create(self.service, self.plan, list(self.when_created)))
        super().accept()

    def _on_finished(self, _result: int) -> None:
        self._closed = True


async def _create(service: ProvisioningService, plan: Plan, callbacks: list) -> TaskRecord:
    root = await service.run(plan)
    for callback in callbacks:
        callback(root)
    return root


def open_new_machine_wizard(parent: QWidget | None, provisioning: ProvisioningService, host_uri: str, *,
                            show_errors: Callable[[str, list], object] | None = None,
                            show_tasks: Callable[[], object] | None = None,
                            storage: StorageService | None = None,
                            networks: NetworkService | None = None,
                            hosts: dict[str, str] | None = None) -> NewMachineWizard:
    """Open the wizard for a new machine on ``host_uri`` (``hosts``: the others offered on its
    first page, URI -> label). A flow that ends badly goes to ``show_errors`` with each step's
    failure; ``show_tasks`` once the user created it."""
    wizard = NewMachineWizard(provisioning, host_uri, parent, storage=storage, networks=networks, hosts=hosts)
    wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def ended(root: TaskRecord) -> None:
        if root.status != SUCCEEDED and show_errors is not None:
            show_errors(f"{root.title}: {root.status}", what_failed(root))
    wizard.when_created.append(ended)
    if show_tasks is not None:
        wizard.accepted.connect(show_tasks)
    wizard.open()
    return wizard
