"""Serialise SOAP 1.2 envelopes the way a vendor's firmware does (pure; no I/O).

Bodies are small trees of ``Node``; a ``WireStyle`` decides the envelope prefix, the namespace declarations
(firmware declares dozens it never uses), the XML declaration and the line layout:

- ``crlf``: CRLF after every closing tag, nothing else (Hikvision ``App-webs``; the DS-2DF7286-A captures).
- ``indent``: two-space indentation with LF and no final newline (Dahua and Uniview examples).
- ``compact``: one line (gSOAP on Axis; Dahua GetCapabilities).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from xml.sax.saxutils import escape as _escape
from xml.sax.saxutils import quoteattr

SOAP_ENV_NS = "http://www.w3.org/2003/05/soap-envelope"
TT_NS = "http://www.onvif.org/ver10/schema"
TDS_NS = "http://www.onvif.org/ver10/device/wsdl"
TER_NS = "http://www.onvif.org/ver10/error"


def escape(text: str) -> str:
    """Escape character data; CR as a reference so that parsers do not fold it into LF."""
    return _escape(text, {"\r": "&#13;"})


class Layout(StrEnum):
    CRLF = "crlf"
    INDENT = "indent"
    COMPACT = "compact"


@dataclass(frozen=True)
class Node:
    """An element: qualified name with one of the declared prefixes, attributes, children or text."""

    tag: str
    children: tuple[Node, ...] = ()
    text: str | None = None
    attrs: tuple[tuple[str, str], ...] = ()


def el(tag: str, *children: Node | str | None, **attrs: str) -> Node:
    """Build a Node; a single str child is the text, None children are dropped (optional elements)."""
    kids = [c for c in children if c is not None]
    if len(kids) == 1 and isinstance(kids[0], str):
        return Node(tag, text=kids[0], attrs=tuple(attrs.items()))
    nodes = tuple(c for c in kids if isinstance(c, Node))
    if len(nodes) != len(kids):
        raise TypeError(f"{tag}: mix of text and elements")
    return Node(tag, children=nodes, attrs=tuple(attrs.items()))


# Namespace declarations per firmware family. The envelope prefix is added in front by ``envelope``.
# Hikvision declares its hik* extension namespaces; gSOAP builds (Axis, Uniview) declare wsse/wsu/c14n etc.
_COMMON_ONVIF = (
    ("tt", TT_NS),
    ("tds", TDS_NS),
)
NAMESPACE_SETS: dict[str, tuple[tuple[str, str], ...]] = {
    "minimal": _COMMON_ONVIF,
    "hikvision": (
        ("soapenc", "http://www.w3.org/2003/05/soap-encoding"),
        ("xsi", "http://www.w3.org/2001/XMLSchema-instance"),
        ("xs", "http://www.w3.org/2001/XMLSchema"),
        *_COMMON_ONVIF,
        ("trt", "http://www.onvif.org/ver10/media/wsdl"),
        ("timg", "http://www.onvif.org/ver20/imaging/wsdl"),
        ("tev", "http://www.onvif.org/ver10/events/wsdl"),
        ("tptz", "http://www.onvif.org/ver20/ptz/wsdl"),
        ("tan", "http://www.onvif.org/ver20/analytics/wsdl"),
        ("tst", "http://www.onvif.org/ver10/storage/wsdl"),
        ("ter", TER_NS),
        ("dn", "http://www.onvif.org/ver10/network/wsdl"),
        ("tns1", "http://www.onvif.org/ver10/topics"),
        ("tmd", "http://www.onvif.org/ver10/deviceIO/wsdl"),
        ("wsnt", "http://docs.oasis-open.org/wsn/b-2"),
        ("wsa", "http://www.w3.org/2005/08/addressing"),
        ("tnshik", "http://www.hikvision.com/2011/event/topics"),
        ("hikwsd", "http://www.onvifext.com/onvif/ext/ver10/wsdl"),
        ("hikxsd", "http://www.onvifext.com/onvif/ext/ver10/schema"),
    ),
    "dahua": (
        ("sc", "http://www.w3.org/2003/05/soap-encoding"),
        *_COMMON_ONVIF,
        ("ter", TER_NS),
    ),
    "gsoap-axis": (
        ("SOAP-ENC", "http://www.w3.org/2003/05/soap-encoding"),
        ("xsi", "http://www.w3.org/2001/XMLSchema-instance"),
        ("xsd", "http://www.w3.org/2001/XMLSchema"),
        ("c14n", "http://www.w3.org/2001/10/xml-exc-c14n#"),
        ("wsu", "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"),
        ("wsse", "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"),
        ("wsa5", "http://www.w3.org/2005/08/addressing"),
        *_COMMON_ONVIF,
        ("aa", "http://www.axis.com/vapix/ws/action1"),
        ("aev", "http://www.axis.com/vapix/ws/event1"),
        ("ter", TER_NS),
        ("tnsaxis", "http://www.axis.com/2009/event/topics"),
    ),
    "gsoap-uniview": (
        ("SOAP-ENC", "http://www.w3.org/2003/05/soap-encoding"),
        ("xsi", "http://www.w3.org/2001/XMLSchema-instance"),
        ("xsd", "http://www.w3.org/2001/XMLSchema"),
        ("tns", "http://tempuri.org/tns.xsd"),
        ("wsse", "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"),
        ("wsa", "http://schemas.xmlsoap.org/ws/2004/08/addressing"),
        ("tplt", "http://www.onvif.org/ver10/plus/schema"),
        *_COMMON_ONVIF,
        ("ter", TER_NS),
    ),
}


@dataclass(frozen=True)
class WireStyle:
    """How one firmware family writes its envelopes."""

    envelope_prefix: str = "SOAP-ENV"
    ns_set: str = "minimal"
    declaration: str = '<?xml version="1.0" encoding="UTF-8"?>'
    layout: Layout = Layout.COMPACT
    empty_header: bool = False
    extra_namespaces: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.ns_set not in NAMESPACE_SETS:
            raise ValueError(f"unknown namespace set {self.ns_set!r}; known: {sorted(NAMESPACE_SETS)}")

    @property
    def namespaces(self) -> tuple[tuple[str, str], ...]:
        decl = ((self.envelope_prefix, SOAP_ENV_NS), *NAMESPACE_SETS[self.ns_set], *self.extra_namespaces)
        if not any(p == "ter" for p, _ in decl):
            decl = (*decl, ("ter", TER_NS))
        return decl


def _start(node: Node, extra: Sequence[tuple[str, str]] = ()) -> str:
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in (*extra, *node.attrs))
    return f"<{node.tag}{attrs}>"


def _ser_compact(node: Node, out: list[str]) -> None:
    if node.text is not None:
        out.append(f"{_start(node)}{escape(node.text)}</{node.tag}>")
        return
    if not node.children:
        out.append(_start(node)[:-1] + "/>")
        return
    out.append(_start(node))
    for child in node.children:
        _ser_compact(child, out)
    out.append(f"</{node.tag}>")


def _ser_crlf(node: Node, out: list[str]) -> None:
    if node.text is not None or not node.children:
        out.append(f"{_start(node)}{escape(node.text or '')}</{node.tag}>\r\n")
        return
    out.append(_start(node))
    for child in node.children:
        _ser_crlf(child, out)
    out.append(f"</{node.tag}>\r\n")


def _ser_indent(node: Node, out: list[str], depth: int) -> None:
    pad = "  " * depth
    if node.text is not None:
        out.append(f"{pad}{_start(node)}{escape(node.text)}</{node.tag}>\n")
        return
    if not node.children:
        out.append(f"{pad}{_start(node)[:-1]} />\n")
        return
    out.append(f"{pad}{_start(node)}\n")
    for child in node.children:
        _ser_indent(child, out, depth + 1)
    out.append(f"{pad}</{node.tag}>\n")


def envelope(style: WireStyle, body: Node, header: Sequence[Node] = ()) -> bytes:
    """The complete envelope around ``body`` in the vendor's style, UTF-8 encoded."""
    p = style.envelope_prefix
    xmlns = [(f"xmlns:{prefix}", uri) for prefix, uri in style.namespaces]
    head: Node | None = None
    if header:
        head = Node(f"{p}:Header", children=tuple(header))
    elif style.empty_header:
        head = Node(f"{p}:Header")
    env = Node(f"{p}:Envelope", children=tuple(n for n in (head, Node(f"{p}:Body", (body,))) if n))
    out: list[str] = []
    if style.layout is Layout.COMPACT:
        out.append(style.declaration)
        out.append(_start(env, xmlns))
        for child in env.children:
            _ser_compact(child, out)
        out.append(f"</{env.tag}>")
    elif style.layout is Layout.CRLF:
        if style.declaration:
            out.append(style.declaration + "\r\n")
        out.append(_start(env, xmlns))
        for child in env.children:
            _ser_crlf(child, out)
        out.append(f"</{env.tag}>\r\n")
    else:
        if style.declaration:
            out.append(style.declaration + "\n")
        out.append(_start(env, xmlns) + "\n")
        for child in env.children:
            _ser_indent(child, out, 1)
        out.append(f"</{env.tag}>")
    return "".join(out).encode("utf-8")
