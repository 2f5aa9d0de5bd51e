"""Rotating the visa signing key and dropping retired keys, each with its audit event.

Only the host operator rotates (`governance passport rotate-key`); the periodic job and the
command drop the retired keys that no visa in circulation needs any more (signing_keys.py
says when that is)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditType
from governance.identity.actors import Actor, System
from governance.kernel.errors import PermissionDenied
from governance.passport import signing_keys
from governance.passport.visas import settings_of

PURPOSE = "passport"


def rotate_key(session: Session, *, by: Actor, now: dt.datetime) -> signing_keys.Rotation:
    """A new current signing key; the old one verifies its visas until they expire."""
    if not isinstance(by, System):
        raise PermissionDenied("Only the host operator (the `governance` command) rotates keys.")
    rotation = signing_keys.rotate(settings_of(session), now)
    audit.record(
        session,
        AuditType.KEY_ROTATE,
        by=by,
        target_type="key",
        target_id=rotation.new_kid,
        detail={
            "purpose": PURPOSE,
            "retired_key_id": rotation.old_kid,
            "new_key_id": rotation.new_kid,
            "algorithm": rotation.algorithm,
        },
        now=now,
    )
    return rotation


def drop_retired_keys(session: Session, actor: System, now: dt.datetime) -> int:
    """The periodic job: delete each retired key no visa in circulation needs."""
    settings = settings_of(session)
    dropped = signing_keys.droppable_keys(session, settings, now)
    for kid in dropped:
        audit.record(
            session,
            AuditType.KEY_DISCARD,
            by=actor,
            target_type="key",
            target_id=kid,
            detail={"purpose": PURPOSE, "reason": "every visa it signed has expired"},
            now=now,
        )
        signing_keys.delete_public_key(settings, kid)
    return len(dropped)
