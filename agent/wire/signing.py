"""Ed25519 signatures over canonical JSON documents, and the key formats we exchange.

A signed document is a JSON object with a ``sig`` field: base64 of the Ed25519
signature over the canonical JSON of every other field. Public keys travel as
base64 of their 32 raw bytes; private keys live on disk as PKCS#8 PEM, mode 0600.
"""

from __future__ import annotations

import base64
import binascii
import os
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.wire.canonical import canonical_json

SIG_FIELD = "sig"
PRIVATE_KEY_MODE = 0o600


class KeyFormatError(ValueError):
    """A key file or key string that is not what it claims to be."""


def sign_document(key: Ed25519PrivateKey, fields: dict[str, Any]) -> dict[str, Any]:
    """Return ``fields`` plus ``sig`` over their canonical JSON."""
    if SIG_FIELD in fields:
        raise ValueError("document to sign already carries a signature")
    signature = key.sign(canonical_json(fields))
    return {**fields, SIG_FIELD: base64.b64encode(signature).decode("ascii")}


def verify_document(public_key: Ed25519PublicKey, document: dict[str, Any]) -> bool:
    """True when ``document['sig']`` is a valid signature over the other fields."""
    sig = document.get(SIG_FIELD)
    if not isinstance(sig, str):
        return False
    try:
        signature = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        return False
    unsigned = {k: v for k, v in document.items() if k != SIG_FIELD}
    try:
        public_key.verify(signature, canonical_json(unsigned))
    except (InvalidSignature, ValueError, RecursionError):  # RecursionError: nested too deep to encode
        return False
    return True


def public_key_to_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def public_key_from_text(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError("not a base64 Ed25519 public key (32 raw bytes)") from exc


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    """Write ``key`` as PKCS#8 PEM, created 0600: never readable by others, not even briefly."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_KEY_MODE)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Load a private key, refusing one that group or others can read."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyFormatError(f"{path}: private key is mode {mode:04o}; it must be 0600")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as exc:
        raise KeyFormatError(f"{path}: not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFormatError(f"{path}: not an Ed25519 key")
    return key


def load_or_create_private_key(path: Path) -> tuple[Ed25519PrivateKey, bool]:
    """The key at ``path``, made (0600) if there is none yet; True when it was just made."""
    if path.exists():
        return load_private_key(path), False
    key = Ed25519PrivateKey.generate()
    write_private_key(path, key)
    return key, True


def print_keygen(path: Path) -> Ed25519PrivateKey:
    """``keygen`` for agent and collector: ensure the key, say where it is, print the public key."""
    key, created = load_or_create_private_key(path)
    what = f"wrote {path} (mode 0600)" if created else f"key exists at {path}"
    print(f"{what}; public key:", file=sys.stderr)
    print(public_key_to_text(key.public_key()))
    return key
