"""Host operations a user starts (add, connect, disconnect, rename, remove), each recorded as a
task but the label's change and the removal."""
from __future__ import annotations

from ..config import approved_hosts
from ..core.errors import HypervisorError, Refusal
from ..core.names import label_problem
from ..hosts.connection import HostConnection
from ..inventory.live import Inventory
from ..tasks.service import TaskService
from ..tasks.records import SUCCEEDED
from ..hosts.uri import parse_uri


class HostActions:
    def __init__(self, inventory: Inventory, tasks: TaskService) -> None:
        self.inventory = inventory
        self.tasks = tasks

    async def add(self, uri: str, label: str = "", autoconnect: bool = True) -> tuple[HostConnection, bool]:
        """Try the connection; keep it only if it opened. Returns the host and whether it connected."""
        uri = parse_uri(uri).uri
        known = uri in self.inventory.hosts
        host = self.inventory.add_host(uri, label=label)
        ok = await self.connect(host, autoconnect=autoconnect)
        if ok:
            approved_hosts.approve([uri])  # this user added it: connected to at later starts
        elif not known:
            await self.inventory.remove_host(uri, forget=True)
        return host, ok

    async def connect(self, host: HostConnection, autoconnect: bool = True) -> bool:
        async def work() -> None:
            if not await self.inventory.connect_host(host, autoconnect=autoconnect):
                raise host.last_error or HypervisorError(host.reason, operation="connect", host_uri=host.uri)

        record = await self.tasks.run("connect", f"Connect to {host.label}", work, host_uri=host.uri)
        return record.status == SUCCEEDED

    async def disconnect(self, host: HostConnection) -> None:
        async def work() -> None:
            await host.close()

        await self.tasks.run("disconnect", f"Disconnect {host.label}", work, host_uri=host.uri)

    async def set_label(self, host: HostConnection, label: str) -> None:
        """Host → Rename…: ``Refusal`` in words for a label that cannot be one."""
        label = label.strip()
        problem = label_problem(label)
        if problem:
            raise Refusal(problem)
        await self.inventory.set_host_label(host, label)

    async def remove(self, host: HostConnection) -> None:
        await self.inventory.remove_host(host.uri, forget=True)
