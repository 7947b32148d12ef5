"""An independent ONVIF client for the simulator tests: SOAP built with lxml, sent with urllib.

Deliberately shares no code with ``simulator`` or ``agent``: digests are computed here from the spec
(OASIS UsernameToken Profile 1.0: Base64(SHA-1(nonce + created + password))).
"""

from __future__ import annotations

import base64
import hashlib
import os
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
TDS = "http://www.onvif.org/ver10/device/wsdl"
TT = "http://www.onvif.org/ver10/schema"
TER = "http://www.onvif.org/ver10/error"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST_TYPE = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
)
SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass(frozen=True)
class Token:
    username: str
    password_digest: str
    nonce_b64: str
    created: str


def make_token(
    username: str, password: str, created: datetime | None = None, nonce: bytes | None = None
) -> Token:
    when = created or datetime.now(UTC)
    created_s = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    raw = nonce if nonce is not None else os.urandom(16)
    digest = base64.b64encode(hashlib.sha1(raw + created_s.encode() + password.encode()).digest()).decode()  # noqa: S324
    return Token(username, digest, base64.b64encode(raw).decode(), created_s)


def envelope(
    operation: str, token: Token | None = None, namespace: str = TDS, body_xml: bytes = b""
) -> bytes:
    env = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"s": SOAP12, "tds": TDS})
    if token is not None:
        header = etree.SubElement(env, f"{{{SOAP12}}}Header")
        sec = etree.SubElement(header, f"{{{WSSE}}}Security", nsmap={"wsse": WSSE, "wsu": WSU})
        sec.set(f"{{{SOAP12}}}mustUnderstand", "1")
        ut = etree.SubElement(sec, f"{{{WSSE}}}UsernameToken")
        etree.SubElement(ut, f"{{{WSSE}}}Username").text = token.username
        pw = etree.SubElement(ut, f"{{{WSSE}}}Password", Type=DIGEST_TYPE)
        pw.text = token.password_digest
        nonce = etree.SubElement(ut, f"{{{WSSE}}}Nonce")
        nonce.set(
            "EncodingType",
            "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary",
        )
        nonce.text = token.nonce_b64
        etree.SubElement(ut, f"{{{WSU}}}Created").text = token.created
    body = etree.SubElement(env, f"{{{SOAP12}}}Body")
    op = etree.SubElement(body, f"{{{namespace}}}{operation}")
    if body_xml:
        op.append(etree.fromstring(body_xml))
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes

    def xml(self) -> etree._Element:
        return etree.fromstring(self.body, SAFE_PARSER)

    def fault_subcodes(self) -> list[str]:
        root = self.xml()
        return [v.text or "" for v in root.iter(f"{{{SOAP12}}}Value")]


def camera_tls() -> ssl.SSLContext:
    """HTTPS-only cameras present self-signed certificates: encrypted, not verified (these tests
    check ONVIF behaviour; certificate pinning is the agent's and has its own tests)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def post(url: str, data: bytes, timeout: float = 5.0) -> HttpReply:
    req = urllib.request.Request(  # noqa: S310 - the URL is the simulator's loopback address
        url, data=data, headers={"Content-Type": "application/soap+xml; charset=utf-8"}
    )
    context = camera_tls() if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:  # noqa: S310
            return HttpReply(resp.status, dict(resp.headers), resp.read())
    except urllib.error.HTTPError as err:
        return HttpReply(err.code, dict(err.headers), err.read())


def call(url: str, operation: str, username: str | None = None, password: str | None = None) -> HttpReply:
    token = make_token(username, password) if username is not None and password is not None else None
    return post(url, envelope(operation, token))


def text_of(root: etree._Element, local: str, ns: str = TDS) -> str:
    found = root.find(f".//{{{ns}}}{local}")
    assert found is not None, f"{local} missing"
    return found.text or ""
