"""The onvif-zeep adapter: the only module that imports zeep or onvif-zeep.

The device-management WSDL is parsed once per process into one zeep ``wsdl.Document`` with
hardened settings; each camera gets a light ``zeep.Client(wsdl=document, wsse=its token)``
that only builds and signs request envelopes. The bytes travel through ``agent.onvif.http``
(deadline and size cap) and come back through the pure parsers in ``agent.onvif.soap``, so no
zeep object ever leaves this module.

onvif-zeep calls ``logging.basicConfig`` when imported; ``preload()`` imports it here, before
the caller configures logging. Only the WSDL files are taken from it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sysconfig
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree

from agent.onvif.errors import (
    AuthFailed,
    CameraTimeout,
    HttpStatusError,
    MalformedResponse,
    SoapFault,
)
from agent.onvif.http import CONNECT_TIMEOUT_S, HttpResponse, build_request, exchange
from agent.onvif.httpauth import digest_authorization, parse_challenge
from agent.onvif.soap import Element, body_payload, is_not_authorized, parse_fault, parse_xml
from agent.onvif.targets import CameraTarget
from agent.onvif.tls import PinStore, TlsPeer
from agent.onvif.wsse import DIGEST_TYPE, NONCE_ENCODING, WSSE_NS, WSU_NS, TokenValues, make_token

DEVICE_BINDING = "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding"
# Arguments each operation needs; ONVIF Core 8.1.2.1: IncludeCapability is mandatory.
OPERATION_ARGS: dict[str, dict[str, object]] = {"GetServices": {"IncludeCapability": False}}


@dataclass
class _Shared:
    document: Any
    transport: Any
    settings: Any
    client_cls: Any
    soap_actions: dict[str, str]
    service: Any


_shared: _Shared | None = None
_lock = threading.Lock()


def wsdl_dir() -> Path:
    """Where onvif-zeep keeps its WSDLs, found without importing (and running) the package."""
    candidates = [Path(sysconfig.get_paths()["purelib"]) / "wsdl"]
    spec = importlib.util.find_spec("onvif")
    if spec is not None and spec.origin:
        candidates.insert(0, Path(spec.origin).parent / "wsdl")
    for candidate in candidates:
        if (candidate / "devicemgmt.wsdl").is_file():
            return candidate
    raise FileNotFoundError("onvif-zeep's devicemgmt.wsdl not found; is onvif-zeep installed?")


def preload() -> None:
    """Parse the WSDL once (idempotent, thread-safe); call before configuring logging."""
    global _shared
    with _lock:
        if _shared is not None:
            return
        # Imported here, never at module load; typed as Any and kept inside this module.
        zeep: Any = importlib.import_module("zeep")
        Document: Any = importlib.import_module("zeep.wsdl").Document
        Client, Settings, Transport = zeep.Client, zeep.Settings, zeep.Transport

        # onvif-zeep sets xml_huge_tree=True; we keep every zeep protection on and cap sizes.
        settings = Settings(
            strict=False,
            xml_huge_tree=False,
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        )
        transport = Transport(timeout=CONNECT_TIMEOUT_S, operation_timeout=CONNECT_TIMEOUT_S)
        document = Document(str(wsdl_dir() / "devicemgmt.wsdl"), transport, settings=settings)
        binding = document.bindings[DEVICE_BINDING]
        actions = {name: str(op.soapaction or "") for name, op in binding._operations.items()}
        # One ServiceProxy for the process: it holds a proxy per operation (about a hundred);
        # its address is never used, because zeep only builds envelopes here.
        prototype = Client(wsdl=document, transport=transport, settings=settings)
        service = prototype.create_service(DEVICE_BINDING, "http://127.0.0.1/onvif/device_service")
        _shared = _Shared(document, transport, settings, Client, actions, service)


def _get_shared() -> _Shared:
    if _shared is None:
        preload()
    assert _shared is not None
    return _shared


class _TokenPlugin:
    """zeep's ``wsse`` hook: puts the current UsernameToken (if any) in the SOAP Header."""

    def __init__(self) -> None:
        self.token: TokenValues | None = None

    def apply(self, envelope: Any, headers: Any) -> tuple[Any, Any]:
        token = self.token
        if token is None:
            return envelope, headers
        soap_ns = etree.QName(envelope).namespace
        header = envelope.find(f"{{{soap_ns}}}Header")
        if header is None:
            header = etree.Element(f"{{{soap_ns}}}Header")
            envelope.insert(0, header)
        security = etree.SubElement(header, f"{{{WSSE_NS}}}Security", nsmap={"wsse": WSSE_NS, "wsu": WSU_NS})
        security.set(f"{{{soap_ns}}}mustUnderstand", "true")
        ut = etree.SubElement(security, f"{{{WSSE_NS}}}UsernameToken")
        etree.SubElement(ut, f"{{{WSSE_NS}}}Username").text = token.username
        password = etree.SubElement(ut, f"{{{WSSE_NS}}}Password", Type=DIGEST_TYPE)
        password.text = token.digest
        nonce = etree.SubElement(ut, f"{{{WSSE_NS}}}Nonce", EncodingType=NONCE_ENCODING)
        nonce.text = token.nonce_b64
        etree.SubElement(ut, f"{{{WSU_NS}}}Created").text = token.created
        return envelope, headers

    def verify(self, envelope: Any) -> Any:
        return envelope


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r})"


