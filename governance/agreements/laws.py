"""The law catalogue as agreements see it: the national laws declared in code, plus the state
laws privacy officers add by name."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.agreements.law_model import NATIONAL_LAWS, STATE_LAW_PREFIX, Law, StateLaw
from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.identity.actors import Actor
from governance.kernel.errors import Conflict, ValidationFailed
from governance.kernel.text import clean_line, clean_text


def catalogue(session: Session) -> dict[str, Law]:
    """Every law an agreement may name, by code: national laws first, then state laws."""
    laws = dict(NATIONAL_LAWS)
    for state_law in session.scalars(select(StateLaw).order_by(StateLaw.name)):
        laws[state_law.code] = state_law.as_law()
    return laws


def state_law_code(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return f"{STATE_LAW_PREFIX}{slug[:70]}"


def add_state_law(session: Session, *, name: str, requirements: str, by: Actor) -> StateLaw:
    """Add a state law (e.g. "Illinois Juvenile Court Act") with its handling requirements."""
    authz.require(
        by,
        Permission.AGREEMENT_DRAFT,
        audit={"event_type": AuditType.LAW_CREATE, "target_type": "state_law"},
    )
    errors: dict[str, str] = {}
    clean_name = clean_line(name, "name", errors, max_length=200)
    clean_requirements = clean_text(requirements, "requirements", errors, max_length=5000)
    code = state_law_code(clean_name)
    if clean_name and code == STATE_LAW_PREFIX:
        errors["name"] = "Use letters or digits in the name."
    if errors:
        raise ValidationFailed("The state law was not added; nothing was saved.", errors)
    if session.scalars(
        select(StateLaw).where((StateLaw.code == code) | (StateLaw.name == clean_name))
    ).first():
        raise Conflict(f"The catalogue already has {clean_name!r}.")
    law = StateLaw(code=code, name=clean_name, requirements=clean_requirements, created_by_id=by.id)
    session.add(law)
    session.flush()
    audit.record(
        session,
        AuditType.LAW_CREATE,
        by=by,
        target_type="state_law",
        target_id=law.id,
        detail={"code": code, "name": clean_name, "requirements": clean_requirements},
    )
    return law
