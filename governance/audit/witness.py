"""Witnessed history: each signed checkpoint's chain head timestamped by an RFC 3161 authority.

The checkpoints are signed with a key the service holds, so whoever holds that key (an
administrator with the database and the key file) could rewrite a suffix of the trail and sign
fresh checkpoints over it. A time-stamp token from an authority outside the service cannot be
made afresh for the past: it says that the authority saw exactly `(seq, head hash)` at its own
time. `governance audit verify` checks every stored token (that its imprint, read from the
token, is the digest of the message for the hash the event at `seq` still carries, and the
authority's signature against AUDIT_TSA_CA_FILE: without that file it says the signatures were
not checked), and the public register shows the latest witnessed head with its token, so a
provider can keep a copy and check the trail against it later (`governance audit verify
--witness FILE`), even if the tokens kept here were deleted.

What the authority stamps is `message(seq, head_hash)`: a fixed text anyone can rebuild from
the two values (docs/security.md). This module says what a token states and whether it holds
(read and verified with `rfc3161-client`, Trail of Bits, which makes no network call); asking
the authority for tokens, the periodic job that does so, is governance/audit/timestamping.py's.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from rfc3161_client import (
    PKIStatus,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)
from sqlalchemy.orm import Session

# The digests a token's imprint may be made with (RFC 3161 lets the requester choose; the
# request builder asks for SHA-512), by the algorithm's object identifier.
IMPRINT_DIGESTS = {
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}


class WitnessError(Exception):
    """A token that is not a valid witness of the head it claims (or no token could be had)."""


@dataclass(frozen=True)
class Stamp:
    """What a token says, read without any certificate: the digest of the message the
    authority saw (the token's imprint) and the time it saw it. Only the authority's signature,
    checked against its certificates (`check`), proves the token is the authority's."""

    digest: str  # the imprint's algorithm, as hashlib names it
    imprint: bytes
    at: dt.datetime

    def witnesses(self, seq: int, head_hash: str) -> bool:
        """Whether the imprint is the digest of `message(seq, head_hash)`."""
        return hashlib.new(self.digest, message(seq, head_hash)).digest() == self.imprint


def message(seq: int, head_hash: str) -> bytes:
    """What the authority stamps for the checkpoint at `seq` with chain head `head_hash`."""
    return f"governance audit witnessed head\nseq={seq}\nsha256={head_hash}".encode()


@dataclass(frozen=True)
class Witness:
    """A chain head and the authority's token on it (as stored, or as a provider kept it)."""

    seq: int
    head_hash: str
    token: bytes

    def response(self) -> TimeStampResponse:
        try:
            return decode_timestamp_response(self.token)
        except ValueError as error:
            raise WitnessError(
                f"the token for seq {self.seq} is not a time-stamp response"
            ) from error

    def read(self) -> Stamp:
        """The token's imprint and time, or WitnessError naming what is wrong with it (the
        library parses the token's content only when it is first asked for it)."""
        response = self.response()
        if response.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
            raise WitnessError(f"the authority refused to stamp seq {self.seq}")
        try:
            info = response.tst_info
            imprint = info.message_imprint
            algorithm, digest, at = imprint.hash_algorithm, imprint.message, info.gen_time
        except ValueError as error:
            raise WitnessError(
                f"the token for seq {self.seq} is not a readable time-stamp token ({error})"
            ) from error
        name = IMPRINT_DIGESTS.get(algorithm.dotted_string)
        if name is None:
            raise WitnessError(
                f"the token for seq {self.seq} stamps a digest this service does not know "
                f"({algorithm.dotted_string})"
            )
        return Stamp(digest=name, imprint=digest, at=at.astimezone(dt.UTC))

    @property
    def stamped_at(self) -> dt.datetime:
        return self.read().at

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "sha256": self.head_hash,
            "stamped_at": self.stamped_at.isoformat(),
            "message": message(self.seq, self.head_hash).decode(),
            "token": base64.b64encode(self.token).decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Witness:
        try:
            return cls(
                seq=int(data["seq"]),
                head_hash=str(data["sha256"]),
                token=base64.b64decode(str(data["token"]), validate=True),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise WitnessError(
                "a witness needs seq, sha256 and token (base64), as the register's "
                "witness.json gives them"
            ) from error


def trust_from_settings(settings: Mapping[str, Any]) -> dict[str, tuple[x509.Certificate, ...]]:
    """The roots and intermediates tokens are checked against (none without a CA file)."""
    path = str(settings.get("AUDIT_TSA_CA_FILE") or "")
    if not path:
        return {"roots": (), "intermediates": ()}
    certificates = x509.load_pem_x509_certificates(Path(path).read_bytes())
    roots = tuple(c for c in certificates if c.subject == c.issuer)
    return {"roots": roots, "intermediates": tuple(c for c in certificates if c not in roots)}


def check(
    witness: Witness,
    roots: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate] = (),
) -> dt.datetime:
    """Check the token's signature chains to `roots` and that it stamps exactly this head."""
    stamp = witness.read()
    response = witness.response()
    if not roots:
        raise WitnessError("no certificate to check the authority's tokens (AUDIT_TSA_CA_FILE)")
    builder = VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    for intermediate in intermediates:
        builder = builder.add_intermediate_certificate(intermediate)
    try:
        builder.build().verify_message(response, message(witness.seq, witness.head_hash))
    except VerificationError as error:
        raise WitnessError(
            f"the token for seq {witness.seq} does not witness sha256={witness.head_hash}: {error}"
        ) from error
    return stamp.at


def trust_of(session: Session) -> dict[str, tuple[x509.Certificate, ...]]:
    """The CA certificates the tokens' signatures are checked against, from the session's
    settings (none without AUDIT_TSA_CA_FILE): every check a person reads uses them, so each
    says the same of the tokens (`witnessed.Witnessed.statement`)."""
    return trust_from_settings(session.info.get("settings") or {})


def load_file(path: Path) -> list[Witness]:
    """Witnesses a provider kept: the register's witness.json (one object, or a list)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise WitnessError(f"cannot read {path}: {error}") from error
    items: Iterable[Any] = data if isinstance(data, list) else [data]
    return [Witness.from_json(item) for item in items if isinstance(item, Mapping)]