class DeviceSession:
    """Talks to one camera's device service at the address it was given, never an XAddr."""

    def __init__(
        self,
        target: CameraTarget,
        *,
        max_response_bytes: int,
        now: Callable[[], datetime],
        monotonic: Callable[[], float],
        deadline: float,
        pins: PinStore | None = None,
    ) -> None:
        """An https target speaks TLS, its certificate checked against ``pins`` (a store for
        this session alone if None)."""
        shared = _get_shared()
        self.target = target
        self.tls = TlsPeer.of(pins or PinStore(), target.host_port) if target.tls else None
        self._max = max_response_bytes
        self._now = now
        self._monotonic = monotonic
        self._deadline = deadline
        self._plugin = _TokenPlugin()
        self._actions = shared.soap_actions
        client = shared.client_cls(
            wsdl=shared.document, wsse=self._plugin, transport=shared.transport, settings=shared.settings
        )
        # zeep's _create reads client.service for binding options; without this each camera's
        # client would build its own ServiceProxy (a hundred operation proxies) per camera.
        client._default_service = shared.service
        self._client = client
        self._service = shared.service
        self.offset_s = 0.0
        self._challenge: dict[str, str] | None = None  # the camera's last HTTP Digest challenge
        self._nc = 0
        self.last_token: TokenValues | None = None
        self.requests = 0

    def remaining_s(self) -> float:
        return self._deadline - self._monotonic()

    def build(self, operation: str, token: TokenValues | None) -> bytes:
        self._plugin.token = token
        try:
            envelope = self._client.create_message(
                self._service, operation, **OPERATION_ARGS.get(operation, {})
            )
        finally:
            self._plugin.token = None
        body: bytes = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        return body

    def _token(self, credentials: Credentials | None, token: TokenValues | None) -> TokenValues | None:
        if token is None and credentials is not None:
            token = make_token(
                credentials.username, credentials.password, now=self._now(), offset_s=self.offset_s
            )
        self.last_token = token
        return token

    def call(
        self,
        operation: str,
        credentials: Credentials | None = None,
        *,
        token: TokenValues | None = None,
    ) -> Element:
        """One device-service operation; the answer's payload element, or a CameraError."""
        body = self.build(operation, self._token(credentials, token))
        return self._send(body, self._actions.get(operation, ""), self.target.path, credentials)

    def call_service(
        self, namespace: str, operation: str, path: str, credentials: Credentials | None = None
    ) -> Element:
        """An argument-less operation of another service (receiver, recording) at ``path`` on
        this camera's own address; the envelope is built here, signed by the same token hook."""
        if not path.startswith("/"):
            raise ValueError("path must be absolute")
        soap_ns = "http://www.w3.org/2003/05/soap-envelope"
        envelope = etree.Element(f"{{{soap_ns}}}Envelope", nsmap={"s": soap_ns, "ns0": namespace})
        body_el = etree.SubElement(envelope, f"{{{soap_ns}}}Body")
        etree.SubElement(body_el, f"{{{namespace}}}{operation}")
        self._plugin.token = self._token(credentials, None)
        try:
            self._plugin.apply(envelope, {})
        finally:
            self._plugin.token = None
        body: bytes = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
        return self._send(body, f"{namespace}/{operation}", path, credentials)

    def _post(self, body: bytes, action: str, path: str, authorization: str | None) -> HttpResponse:
        headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'}
        if authorization:
            headers["Authorization"] = authorization
        request = build_request("POST", self.target.address, self.target.port, path, body, headers)
        timeout = self.remaining_s()
        if timeout <= 0:
            raise CameraTimeout("per-camera time budget spent")
        self.requests += 1
        return exchange(
            self.target.address,
            self.target.port,
            request,
            timeout_s=timeout,
            max_bytes=self._max,
            monotonic=self._monotonic,
            tls=self.tls,
        )

    def _digest(self, path: str, credentials: Credentials) -> str | None:
        if self._challenge is None:
            return None
        self._nc += 1
        return digest_authorization(
            self._challenge,
            method="POST",
            uri=path,
            username=credentials.username,
            password=credentials.password,
            cnonce=os.urandom(8).hex(),
            nc=self._nc,
        )

    def _send(self, body: bytes, action: str, path: str, credentials: Credentials | None) -> Element:
        authorization = self._digest(path, credentials) if credentials else None
        response = self._post(body, action, path, authorization)
        if response.status == 401 and credentials is not None:
            # Some firmware wants HTTP Digest on top of (or instead of) WS-Security; answer the
            # challenge once per request (a fresh nonce, or a stale one renewed).
            challenge = parse_challenge(response.headers.get("www-authenticate", ""))
            if challenge is not None:
                self._challenge, self._nc = challenge, 0
                response = self._post(body, action, path, self._digest(path, credentials))
        if not response.body.strip():
            if response.status in (401, 403):
                raise AuthFailed(
                    response.status, "http", str(response.status), "HTTP authentication required"
                )
            raise HttpStatusError(response.status, f"HTTP {response.status} with an empty body")
        try:
            payload = body_payload(parse_xml(response.body, max_bytes=self._max))
        except MalformedResponse:
            if 200 <= response.status < 300:
                raise
            raise HttpStatusError(response.status, f"HTTP {response.status}, not SOAP") from None
        fault = parse_fault(payload)
        if fault is not None:
            if is_not_authorized(fault) or response.status in (401, 403):
                raise AuthFailed(response.status, fault.code, fault.subcode, fault.reason)
            raise SoapFault(response.status, fault.code, fault.subcode, fault.reason)
        if not 200 <= response.status < 300:
            raise HttpStatusError(response.status, f"HTTP {response.status} without a fault")
        return payload
