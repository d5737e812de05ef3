"""A machine's snapshot (``<domainsnapshot>``): what a user asks to take, and what libvirt says
of one taken."""
from __future__ import annotations

from .xmlmodel import XmlChildren, XmlNode, integer, text


class SnapshotDisk(XmlNode):
    TAG = "disk"
    name = text("./@name")
    snapshot = text("./@snapshot", doc="internal, external, no")


class DomainSnapshot(XmlNode):
    TAG = "domainsnapshot"
    ORDER = ("name", "description", "state", "creationTime", "memory", "disks", "parent", "domain")
    name = text("./name")
    description = text("./description")
    state = text("./state", doc="the machine's state when taken: running, shutoff, paused, disk-snapshot")
    created = integer("./creationTime", doc="seconds since the epoch")
    memory = text("./memory/@snapshot", doc="internal, external, no")
    parent = text("./parent/name")
    disks = XmlChildren(SnapshotDisk, "./disks/disk")
