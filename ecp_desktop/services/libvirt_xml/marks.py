"""A flow's mark on the machines it makes or changes, kept in libvirt (the machine's own
``<metadata>``), and the console passwords a definition written back must keep.

A machine a flow of ours defines carries the flow's mark (a random token kept with the step)
until the flow has ended. An undo acts only on a machine that carries the mark of the step it
undoes: a task row alone (another operator can write one) never makes this app undefine or
stop a machine it did not make. A step that changes a machine it did not define seals its
undo there too (``seal_undo``): its mark, its operation and a digest of what the undo will
act with (the previous memory, the unplugged device, the volume it makes for the machine).
The undo runs only when the row's data give the same digest (``has_seal``), so a forged row
can neither aim an undo at another machine nor give it other data. Blocking calls: a host's
worker.
"""
from __future__ import annotations

import hashlib
import json

import libvirt

from .domain import FLOW_NS, HOME_NS, Domain, FlowMark, HomeMark, UndoSeal
from .xmlmodel import XmlError, parse

__all__ = ["FLOW_NS", "carries_mark", "clear_flow_mark", "clear_home_mark", "end_flow_marks", "flow_mark",
           "flow_state", "has_seal", "home_mark", "legacy_mark", "put_flow_state",
           "seal_undo", "seals_of", "set_home_mark", "undo_digest", "unseal_undo", "with_console_passwords",
           "with_flow_mark", "without_app_marks"]


def undo_digest(op: str, data: dict) -> str:
    """The digest of what an undo acts with (JSON, keys sorted: the same data, the same digest)."""
    text = json.dumps([op, data], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


Seal = tuple[str, str, str]  # (mark, operation, digest)


def with_flow_mark(xml: str, mark: str, seals: tuple[Seal, ...] = ()) -> str:
    """The definition with the flow's mark in its <metadata>, and ``seals`` (the undos sealed
    into the definition it writes)."""
    domain = Domain.from_xml(xml)
    domain.flow_mark = mark
    flow = domain.flow_marks[0]
    for seal_mark, op, digest in dict.fromkeys(seals):
        flow.seals.append(UndoSeal(mark=seal_mark, op=op, digest=digest))
    return domain.to_xml()


def without_app_marks(xml: str) -> str:
    """The definition without this app's own bookkeeping (a flow's mark and seals, an
    evacuation's home mark): the machine's configuration as its user owns it."""
    if FLOW_NS not in xml and HOME_NS not in xml:
        return xml  # no mark of ours can be in it (each is in one of these namespaces)
    domain = Domain.from_xml(xml)
    domain.flow_mark = ""
    for home in list(domain.home_marks):
        domain.home_marks.remove(home)
    return domain.to_xml()


def seals_of(dom: libvirt.virDomain) -> tuple[Seal, ...]:
    """The seals the machine carries (a redefinition keeps them: the flow's earlier steps')."""
    flow = _read_flow(dom)
    return tuple((s.mark, s.op, s.digest) for s in flow.seals) if flow is not None else ()


def _metadata(dom: libvirt.virDomain, namespace: str, kind):
    """Our element under ``namespace`` in the machine's definition (its running state when it
    has no definition), as ``kind``; None when it has none, or one that does not parse."""
    try:
        text = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, namespace, libvirt.VIR_DOMAIN_AFFECT_CONFIG
                            if dom.isPersistent() else libvirt.VIR_DOMAIN_AFFECT_LIVE)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            return None
        raise
    try:
        return kind(parse(text))  # whatever prefix libvirt gave it
    except XmlError:
        return None


def _read_flow(dom: libvirt.virDomain) -> FlowMark | None:
    return _metadata(dom, FLOW_NS, FlowMark)


def flow_mark(dom: libvirt.virDomain) -> str:
    """The flow mark the machine carries ("" when none)."""
    flow = _read_flow(dom)
    return flow.mark if flow is not None else ""


def carries_mark(dom: libvirt.virDomain, mark: str) -> bool:
    """Whether any seal on the machine is under ``mark`` (never for an empty mark)."""
    flow = _read_flow(dom) if mark else None
    return flow is not None and any(s.mark == mark for s in flow.seals)


def legacy_mark(dom: libvirt.virDomain, mark: str) -> bool:
    """A machine marked by the version before seals (its flow's mark, and no seal at all): what
    an undo of a flow interrupted before the upgrade may still act on."""
    flow = _read_flow(dom) if mark else None
    return flow is not None and flow.mark == mark and not len(flow.seals)


def has_seal(dom: libvirt.virDomain, mark: str, op: str, digest: str) -> bool:
    """Whether the machine carries this step's sealed undo (never for an empty mark)."""
    flow = _read_flow(dom) if mark and digest else None
    return flow is not None and any((s.mark, s.op, s.digest) == (mark, op, digest) for s in flow.seals)


