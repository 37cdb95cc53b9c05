"""The log's Ed25519 checkpoint key, kept in the gateway's key directory.

``audit-log.ed25519`` holds the private key (PKCS#8 PEM, mode 0600); ``audit-log.vkey`` holds the
verifier key (public, C2SP note form) whose name is the log's origin. The origin is fixed when the
key is created (from ``GATEWAY_BASE_URL``: ``<host>[/path]/audit``) and never changes afterwards,
because every checkpoint and every witness names it. Files are created atomically (write to a
temporary file, then ``link``), so replicas starting together agree on one key.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit.notes import NoteSigner, NoteVerifier

KEY_FILE = "audit-log.ed25519"
VKEY_FILE = "audit-log.vkey"


class MissingAuditKey(RuntimeError):
    """No checkpoint key in the key directory and creating one was not allowed."""


def default_origin(base_url: str) -> str:
    """``https://gw.example.org/x`` → ``gw.example.org/x/audit`` (a schema-less URL, C2SP)."""
    parts = urlsplit(base_url)
    host = parts.netloc or "localhost"
    return f"{host}{parts.path.rstrip('/')}/audit".replace(" ", "")


def _write_once(path: Path, data: bytes, mode: int) -> bool:
    """Create ``path`` with ``data`` unless it exists; True if this call created it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


def load_signer(key_dir: Path, origin: str, *, create: bool = True) -> NoteSigner:
    """The checkpoint signer in ``key_dir``, generated on first use (named ``origin``)."""
    key_path, vkey_path = key_dir / KEY_FILE, key_dir / VKEY_FILE
    if not key_path.exists():
        if not create:
            raise MissingAuditKey(f"there is no audit checkpoint key in {key_dir}")
        key_dir.mkdir(parents=True, exist_ok=True)
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        if _write_once(key_path, pem, 0o600):
            vkey = NoteSigner(origin, private).verifier.vkey
            vkey_path.unlink(missing_ok=True)
            _write_once(vkey_path, (vkey + "\n").encode(), 0o644)
    private_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(private_key, Ed25519PrivateKey):
        raise MissingAuditKey(f"{key_path} is not an Ed25519 private key")
    name = NoteVerifier.from_vkey(vkey_path.read_text()).name if vkey_path.exists() else origin
    signer = NoteSigner(name, private_key)
    if not vkey_path.exists():
        _write_once(vkey_path, (signer.verifier.vkey + "\n").encode(), 0o644)
    elif NoteVerifier.from_vkey(vkey_path.read_text()).vkey != signer.verifier.vkey:
        raise MissingAuditKey(f"{vkey_path} does not belong to the private key in {key_path}")
    return signer
