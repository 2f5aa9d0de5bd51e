"""Exporting a version of an agreement as an ODRL policy: who may, and the record of it.

A policy names the purpose, the thresholds and the third parties, which the parties never
agreed to publish (the public register shows the lay summary only), so it is exported only to
those who may read the agreement, and each export is recorded with the SHA-256 of what left.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from governance.agreements.common import record_agreement_event
from governance.agreements.models import Agreement, AgreementVersion
from governance.agreements.odrl import Addresses, policy
from governance.agreements.queries import get_visible_version
from governance.audit.models import AuditType
from governance.identity.models import User

MEDIA_TYPE = "application/ld+json"


@dataclass(frozen=True)
class ExportedPolicy:
    agreement: Agreement
    version: AgreementVersion
    document: dict[str, Any]
    content: bytes
    filename: str


def serialise(document: dict[str, Any]) -> bytes:
    """JSON with every non-ASCII character escaped, so no reader can mistake where a string
    ends whatever a title holds."""
    return json.dumps(document, ensure_ascii=True, indent=2).encode("ascii")


def export_policy(
    session: Session,
    *,
    agreement_id: int,
    version_number: int | None,
    by: User,
    addresses: Callable[[AgreementVersion], Addresses],
) -> ExportedPolicy:
    """The version (the one shown first if none is named) as ODRL; 403 (recorded) for someone
    who may not read the agreement, 404 for a version it does not have."""
    agreement, version = get_visible_version(session, agreement_id, version_number, by=by)
    document = policy(version, addresses(version))
    content = serialise(document)
    record_agreement_event(
        session,
        AuditType.AGREEMENT_ODRL,
        by=by,
        agreement=agreement,
        version=version,
        detail={
            "sha256": hashlib.sha256(content).hexdigest(),
            "policy_type": document["type"],
            "version_status": str(version.status),
        },
    )
    return ExportedPolicy(
        agreement=agreement,
        version=version,
        document=document,
        content=content,
        filename=f"{agreement.reference}-v{version.number}.odrl.jsonld",
    )
