"""Private keys are created 0600 and refused when readable by others."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cli import main
from agent.wire.signing import KeyFormatError, load_private_key, public_key_from_text, write_private_key


def test_keygen_writes_0600_and_prints_the_public_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_umask = os.umask(0)  # the most permissive umask must still give 0600
    try:
        assert main(["keygen", "--state-dir", str(tmp_path / "state")]) == 0
    finally:
        os.umask(old_umask)
    key_path = tmp_path / "state" / "agent.key"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    printed = capsys.readouterr().out.strip()
    assert public_key_from_text(printed) is not None
    # a second keygen keeps the key and prints the same public key
    assert main(["keygen", "--state-dir", str(tmp_path / "state")]) == 0
    assert capsys.readouterr().out.strip() == printed


def test_loose_permissions_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "k"
    write_private_key(path, Ed25519PrivateKey.generate())
    path.chmod(0o644)
    with pytest.raises(KeyFormatError, match="0644"):
        load_private_key(path)


def test_garbage_key_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_text("not a key")
    path.chmod(0o600)
    with pytest.raises(KeyFormatError, match="not a PEM private key"):
        load_private_key(path)
    with pytest.raises(KeyFormatError):
        public_key_from_text("AAAA")
