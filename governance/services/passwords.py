"""Password hashing with argon2id, and the length rule."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from governance.errors import ValidationFailed

_hasher = PasswordHasher()
# Verifying against this keeps an unknown e-mail as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("dummy-password-for-timing")


def hash_password(password: str, *, min_length: int) -> str:
    if len(password) < min_length:
        raise ValidationFailed(
            f"The password must be at least {min_length} characters long.",
            {"password": f"At least {min_length} characters."})
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
