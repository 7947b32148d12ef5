"""TLS for HTTPS-only cameras: a fresh self-signed certificate per camera and start (pure but for
the temporary files ``ssl`` needs to load a key).

A real camera makes its certificate on first boot and again after a factory reset; a simulated
one makes it each time the fleet starts, so restarting a fleet is how a test shows a camera whose
certificate changed.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALIDITY = datetime.timedelta(days=3650)  # cameras ship ten-year self-signed certificates


@dataclass(frozen=True)
class CameraCertificate:
    cert_pem: bytes
    key_pem: bytes
    der: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()


def self_signed(common_name: str, now: datetime.datetime | None = None) -> CameraCertificate:
    """A P-256 key and a self-signed certificate naming ``common_name`` (the camera's address,
    also as subjectAltName, so a client that imports the certificate can verify it fully)."""
    now = now or datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(common_name))
    except ValueError:
        alt = x509.DNSName(common_name)
    cert = (
        x509.CertificateBuilder()
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + VALIDITY)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return CameraCertificate(
        cert.public_bytes(serialization.Encoding.PEM), key_pem, cert.public_bytes(serialization.Encoding.DER)
    )


def server_context(certificate: CameraCertificate) -> ssl.SSLContext:
    """A server context presenting ``certificate``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="camsentry-sim-tls-") as tmp:
        cert_path, key_path = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        cert_path.write_bytes(certificate.cert_pem)
        key_path.touch(mode=0o600)
        key_path.write_bytes(certificate.key_pem)
        context.load_cert_chain(cert_path, key_path)
    return context
