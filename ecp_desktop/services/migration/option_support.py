"""Which libvirt and hypervisor versions honour each migration option, and which side does not.

A migration flag or parameter is read by both daemons (the source's Begin/Perform and the
destination's Prepare/Finish), and a QEMU capability must exist in both QEMUs, so an
option is honoured only when *both* hosts are at least at the version that introduced it.
An older side refuses with INVALID_ARG ("unsupported flags"), ARGUMENT_UNSUPPORTED
("parameter '...' not supported") or QEMU's "not supported by QEMU binary" only once the
migration has started; this table says so before anything runs.

Versions: libvirt's from the ``Since:`` notes in include/libvirt/libvirt-domain.h (the
libvirt 9.0 headers here, libvirt.org/html/libvirt-libvirt-domain.html); QEMU's from the
``(since ...)`` notes of the migration capabilities in QEMU's qapi/migration.json.
Versions are libvirt's integers: major * 1,000,000 + minor * 1,000 + release.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..hosts.facts import version_text
from .facts import HostSide


def version(major: int, minor: int, release: int = 0) -> int:
    return major * 1_000_000 + minor * 1_000 + release


@dataclass(frozen=True)
class OptionNeed:
    attribute: str        # the MigrationOptions field that asks for it
    label: str            # what the user sees (the dialog's and the CLI's words)
    symbol: str           # the libvirt flag or parameter that carries it
    libvirt: int          # the first libvirt that knows it
    qemu: int = 0         # the first QEMU with the migration capability behind it (0: none needed)
    live_only: bool = False   # only a live migration carries it (an offline one drops it)


OPTION_NEEDS: tuple[OptionNeed, ...] = (
    OptionNeed("persistent", "Define it on the destination", "VIR_MIGRATE_PERSIST_DEST", version(0, 7, 3)),
    OptionNeed("undefine_source", "Remove its definition from the source", "VIR_MIGRATE_UNDEFINE_SOURCE",
               version(0, 7, 3)),
    OptionNeed("tunnelled", "Tunnelled", "VIR_MIGRATE_TUNNELLED", version(0, 7, 2), live_only=True),
    OptionNeed("auto_converge", "Auto-converge", "VIR_MIGRATE_AUTO_CONVERGE", version(1, 2, 3),
               qemu=version(1, 6), live_only=True),       # QEMU capability "auto-converge" (since 1.6)
    OptionNeed("postcopy", "Post-copy", "VIR_MIGRATE_POSTCOPY", version(1, 3, 3),
               qemu=version(2, 6), live_only=True),       # QEMU capability "postcopy-ram" (since 2.6)
    OptionNeed("bandwidth_mib", "Bandwidth", "VIR_MIGRATE_PARAM_BANDWIDTH", version(1, 1, 0), live_only=True),
    OptionNeed("migration_address", "Migration address", "VIR_MIGRATE_PARAM_URI", version(1, 1, 0),
               live_only=True),
    OptionNeed("max_downtime_ms", "Max downtime", "virDomainMigrateSetMaxDowntime", version(0, 8, 0),
               live_only=True),
)
# What two methods themselves send: copy-storage its list of disks to copy, offline its flag.
MIGRATE_DISKS = OptionNeed("", "copy-storage", "VIR_MIGRATE_PARAM_MIGRATE_DISKS", version(1, 2, 17))
OFFLINE_FLAG = OptionNeed("", "offline", "VIR_MIGRATE_OFFLINE", version(1, 0, 1))


@dataclass(frozen=True)
class Unmet:
    """One side cannot honour one option: what it runs and what would."""
    need: OptionNeed
    side: str             # "source" | "destination"
    has: str              # e.g. "libvirt 1.2.0"
    wants: str            # e.g. "libvirt 1.3.3 or later"


def _side_shortfalls(need: OptionNeed, side: HostSide, where: str) -> list[Unmet]:
    """A version of 0 is unknown (the host did not say): not held against it."""
    found = []
    if side.libvirt_version and side.libvirt_version < need.libvirt:
        found.append(Unmet(need, where, f"libvirt {version_text(side.libvirt_version)}",
                           f"libvirt {version_text(need.libvirt)} or later"))
    if need.qemu and side.driver == "QEMU" and side.hypervisor_version and side.hypervisor_version < need.qemu:
        found.append(Unmet(need, where, f"QEMU {version_text(side.hypervisor_version)}",
                           f"QEMU {version_text(need.qemu)} or later"))
    return found


def shortfalls(need: OptionNeed, source: HostSide, destination: HostSide) -> list[Unmet]:
    return _side_shortfalls(need, source, "source") + _side_shortfalls(need, destination, "destination")


def asked_for(options, need: OptionNeed) -> bool:
    return bool(getattr(options, need.attribute, False))
