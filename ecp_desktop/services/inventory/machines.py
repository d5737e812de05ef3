"""Facts about libvirt domains, read in worker threads (never on the GUI thread)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import libvirt

from ..core.gui_first import give_way
from ..hosts.states import state_name, state_reason

Key = tuple[str, str]


@dataclass(slots=True)  # slots: 100,000 rows in a fleet; a __dict__ each is ~100 bytes more
class MachineInfo:
    """What a row shows about one domain on one host.

    ``live``: these facts came from libvirt in this session and the host is still connected
    (events keep them current). False: the inventory's last known facts, read from the
    database or kept from before the host went away; ``last_seen`` then says when they were
    last true. Equality ignores ``last_seen``: a listing that finds nothing new changes no row."""

    host_uri: str
    uuid: str
    name: str
    state: str
    vcpus: int = 0
    memory_kib: int = 0
    autostart: bool = False
    persistent: bool = True
    live: bool = True
    last_seen: datetime | None = field(default=None, compare=False)  # UTC
    reason: str = ""  # why it is in its state, in words (hosts/states.state_reason); "" when unsaid

    @property
    def key(self) -> tuple[str, str]:
        return (self.host_uri, self.uuid)

    def as_json(self) -> dict:
        data = asdict(self)
        data["host"] = data.pop("host_uri")
        data["last_seen"] = self.last_seen.isoformat(timespec="seconds") if self.last_seen else None
        return data

    def last_known(self, when: datetime) -> None:
        """The host went away at ``when``: these facts are now the last known ones."""
        if self.live:
            self.live, self.last_seen = False, when


class MachineIndex:
    """Every row by key (``all``), and the same rows per host: what concerns one host (it went
    away, its listing, its removal) reads its own rows, never a fleet's 100,000
    (bench/fleet.py). Change the rows only through ``put`` and ``drop``, which keep both."""

    __slots__ = ("all", "_of_host")

    def __init__(self) -> None:
        self.all: dict[Key, MachineInfo] = {}
        self._of_host: dict[str, dict[str, MachineInfo]] = {}

    def put(self, info: MachineInfo) -> None:
        self.all[info.key] = info
        self._of_host.setdefault(info.host_uri, {})[info.uuid] = info

    def drop(self, key: Key) -> MachineInfo | None:
        """Forget ``key``'s row; the row, or None when there was none."""
        info = self.all.pop(key, None)
        rows = self._of_host.get(key[0])
        if rows is not None:
            rows.pop(key[1], None)
            if not rows:
                del self._of_host[key[0]]
        return info

    def of_host(self, uri: str) -> dict[str, MachineInfo]:
        """``uri``'s rows by UUID (read only: a copy is not made)."""
        return self._of_host.get(uri, {})


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


_STATS = libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_BALLOON


def list_machines(conn: libvirt.virConnect, host_uri: str) -> list[MachineInfo]:
    """Every domain of ``conn`` in a handful of calls, not a few per domain.

    One bulk stats call gives state (and vCPUs/memory where the driver reports them);
    persistence and autostart come from two filtered listings.
    """
    persistent = {d.UUIDString() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_PERSISTENT)}
    autostart = {d.UUIDString() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_AUTOSTART)}
    machines = []
    seen = utc_now()
    for dom, stats in conn.getAllDomainStats(_STATS):
        give_way()  # a worker thread: the GUI thread may need the interpreter lock now
        uuid = dom.UUIDString()
        vcpus = stats.get("vcpu.current") or stats.get("vcpu.maximum")
        memory = stats.get("balloon.maximum")
        if not vcpus or not memory:
            # Drivers without bulk vCPU/balloon stats (e.g. the test driver): one info() call.
            _state, max_mem, _mem, nr_cpu, _cpu_time = dom.info()
            vcpus, memory = vcpus or nr_cpu, memory or max_mem
        machines.append(MachineInfo(
            host_uri=host_uri, uuid=uuid, name=dom.name(), state=state_name(stats.get("state.state", 0)),
            vcpus=int(vcpus), memory_kib=int(memory),
            autostart=uuid in autostart, persistent=uuid in persistent, last_seen=seen,
            reason=state_reason(stats.get("state.state", 0), stats.get("state.reason", 0)),
        ))
    return machines


def read_machine(dom: libvirt.virDomain, host_uri: str) -> MachineInfo:
    """Fresh facts for one domain (after an event)."""
    _state, max_mem, _mem, nr_cpu, _cpu_time = dom.info()
    state, reason = dom.state()
    persistent = bool(dom.isPersistent())
    return MachineInfo(
        host_uri=host_uri, uuid=dom.UUIDString(), name=dom.name(), state=state_name(state),
        vcpus=nr_cpu, memory_kib=max_mem,
        autostart=bool(dom.autostart()) if persistent else False, persistent=persistent,
        last_seen=utc_now(), reason=state_reason(state, reason),
    )


@dataclass
class ListingDiff:
    present: dict[Key, MachineInfo]
    added: list[MachineInfo]
    changed: list[MachineInfo]
    removed: list[Key]


def list_and_compare(conn: libvirt.virConnect, uri: str,
                     before: dict[Key, MachineInfo]) -> tuple[list[MachineInfo], ListingDiff]:
    """The listing of ``conn`` and how it differs from ``before`` (this host's rows, known or
    live): a known row listed again is a change (it turns live), one not listed is removed."""
    listed = list_machines(conn, uri)
    present = {info.key: info for info in listed}
    added, changed = [], []
    give_way()
    for info in listed:
        old = before.get(info.key)
        if old is None:
            added.append(info)
        elif old != info:
            changed.append(info)
    return listed, ListingDiff(present, added, changed, [key for key in before if key not in present])