def seal_undo(dom: libvirt.virDomain, mark: str, op: str, digest: str) -> None:
    """Seal a step's undo on the machine, before the step changes it (kept with any mark and
    seals it carries: the flow's earlier steps)."""
    flow = _read_flow(dom) or FlowMark(mark=mark)
    if not any((s.mark, s.op, s.digest) == (mark, op, digest) for s in flow.seals):
        flow.seals.append(UndoSeal(mark=mark, op=op, digest=digest))
    _write_flow(dom, flow)


def unseal_undo(dom: libvirt.virDomain, mark: str, op: str, digest: str) -> None:
    """The undo ran: its seal goes (a second row with the same data finds nothing to undo)."""
    flow = _read_flow(dom)
    if flow is None:
        return
    _keep(dom, flow, lambda s: (s.mark, s.op, s.digest) != (mark, op, digest))


def end_flow_marks(dom: libvirt.virDomain, mark: str) -> None:
    """The flow under ``mark`` ended: its seals go; another flow's (one whose rollback failed
    and waits for its retry) stay."""
    flow = _read_flow(dom)
    if flow is not None:
        _keep(dom, flow, lambda s: s.mark != mark, drop_top=flow.mark == mark)


def _keep(dom: libvirt.virDomain, flow: FlowMark, keep, drop_top: bool = False) -> None:
    gone = [s for s in flow.seals if not keep(s)]
    if not gone and not drop_top:
        return
    for seal in gone:
        flow.seals.remove(seal)
    if len(flow.seals):
        if drop_top or not flow.mark:
            flow.mark = flow.seals[0].mark
        _write_flow(dom, flow)
    else:  # the last seal: the machine carries nothing of any flow now
        clear_flow_mark(dom)


def flow_state(dom: libvirt.virDomain) -> str:
    """The machine's flow element as text ("" when none): put back with ``put_flow_state``
    where libvirt would bring back an older one (a snapshot's revert)."""
    flow = _read_flow(dom)
    if flow is None:
        return ""
    flow.element.tag = "flow"
    return flow.to_xml()


def put_flow_state(dom: libvirt.virDomain, state: str) -> None:
    if state:
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, state, "ecp", FLOW_NS, _both(dom))
    else:
        clear_flow_mark(dom)


def _both(dom: libvirt.virDomain) -> int:
    flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG if dom.isPersistent() else 0
    return flags | (libvirt.VIR_DOMAIN_AFFECT_LIVE if dom.isActive() else 0)


def _write_flow(dom: libvirt.virDomain, flow: FlowMark) -> None:
    flow.element.tag = "flow"  # libvirt puts it in the namespace given beside it
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, flow.to_xml(), "ecp", FLOW_NS, _both(dom))


def _remove_metadata(dom: libvirt.virDomain, namespace: str) -> None:
    try:
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None, namespace, _both(dom))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            raise


def clear_flow_mark(dom: libvirt.virDomain) -> None:
    """Every flow is over: the machine is the user's now, and no undo may touch it."""
    _remove_metadata(dom, FLOW_NS)


def with_console_passwords(dom: libvirt.virDomain, xml: str) -> str:
    """``xml`` with the console passwords the machine's definition has now. Definitions read for
    a plan or kept in the task history leave them out (no VIR_DOMAIN_XML_SECURE: secrets stay
    out of the database), so a definition written back from them would drop the password and
    open the console to whoever reaches its port."""
    secure = Domain.from_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE))
    kept: dict[str, tuple[str, str]] = {}  # graphics type -> (passwd, passwdValidTo): one of each type
    for graphics in secure.graphics:
        if graphics.element.get("passwd") is not None:
            kept.setdefault(graphics.kind, (graphics.passwd, graphics.passwd_valid_to))
    if not kept:
        return xml
    domain = Domain.from_xml(xml)
    for graphics in domain.graphics:
        if graphics.kind in kept and graphics.element.get("passwd") is None:
            graphics.passwd, graphics.passwd_valid_to = kept[graphics.kind]
    return domain.to_xml()


def set_home_mark(dom: libvirt.virDomain, host_uri: str) -> None:
    """The machine is about to leave ``host_uri`` for an evacuation: it carries where it came from."""
    element = HomeMark(host=host_uri)
    element.element.tag = "home"
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, element.to_xml(), "ecphome", HOME_NS, _both(dom))


def home_mark(dom: libvirt.virDomain) -> str:
    """The host an evacuation moved the machine away from ("" when none)."""
    home = _metadata(dom, HOME_NS, HomeMark)
    return home.host if home is not None else ""


def clear_home_mark(dom: libvirt.virDomain) -> None:
    """The machine is home again (or stays where it is for good)."""
    _remove_metadata(dom, HOME_NS)
