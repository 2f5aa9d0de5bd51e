"""Password hashing with argon2id, the length rule, and checks that cost the same every time.

Every login attempt verifies one argon2 hash, whatever happens to the account: an unknown
e-mail, a locked or a deactivated account verify the password against a dummy hash made with
the same parameters (memory, passes) as the account's own hash, or as a new hash when there is
no account. Otherwise the time of the answer tells an attacker what the message does not:
that the account exists, or that it has just been locked.
"""

from __future__ import annotations

import contextlib

from argon2 import Parameters, PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from governance.kernel.errors import ValidationFailed

_hasher = PasswordHasher()
_DUMMY_PASSWORD = "dummy-password-for-timing"  # noqa: S105  (never anyone's password)
# One dummy hash per set of parameters seen, made on first use (a handful at most).
_dummies: dict[tuple[object, ...], str] = {}


def hash_password(password: str, *, min_length: int) -> str:
    if len(password) < min_length:
        raise ValidationFailed(
            f"The password must be at least {min_length} characters long.",
            {"password": f"At least {min_length} characters."},
        )
    return _hasher.hash(password)


# An account's e-mail address is where its password-reset links go, so whoever may set the
# address must not be able to have a link sent there: SCIM (whose token one administrator
# holds) sets the address only of accounts with no local password, and those get no reset link
# (credentials.send_reset_link, scim_users.replace_user). Refusals are recorded under this name.
RESET_ADDRESS_RULE = "reset-link-address"


def has_local_password(password_hash: str | None) -> bool:
    """Whether the account signs in with a password of its own here: its hash is an argon2
    hash (a provisioned or single-sign-on account keeps a marker no password matches)."""
    if not password_hash:
        return False
    try:
        extract_parameters(password_hash)
    except InvalidHashError:
        return False
    return True


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches; with no hash, verifies against a dummy and says no."""
    if password_hash is None:
        spend_verification(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def spend_verification(password: str, like_hash: str | None = None) -> None:
    """Verify the password against a dummy hash as costly as `like_hash` (an account's own
    hash) or, without one, as a hash made now; the answer is always no and is thrown away."""
    with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
        _hasher.verify(_dummy_like(like_hash), password)


def _dummy_like(like_hash: str | None) -> str:
    parameters: Parameters | None = None
    if like_hash is not None:
        try:
            parameters = extract_parameters(like_hash)
        except InvalidHashError:
            parameters = None
    if parameters is None:
        parameters = Parameters(
            type=_hasher.type,
            version=19,
            salt_len=_hasher.salt_len,
            hash_len=_hasher.hash_len,
            time_cost=_hasher.time_cost,
            memory_cost=_hasher.memory_cost,
            parallelism=_hasher.parallelism,
        )
    key = (
        parameters.type,
        parameters.version,
        parameters.salt_len,
        parameters.hash_len,
        parameters.time_cost,
        parameters.memory_cost,
        parameters.parallelism,
    )
    dummy = _dummies.get(key)
    if dummy is None:
        dummy = PasswordHasher.from_parameters(parameters).hash(_DUMMY_PASSWORD)
        _dummies[key] = dummy
    return dummy


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
