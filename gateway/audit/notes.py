"""C2SP signed notes (c2sp.org/signed-note) carrying tlog checkpoints (c2sp.org/tlog-checkpoint).

A checkpoint note's text is ``<origin>\\n<size>\\n<base64 root>\\n``; after a blank line come one or
more signature lines ``— <key name> <base64(key id || signature)>``. The Ed25519 signature (type
byte 0x01) is over the note text, and the 4-byte key id is
``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]``. Verifier keys are written in the
``<name>+<hex key id>+<base64(0x01 || public key)>`` form used by golang.org/x/mod/sumdb/note.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.audit.errors import BadNote

ED25519 = 0x01
EM_DASH = "\u2014"
MAX_SIGNATURES = 16


def key_id(name: str, public_key: bytes) -> bytes:
    """C2SP signed-note: ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def check_key_name(name: str) -> None:
    if not name or any(ch.isspace() for ch in name) or "+" in name:
        raise ValueError("a note key name is non-empty, with no spaces and no '+'")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted Ed25519 note key: name, id and public key."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse ``<name>+<hex id>+<base64(0x01 || key)>``; the id must match the key."""
        try:
            name, hex_id, b64 = vkey.strip().split("+", 2)
            raw = base64.b64decode(b64, validate=True)
            kid = bytes.fromhex(hex_id)
        except (ValueError, binascii.Error):
            raise BadNote("a verifier key looks like <name>+<8 hex digits>+<base64>") from None
        if len(raw) != 33 or raw[0] != ED25519 or len(kid) != 4:
            raise BadNote("the verifier key is not an Ed25519 (type 0x01) note key")
        if key_id(name, raw[1:]) != kid:
            raise BadNote("the verifier key's id does not match its name and public key")
        return cls(name, kid, Ed25519PublicKey.from_public_bytes(raw[1:]))

    @property
    def vkey(self) -> str:
        raw = bytes([ED25519]) + _raw_public(self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(raw).decode()}"

    def verify(self, note: str) -> str:
        """Return the note text if a signature by this key verifies; raise :class:`BadNote`."""
        text, signatures = split_note(note)
        found = False
        for name, blob in signatures:
            if name != self.name or blob[:4] != self.key_id:
                continue  # C2SP: ignore signatures from unknown keys
            try:
                self.public_key.verify(blob[4:], text.encode())
            except InvalidSignature:
                raise BadNote(f"the signature by {name} does not verify") from None
            found = True
        if not found:
            raise BadNote(f"the note carries no signature by {self.name}")
        return text


@dataclass(frozen=True)
class NoteSigner:
    """An Ed25519 note key that signs checkpoints."""

    name: str
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        check_key_name(self.name)

    @property
    def verifier(self) -> NoteVerifier:
        public = self.private_key.public_key()
        return NoteVerifier(self.name, key_id(self.name, _raw_public(public)), public)

    def sign(self, text: str) -> str:
        """The signed note: ``text``, a blank line and this key's signature line."""
        if not text.endswith("\n"):
            raise ValueError("note text ends with a newline")
        signature = self.private_key.sign(text.encode())
        blob = base64.b64encode(self.verifier.key_id + signature).decode()
        return f"{text}\n{EM_DASH} {self.name} {blob}\n"


def split_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Split a signed note into its text and (key name, key id || signature) pairs."""
    if any(ord(ch) < 0x20 and ch != "\n" for ch in note):
        raise BadNote("a note may not contain control characters other than newline")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise BadNote("a signed note is text, a blank line and signature lines")
    text, sig_block = note[: cut + 1], note[cut + 2 :]
    signatures: list[tuple[str, bytes]] = []
    for line in sig_block.splitlines():
        prefix = EM_DASH + " "
        if not line.startswith(prefix):
            raise BadNote("a signature line starts with an em dash and a space")
        name, _, b64 = line[len(prefix) :].partition(" ")
        try:
            blob = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise BadNote("a note signature is not base64") from None
        if not name or len(blob) < 5:
            raise BadNote("a signature line names a key and carries its id and signature")
        signatures.append((name, blob))
    if not signatures or len(signatures) > MAX_SIGNATURES:
        raise BadNote(f"a note carries between 1 and {MAX_SIGNATURES} signatures")
    return text, signatures


@dataclass(frozen=True)
class Checkpoint:
    """The three lines of a c2sp.org/tlog-checkpoint note text."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
            raise BadNote("a checkpoint is origin, size and root hash on non-empty lines")
        origin, size_text, root_text = lines[0], lines[1], lines[2]
        if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
            raise BadNote("the checkpoint size is a decimal number without leading zeroes")
        try:
            root = base64.b64decode(root_text, validate=True)
        except binascii.Error:
            raise BadNote("the checkpoint root hash is not base64") from None
        if len(root) != 32:
            raise BadNote("the checkpoint root hash is not 32 bytes")
        return cls(origin, int(size_text), root)


def open_checkpoint(note: str, verifier: NoteVerifier) -> Checkpoint:
    """Verify the note's signature and parse its checkpoint; the origin must be the key's name."""
    checkpoint = Checkpoint.parse(verifier.verify(note))
    if checkpoint.origin != verifier.name:
        raise BadNote(f"the checkpoint is for log {checkpoint.origin!r}, not {verifier.name!r}")
    return checkpoint
