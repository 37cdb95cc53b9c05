"""Password hashing with Argon2id (argon2-cffi), a memory-hard hash (RFC 9106)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()  # argon2id, 64 MiB, t=3, p=4: the library's RFC 9106 low-memory profile
_DUMMY = _HASHER.hash("not-a-password")

MIN_LENGTH = 10


class WeakPassword(ValueError):
    """The password is too short to register."""


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant-ish time: an unknown user still costs one hash verification."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
