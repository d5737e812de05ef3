"""The steps of a hardware edit, each with its opposite (registered with the task engine's
``OPERATIONS`` by the composition root, so crash recovery can undo a flow a crashed instance left).

Like every operation, each works from its parameters alone and its undo checks first, in
libvirt: each step seals its undo on the machine before it changes it (its mark and a
digest of what the undo acts with: the previous definition, the device unplugged, the
memory it had), and the undo runs only when the row matches that seal; the previous
definition goes back only while the machine still has the definition this step made (the
same fingerprint); a device is unplugged again only if it is still plugged in. Growing a
disk and deleting a volume cannot be undone (a disk is never shrunk; deleted data does not
come back): the flow runs them last.
"""
from __future__ import annotations


import libvirt

from ..core.errors import Refusal
from ..libvirt_xml.domain import Disk, Interface, read_domain
from ..libvirt_xml.storage import machine_using, overlays_of
from ..libvirt_xml.marks import seals_of, with_console_passwords, with_flow_mark
from ..hosts.lookups import find_domain, find_volume
from ..tasks.operations import Operation, Params, break_seal, end_marks, require_seal, seal_step
from .edit_xml import fingerprint
from .facts import GIB

LIVE = libvirt.VIR_DOMAIN_AFFECT_LIVE
INACTIVE = libvirt.VIR_DOMAIN_XML_INACTIVE


def _running(conn, params) -> libvirt.virDomain | None:
    dom = find_domain(conn, params["uuid"])
    return dom if dom is not None and dom.isActive() else None


def _plugged(dom: libvirt.virDomain, key: str) -> Disk | Interface | None:
    """The running machine's disk with target ``key``, or interface with MAC ``key``."""
    live = read_domain(dom)
    return live.disk(key) or live.interface(key)


class RedefineDomain(Operation):
    """params: uuid, name, xml (the new definition, with the flow's mark), previous (the
    definition it was planned from), mark. The definition it writes carries its seal (and the
    seals of the flow's earlier steps on the machine)."""

    def undo_data(self, params):
        return {"uuid": params["uuid"], "previous": params["previous"]}

    def prepare(self, conn, params):
        current = conn.lookupByUUIDString(params["uuid"]).XMLDesc(INACTIVE)
        if fingerprint(current) != fingerprint(params["previous"]):
            raise Refusal(f"{params['name']} was changed since its hardware was read (by another window or "
                          "client); open Edit Hardware again to see it as it is")
        return params

    def execute(self, conn, params):
        dom = conn.lookupByUUIDString(params["uuid"])
        own = (params["mark"], self.name, self.undo_seal(params))
        xml = with_flow_mark(params["xml"], params["mark"], (*seals_of(dom), own))
        conn.defineXML(with_console_passwords(dom, xml))
        return f"new definition of {params['name']}"

    def compensate(self, conn, params):
        dom = find_domain(conn, params["uuid"])
        if dom is None:
            return f"{params['name']} is gone"
        current = dom.XMLDesc(INACTIVE)
        if fingerprint(current) == fingerprint(params["previous"]):
            return f"{params['name']} has its previous definition"
        require_seal(dom, self, params, f"putting back the previous definition of {params['name']}")
        if fingerprint(current) != fingerprint(params["xml"]):
            raise Refusal(f"not putting back the previous definition of {params['name']}: it was changed since "
                          "by someone else (it is not the definition this flow made); left alone")
        # The previous definition, with only other flows' seals kept (one whose rollback waits for
        # its retry): this flow's later steps were undone before this one, and none comes before
        # it (the edit plan puts the new definition first).
        others = tuple(seal for seal in seals_of(dom) if seal[0] != params["mark"])
        previous = with_flow_mark(params["previous"], others[0][0], others) if others else params["previous"]
        conn.defineXML(with_console_passwords(dom, previous))
        return f"previous definition of {params['name']} back"

    def after_flow(self, conn, params):
        end_marks(conn, params)

    def machines_changed(self, params, host_uri):
        return [(host_uri, params["uuid"])]

    def undo_title(self, params):
        return f"Put back the previous definition of {params['name']}"

    def leftover(self, params):
        return f"the edited definition of {params['name']}"


class SealedLiveStep(Operation):
    """A change to a running machine: ``prepare`` seals its undo on the machine (after
    reading what the undo needs); the undo runs only on the machine that carries that seal."""

    def seal(self, conn, params) -> Params:
        return seal_step(conn.lookupByUUIDString(params["uuid"]), self, params)

    def sealed(self, conn, params, doing: str) -> libvirt.virDomain | None:
        """The running machine carrying this step's seal; None when it is not running."""
        dom = _running(conn, params)
        if dom is not None:
            require_seal(dom, self, params, f"{doing} {params['name']}")
        return dom

    def after_flow(self, conn, params):
        end_marks(conn, params)


