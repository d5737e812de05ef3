"""Objects over libvirt XML documents: each field declared once, as a path, and used both to
read and to write (virt-manager's ``virtinst`` ``XMLProperty("./@file")`` is the model).

An :class:`XmlNode` wraps one element of a parsed tree. Reading a field follows its path;
writing it creates the elements on the way, placed where libvirt writes them (the class's
``ORDER``), and setting it to ``None`` (or ``""``, or ``False`` for a flag) removes it and any
element left empty. Whatever the model does not declare stays in the tree untouched, so a
definition read, changed and written back keeps the rest of what libvirt gave.

Text from libvirt, a file or an inventory row is data: every value is a plain ``str``,
``int`` or ``bool`` that the serializer escapes; nothing is pasted into XML text. This module
(and the vocabulary package around it) is the only place that imports ``xml.etree``.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Generic, TypeVar

Element = ET.Element


class XmlError(ValueError):
    """Not a document of the kind expected; the message says why in words."""


def parse(text: str) -> ET.Element:
    """The root element of ``text``. A document type declaration is refused (libvirt never
    writes one, and entities are how XML reads files or grows without bound)."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise XmlError("the XML has a document type declaration, which no libvirt document has")
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise XmlError(f"the XML is not well-formed: {exc}") from None


def serialize(element: ET.Element) -> str:
    return ET.tostring(element, encoding="unicode")


def indent(root: ET.Element) -> None:
    """Lay the tree out two spaces a level (whitespace-only text between elements replaced)."""
    for element in root.iter():
        if element.text is not None and not element.text.strip() and len(element):
            element.text = None
        element.tail = None
    ET.indent(root, "  ")


def register_prefix(prefix: str, namespace: str) -> None:
    """Serialize elements of ``namespace`` with ``prefix`` (instead of ``ns0``)."""
    ET.register_namespace(prefix, namespace)


_STEP = re.compile(r"\{[^}]*\}[^/]+|[^/]+")


def _steps(path: str) -> tuple[list[str], str | None]:
    """``./target/@dev`` -> (["target"], "dev"); ``./name`` -> (["name"], None)."""
    parts = [p for p in _STEP.findall(path.removeprefix(".")) if p]  # a namespace URI may hold "/"
    if parts and parts[-1].startswith("@"):
        return parts[:-1], parts[-1][1:]
    return parts, None


def _insert_ordered(parent: ET.Element, child: ET.Element, order: tuple[str, ...]) -> None:
    """Append ``child``, or put it before the first sibling that ``order`` places after it."""
    if child.tag in order:
        rank = order.index(child.tag)
        for index, sibling in enumerate(parent):
            if sibling.tag in order and order.index(sibling.tag) > rank:
                parent.insert(index, child)
                return
    parent.append(child)


def _empty(element: ET.Element) -> bool:
    return not element.attrib and not len(element) and not (element.text or "").strip()


def _chain(root: ET.Element, steps: list[str]) -> list[ET.Element] | None:
    """``root`` and the elements along ``steps`` under it; None when one is missing."""
    chain = [root]
    for step in steps:
        found = chain[-1].find(step)
        if found is None:
            return None
        chain.append(found)
    return chain


def _made(root: ET.Element, steps: list[str], order: tuple[str, ...]) -> ET.Element:
    """The element at ``steps`` under ``root``, made where missing (a child of ``root`` placed
    in ``order``, deeper ones appended)."""
    element = root
    for depth, step in enumerate(steps):
        found = element.find(step)
        if found is None:
            found = ET.Element(step)
            _insert_ordered(element, found, order if depth == 0 else ())
        element = found
    return element


def _prune(chain: list[ET.Element]) -> None:
    """Remove the elements at the end of ``chain`` that were left empty (never its root)."""
    for parent, child in zip(reversed(chain[:-1]), reversed(chain[1:]), strict=True):
        if not _empty(child):
            break
        parent.remove(child)


V = TypeVar("V")


