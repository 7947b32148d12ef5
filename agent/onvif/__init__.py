"""ONVIF polling: SOAP parsing (pure), the onvif-zeep adapter, discovery and security checks.

Exception tree (``agent.onvif.errors``), translated from socket, HTTP and XML errors in
``agent.onvif.http`` and ``agent.onvif.soap`` only::

    CamsentryError
    └── CameraError                 a camera could not be polled; ``kind`` says why
        ├── Unreachable             connection refused, no route, DNS failure
        ├── CameraTimeout           connect or read took longer than the camera's budget
        ├── ResponseTooLarge        more bytes than the cap: never buffered, never parsed
        ├── MalformedResponse       not HTTP, not XML, a DTD or entity in the XML, not SOAP
        ├── SoapFault               a well-formed SOAP Fault (``code``, ``subcode``, ``reason``)
        │   └── AuthFailed          ter:NotAuthorized, or HTTP 400/401/403 with a fault
        ├── HttpStatusError         a non-2xx status without a parseable fault
        ├── TlsFailed               an https camera's TLS handshake failed
        └── CertificateChanged      an https camera's certificate is not the pinned one

Only ``agent.onvif.client`` imports zeep (lazily); nothing here imports it at module load.
"""