class AttachDevice(SealedLiveStep):
    """params: uuid, name, xml (a <disk> or <interface>), key (its target or MAC)."""

    def undo_data(self, params):
        return {"uuid": params["uuid"], "xml": params["xml"], "key": params["key"]}

    def prepare(self, conn, params):
        return self.seal(conn, params)

    def execute(self, conn, params):
        conn.lookupByUUIDString(params["uuid"]).attachDeviceFlags(params["xml"], LIVE)
        return f"plugged {params['key']} into {params['name']}"

    def compensate(self, conn, params):
        dom = _running(conn, params)
        if dom is None or _plugged(dom, params["key"]) is None:
            return f"{params['key']} is not plugged into {params['name']}"
        self.sealed(conn, params, f"unplugging {params['key']} from")
        dom.detachDeviceFlags(params["xml"], LIVE)
        break_seal(dom, self, params)
        return f"unplugged {params['key']} from {params['name']}"

    def undo_title(self, params):
        return f"Unplug {params['key']} from {params['name']}"

    def leftover(self, params):
        return f"{params['key']} plugged into {params['name']}"


class DetachDevice(SealedLiveStep):
    """params: uuid, name, xml (the device as defined), key; prepare keeps the running
    machine's own description of it (``plugged``), what plugging it back in needs."""

    def undo_data(self, params):
        return {"uuid": params["uuid"], "key": params["key"], "plugged": params.get("plugged", "")}

    def prepare(self, conn, params):
        dom = conn.lookupByUUIDString(params["uuid"])
        element = _plugged(dom, params["key"]) if dom.isActive() else None
        return self.seal(conn, {**params, "plugged": element.to_xml() if element is not None else ""})

    def execute(self, conn, params):
        if not params.get("plugged"):
            return f"{params['key']} was not plugged into {params['name']}"
        conn.lookupByUUIDString(params["uuid"]).detachDeviceFlags(params["plugged"], LIVE)
        return f"unplugged {params['key']} from {params['name']}"

    def compensate(self, conn, params):
        dom = _running(conn, params)
        if dom is None or not params.get("plugged") or _plugged(dom, params["key"]) is not None:
            return f"{params['key']} is where it was in {params['name']}"
        self.sealed(conn, params, f"plugging {params['key']} back into")
        dom.attachDeviceFlags(params["plugged"], LIVE)
        break_seal(dom, self, params)
        return f"plugged {params['key']} back into {params['name']}"

    def undo_title(self, params):
        return f"Plug {params['key']} back into {params['name']}"

    def leftover(self, params):
        return f"{params['key']} unplugged from {params['name']}"


class UpdateDevice(SealedLiveStep):
    """params: uuid, name, xml (the interface after), previous (before), key."""

    def undo_data(self, params):
        return {"uuid": params["uuid"], "key": params["key"], "previous": params["previous"]}

    def prepare(self, conn, params):
        return self.seal(conn, params)

    def execute(self, conn, params):
        conn.lookupByUUIDString(params["uuid"]).updateDeviceFlags(params["xml"], LIVE)
        return f"changed {params['key']} of {params['name']}"

    def compensate(self, conn, params):
        dom = self.sealed(conn, params, f"changing {params['key']} back in")
        if dom is None:
            return f"{params['name']} is not running"
        dom.updateDeviceFlags(params["previous"], LIVE)
        break_seal(dom, self, params)
        return f"{params['key']} of {params['name']} as it was"

    def undo_title(self, params):
        return f"Change {params['key']} of {params['name']} back"

    def leftover(self, params):
        return f"{params['key']} of {params['name']} changed while it runs"


class SetVcpusLive(SealedLiveStep):
    """params: uuid, name, value; prepare records the running machine's count."""

    def undo_data(self, params):
        return {"uuid": params["uuid"], "previous": int(params.get("previous") or 0)}

    def prepare(self, conn, params):
        return self.seal(conn, {**params, "previous": conn.lookupByUUIDString(params["uuid"]).vcpusFlags(LIVE)})

    def execute(self, conn, params):
        conn.lookupByUUIDString(params["uuid"]).setVcpusFlags(int(params["value"]), LIVE)
        return f"{params['name']} runs with {params['value']} vCPUs"

    def compensate(self, conn, params):
        dom = self.sealed(conn, params, "giving back the vCPUs of")
        if dom is None:
            return f"{params['name']} is not running"
        dom.setVcpusFlags(int(params["previous"]), LIVE)
        break_seal(dom, self, params)
        return f"{params['name']} back to {params['previous']} vCPUs"

    def undo_title(self, params):
        return f"Give running {params['name']} its vCPUs back"

    def leftover(self, params):
        return f"{params['name']} running with {params['value']} vCPUs"


class SetMemoryLive(SealedLiveStep):
    """params: uuid, name, kib; prepare records what the running machine has."""

    def undo_data(self, params):
        return {"uuid": params["uuid"], "previous": int(params.get("previous") or 0)}

    def prepare(self, conn, params):
        return self.seal(conn, {**params, "previous": conn.lookupByUUIDString(params["uuid"]).info()[2]})

    def execute(self, conn, params):
        conn.lookupByUUIDString(params["uuid"]).setMemoryFlags(int(params["kib"]), LIVE)
        return f"{params['name']} runs with {int(params['kib']) // 1024} MiB"

    def compensate(self, conn, params):
        dom = self.sealed(conn, params, "giving back the memory of")
        if dom is None:
            return f"{params['name']} is not running"
        dom.setMemoryFlags(int(params["previous"]), LIVE)
        break_seal(dom, self, params)
        return f"{params['name']} back to {int(params['previous']) // 1024} MiB"

    def undo_title(self, params):
        return f"Give running {params['name']} its memory back"

    def leftover(self, params):
        return f"{params['name']} running with {int(params['kib']) // 1024} MiB"


