"""Parse an incoming SOAP request (pure): operation, its namespace, the UsernameToken if any.

Input is hostile by assumption: size is capped before parsing and the parser resolves no entities,
loads no DTD and touches no network.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from simulator.wsse import UsernameToken

MAX_REQUEST_BYTES = 64 * 1024  # largest real device-service request is a few KiB
MAX_PARAMS = 16  # device-service requests carry at most a couple of parameters
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)


@dataclass(frozen=True)
class SoapRequest:
    operation: str  # local name of the first Body child, e.g. "GetDeviceInformation"
    namespace: str
    token: UsernameToken | None
    soap_version: str = "1.2"
    params: tuple[tuple[str, str], ...] = ()  # (local name, text) of the operation's simple children

    def param(self, name: str, default: str = "") -> str:
        return next((v for k, v in self.params if k == name), default)


@dataclass(frozen=True)
class BadRequest:
    reason: str


def _text(parent: etree._Element, ns: str, name: str) -> etree._Element | None:
    return parent.find(f"{{{ns}}}{name}")


def parse_token(header: etree._Element | None) -> UsernameToken | None:
    if header is None:
        return None
    sec = header.find(f"{{{WSSE}}}Security")
    if sec is None:
        return None
    tok = sec.find(f"{{{WSSE}}}UsernameToken")
    if tok is None:
        return None
    user = _text(tok, WSSE, "Username")
    pw = _text(tok, WSSE, "Password")
    nonce = _text(tok, WSSE, "Nonce")
    created = _text(tok, WSU, "Created")
    if created is None:
        created = _text(tok, WSSE, "Created")  # some clients put Created in the wsse namespace
    return UsernameToken(
        username=(user.text or "").strip() if user is not None else "",
        password=(pw.text or "") if pw is not None else "",
        password_type=pw.get("Type", "") if pw is not None else "",
        nonce=(nonce.text or "").strip() if nonce is not None else None,
        created=(created.text or "").strip() if created is not None else None,
    )


def parse_request(data: bytes) -> SoapRequest | BadRequest:
    """Decode a SOAP envelope; anything unusable becomes a BadRequest with the reason."""
    if len(data) > MAX_REQUEST_BYTES:
        return BadRequest(f"request larger than {MAX_REQUEST_BYTES} bytes")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return BadRequest("DTDs are not accepted")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        return BadRequest(f"not well-formed: {exc}")
    if root.tag not in (f"{{{SOAP12}}}Envelope", f"{{{SOAP11}}}Envelope"):
        return BadRequest("not a SOAP envelope")
    ns = SOAP12 if root.tag.startswith(f"{{{SOAP12}}}") else SOAP11
    body = root.find(f"{{{ns}}}Body")
    if body is None or len(body) == 0:
        return BadRequest("empty SOAP body")
    first = body[0]
    qname = etree.QName(first)
    params = tuple(
        (etree.QName(child).localname, (child.text or "").strip())
        for child in list(first)[:MAX_PARAMS]
        if isinstance(child.tag, str) and len(child) == 0
    )
    return SoapRequest(
        operation=qname.localname,
        namespace=qname.namespace or "",
        token=parse_token(root.find(f"{{{ns}}}Header")),
        soap_version="1.2" if ns == SOAP12 else "1.1",
        params=params,
    )
