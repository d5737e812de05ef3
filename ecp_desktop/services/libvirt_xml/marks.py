"""A flow's mark on the machines it makes or changes, kept in libvirt (the machine's own
``<metadata>``), and the console passwords a definition written back must keep.

A machine a flow of ours defines carries the flow's mark (a random token kept with the step)
until the flow has ended. An undo acts only on a machine that carries the mark of the step it
undoes: a task row alone (another operator can write one) never makes this app undefine or
stop a machine it did not make. Blocking calls: a host's worker.
"""
from __future__ import annotations

import libvirt

from .domain import FLOW_NS, Domain, FlowMark
from .xmlmodel import XmlError, parse

__all__ = ["FLOW_NS", "clear_flow_mark", "flow_mark", "set_flow_mark", "with_console_passwords", "with_flow_mark"]


def with_flow_mark(xml: str, mark: str) -> str:
    """The definition with the flow's mark in its <metadata>."""
    domain = Domain.from_xml(xml)
    domain.flow_mark = mark
    return domain.to_xml()


def flow_mark(dom: libvirt.virDomain) -> str:
    """The flow mark the machine carries ("" when none)."""
    try:
        text = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, FLOW_NS, libvirt.VIR_DOMAIN_AFFECT_CONFIG
                            if dom.isPersistent() else libvirt.VIR_DOMAIN_AFFECT_LIVE)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            return ""
        raise
    try:
        return FlowMark(parse(text)).mark  # whatever prefix libvirt gave it
    except XmlError:
        return ""


def _both(dom: libvirt.virDomain) -> int:
    flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG if dom.isPersistent() else 0
    return flags | (libvirt.VIR_DOMAIN_AFFECT_LIVE if dom.isActive() else 0)


def set_flow_mark(dom: libvirt.virDomain, mark: str) -> None:
    """Mark a machine a flow is about to change (its definition and, if running, its live state)."""
    element = FlowMark(mark=mark)
    element.element.tag = "flow"  # libvirt puts it in the namespace given beside it
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, element.to_xml(), "ecp", FLOW_NS, _both(dom))


def clear_flow_mark(dom: libvirt.virDomain) -> None:
    """The flow is over: the machine is the user's now, and no undo may touch it."""
    try:
        dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, None, None, FLOW_NS, _both(dom))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            raise


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