class XmlProperty(Generic[V]):
    """One field: an attribute (``./target/@dev``) or an element's text (``./name``).

    ``read`` turns the raw text (None when absent) into the value; ``write`` turns a value
    into text, or None to remove it.
    """

    kind = "text"  # what values it takes: text, integer, flag, yes_no, size (the property test's samples)

    def __init__(self, path: str, read: Callable[[str | None], V], write: Callable[[Any], str | None],
                 doc: str = "", kind: str = "text") -> None:
        self.path, self.kind = path, kind
        self.steps, self.attribute = _steps(path)
        self.read, self.write = read, write
        self.__doc__ = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, node: XmlNode | None, owner: type) -> Any:
        if node is None:
            return self
        return self.read(self.raw(node.element))

    def raw(self, element: ET.Element) -> str | None:
        chain = _chain(element, self.steps)
        if chain is None:
            return None
        return chain[-1].text if self.attribute is None else chain[-1].get(self.attribute)

    def __set__(self, node: XmlNode, value: Any) -> None:
        self.put(node, self.write(value))

    def put(self, node: XmlNode, text: str | None) -> ET.Element | None:
        """Write ``text`` at the path (None: remove it); the element written, if any."""
        if text is None:
            self._remove(node.element)
            return None
        element = _made(node.element, self.steps, node.ORDER)
        if self.attribute is None:
            element.text = text
        else:
            element.set(self.attribute, text)
        return element

    def _remove(self, root: ET.Element) -> None:
        chain = _chain(root, self.steps)
        if chain is None:
            return
        if self.attribute is None:
            chain[-1].text = None
        else:
            chain[-1].attrib.pop(self.attribute, None)
        _prune(chain)


def _text_or_none(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def text(path: str, default: str = "", doc: str = "") -> XmlProperty[str]:
    """A string field; ``default`` when absent. Setting "" or None removes it."""
    return XmlProperty(path, lambda raw: default if raw is None else raw, _text_or_none, doc)


def whole_number(text_value: str | None) -> int | None:
    """A count written in a document (another client's text): None when it is not one."""
    stripped = (text_value or "").strip()
    digits = stripped.removeprefix("-")
    if not digits.isascii() or not digits.isdigit():
        return None
    return int(stripped)


def integer(path: str, default: int = 0, doc: str = "") -> XmlProperty[int]:
    """A whole-number field; ``default`` when absent or not a number. Setting None removes it."""
    def read(raw: str | None) -> int:
        value = whole_number(raw)
        return default if value is None else value
    return XmlProperty(path, read, lambda value: None if value is None else str(int(value)), doc, "integer")


def flag(path: str, doc: str = "") -> XmlProperty[bool]:
    """True when the element is there (``<readonly/>``); setting False removes it."""
    return _PresenceProperty(path, doc)


class _PresenceProperty(XmlProperty[bool]):
    def __init__(self, path: str, doc: str) -> None:
        super().__init__(path, bool, lambda value: "" if value else None, doc, "flag")

    def __get__(self, node: XmlNode | None, owner: type) -> Any:
        if node is None:
            return self
        return _chain(node.element, self.steps) is not None

    def __set__(self, node: XmlNode, value: Any) -> None:
        if value:
            if not self.__get__(node, type(node)):
                self.put(node, "").text = None
        else:
            self._remove_element(node.element)

    def _remove_element(self, root: ET.Element) -> None:
        chain = _chain(root, self.steps[:-1])
        if chain is None:
            return
        for found in chain[-1].findall(self.steps[-1]):
            chain[-1].remove(found)
        _prune(chain)


def yes_no(path: str, doc: str = "") -> XmlProperty[bool | None]:
    """An attribute written ``yes``/``no``; None when absent."""
    return XmlProperty(path, lambda raw: None if raw is None else raw.strip().lower() in ("yes", "on"),
                       lambda value: None if value is None else ("yes" if value else "no"), doc, "yes_no")


# Units libvirt accepts for sizes, in KiB (its default unit for memory).
UNITS_KIB = {"b": 1 / 1024, "bytes": 1 / 1024, "k": 1, "kib": 1, "kb": 1000 / 1024, "m": 1024, "mib": 1024,
             "mb": 1000**2 / 1024, "g": 1024**2, "gib": 1024**2, "gb": 1000**3 / 1024, "t": 1024**3,
             "tib": 1024**3, "tb": 1000**4 / 1024}


class SizeProperty(XmlProperty[int]):
    """An element whose text is a size in its ``unit`` attribute (KiB when absent), read as
    ``scale`` units (KiB: 1, bytes: 1/1024) and written with the unit ``written_unit``."""

    def __init__(self, path: str, scale: float = 1.0, written_unit: str = "KiB", doc: str = "") -> None:
        super().__init__(path, lambda raw: 0, lambda value: None, doc, "size")
        self.scale, self.written_unit = scale, written_unit

    def __get__(self, node: XmlNode | None, owner: type) -> Any:
        if node is None:
            return self
        chain = _chain(node.element, self.steps)
        number = whole_number(chain[-1].text) if chain is not None else None
        if number is None or number < 0:
            return 0
        kib = number * UNITS_KIB.get(chain[-1].get("unit", "KiB").lower(), 1)
        return int(kib / self.scale)

    def __set__(self, node: XmlNode, value: Any) -> None:
        if value is None:
            chain = _chain(node.element, self.steps)
            if chain is not None:
                chain[-1].attrib.clear()  # the unit goes with the number
                self.put(node, None)
            return
        self.put(node, str(int(value))).attrib = {"unit": self.written_unit}


N = TypeVar("N", bound="XmlNode")


class XmlChildren(Generic[N]):
    """Every element at ``path`` as a node of ``kind``: ``domain.disks`` for ``./devices/disk``."""

    def __init__(self, kind: type[N], path: str) -> None:
        self.kind, self.path = kind, path
        self.parent_steps, _attribute = _steps(path)
        self.tag = self.parent_steps.pop()

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, node: XmlNode | None, owner: type) -> Any:
        if node is None:
            return self
        return ChildList(node, self)