_METADATA = {"title": libvirt.VIR_DOMAIN_METADATA_TITLE, "description": libvirt.VIR_DOMAIN_METADATA_DESCRIPTION}


class SetMetadataLive(SealedLiveStep):
    """params: uuid, name, field (title or description), value; prepare records the old one."""

    def undo_data(self, params):
        return {"uuid": params["uuid"], "field": params["field"], "previous": params.get("previous", "")}

    def prepare(self, conn, params):
        if params["field"] not in _METADATA:
            raise Refusal(f"{params['field']!r} is not a title or a description")
        live = read_domain(conn.lookupByUUIDString(params["uuid"]))
        return self.seal(conn, {**params, "previous": live.title if params["field"] == "title" else live.description})

    def _set(self, dom, params, value: str) -> None:
        dom.setMetadata(_METADATA[params["field"]], value or None, None, None, LIVE)

    def execute(self, conn, params):
        self._set(conn.lookupByUUIDString(params["uuid"]), params, params["value"])
        return f"{params['field']} of running {params['name']} set"

    def compensate(self, conn, params):
        dom = self.sealed(conn, params, f"putting back the {params['field']} of")
        if dom is None or params["field"] not in _METADATA:
            return f"{params['name']} is not running"
        self._set(dom, params, params["previous"])
        break_seal(dom, self, params)
        return f"{params['field']} of running {params['name']} as it was"

    def undo_title(self, params):
        return f"Put back the {params['field']} of running {params['name']}"

    def leftover(self, params):
        return f"the new {params['field']} of running {params['name']}"


class ResizeDisk(Operation):
    """params: uuid, name, target, pool, volume, capacity (bytes), live (grow through the
    running machine, else the volume itself). Never undone: a disk is not shrunk."""

    def prepare(self, conn, params):
        volume = find_volume(conn, params["pool"], params["volume"])
        return {**params, "previous": volume.info()[1] if volume is not None else 0}

    def execute(self, conn, params):
        if params.get("live"):
            conn.lookupByUUIDString(params["uuid"]).blockResize(params["target"], int(params["capacity"]),
                                                                 libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)
        else:
            conn.storagePoolLookupByName(params["pool"]).storageVolLookupByName(params["volume"]).resize(
                int(params["capacity"]), 0)
        return f"disk {params['target']} of {params['name']} grown to {int(params['capacity']) / GIB:g} GiB"

    def compensate(self, conn, params):
        return (f"disk {params['target']} of {params['name']} left at {int(params['capacity']) / GIB:g} GiB: "
                "a disk is never shrunk (the guest may use the space)")

    def undo_title(self, params):
        return f"Leave disk {params['target']} of {params['name']} grown"

    def leftover(self, params):
        return f"disk {params['target']} of {params['name']} grown"


class DeleteVolume(Operation):
    """params: uuid, name (the machine it was a disk of), pool, volume. Runs last, after the
    machine stopped using it; a volume any machine still uses is kept. A refusal keeps the
    volume and says so without failing the edit (which is done by then)."""

    def execute(self, conn, params):
        volume = find_volume(conn, params["pool"], params["volume"])
        label = f"{params['pool']}/{params['volume']}"
        if volume is None:
            return f"volume {label} already gone"
        user = machine_using(conn, {volume.path(), label})
        if user:
            return f"kept volume {label}: {user} still uses it"
        overlays = overlays_of(conn, params["pool"], volume.path())
        if overlays:
            return f"kept volume {label}: it is the base of linked clone volume {', '.join(overlays)}"
        try:
            volume.delete(0)
        except libvirt.libvirtError as exc:
            return f"kept volume {label}: the host refused to delete it ({exc.get_error_message()})"
        return f"deleted volume {label}"

    def compensate(self, conn, params):
        if find_volume(conn, params["pool"], params["volume"]) is not None:
            return f"volume {params['pool']}/{params['volume']} was not deleted"
        # Final, and the review said so: nothing to undo (a Refusal here would leave the rollback
        # failing, and Retry failing again, for ever).
        return f"volume {params['pool']}/{params['volume']} was deleted; its data cannot be brought back"

    def undo_title(self, params):
        return f"Check volume {params['pool']}/{params['volume']}"

    def leftover(self, params):
        return f"volume {params['pool']}/{params['volume']} deleted"


STEPS = (
    RedefineDomain("redefine_domain"), AttachDevice("attach_device"), DetachDevice("detach_device"),
    UpdateDevice("update_device"), SetVcpusLive("set_vcpus_live"), SetMemoryLive("set_memory_live"),
    SetMetadataLive("set_metadata_live"), ResizeDisk("resize_disk"),
    DeleteVolume("delete_volume"),
)