class ChildList(Generic[N]):
    """The children of one node: iterate, index, ``append`` (placed in the parent's order) and
    ``remove``."""

    def __init__(self, node: XmlNode, declared: XmlChildren[N]) -> None:
        self.node, self.declared = node, declared

    def _parent(self, create: bool) -> ET.Element | None:
        if create:
            return _made(self.node.element, self.declared.parent_steps, self.node.ORDER)
        chain = _chain(self.node.element, self.declared.parent_steps)
        return chain[-1] if chain is not None else None

    def _elements(self) -> list[ET.Element]:
        parent = self._parent(create=False)
        return [] if parent is None else parent.findall(self.declared.tag)

    def __iter__(self) -> Iterator[N]:
        return (self.node.wrap(self.declared.kind, element) for element in self._elements())

    def __len__(self) -> int:
        return len(self._elements())

    def __getitem__(self, index: int) -> N:
        return self.node.wrap(self.declared.kind, self._elements()[index])

    def __bool__(self) -> bool:
        return bool(self._elements())

    def append(self, child: N) -> N:
        parent = self._parent(create=True)
        order = self.declared.kind.SIBLING_ORDER or (self.node.ORDER if not self.declared.parent_steps else ())
        _insert_ordered(parent, child.element, order)
        return child

    def remove(self, child: N) -> None:
        """Remove the child, and the elements on its path that it leaves empty."""
        chain = _chain(self.node.element, self.declared.parent_steps)
        if chain is None or not any(e is child.element for e in chain[-1]):
            return
        chain[-1].remove(child.element)
        _prune(chain)


class XmlNode:
    """An object over one element. Subclasses declare ``TAG``, their fields (XmlProperty,
    XmlChildren) and ``ORDER``, the order libvirt writes their child elements in."""

    TAG: ClassVar[str] = ""
    ORDER: ClassVar[tuple[str, ...]] = ()
    SIBLING_ORDER: ClassVar[tuple[str, ...]] = ()  # where this element goes among its siblings

    def __init__(self, element: ET.Element | None = None, /, **values: Any) -> None:
        self.element = ET.Element(self.TAG) if element is None else element
        self._children: dict[int, XmlNode] = {}
        for name, value in values.items():
            if not hasattr(type(self), name):
                raise TypeError(f"{type(self).__name__} has no field {name!r}")
            setattr(self, name, value)

    @classmethod
    def from_xml(cls: type[N], text_value: str) -> N:
        root = parse(text_value)
        if cls.TAG and root.tag != cls.TAG:
            raise XmlError(f"expected a <{cls.TAG}> document, not <{root.tag}>")
        return cls(root)

    def to_xml(self) -> str:
        return serialize(self.element)

    @classmethod
    def declared(cls) -> dict[str, XmlProperty | XmlChildren]:
        """Every field the class and its bases declare, by name (what the property test walks)."""
        found: dict[str, XmlProperty | XmlChildren] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, XmlProperty | XmlChildren):
                    found[name] = value
        return found

    def wrap(self, kind: type[N], element: ET.Element) -> N:
        """The one node over a child element: the same object each time it is asked for, so
        what a reader adds to it (a disk's located storage) stays with it."""
        node = self._children.get(id(element))
        if node is None or node.element is not element:
            node = self._children[id(element)] = kind(element)
        return node  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.to_xml()[:80]!r}>"
