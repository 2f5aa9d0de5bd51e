"""A partner's cohort file (names, dates of birth) is erased when its agreement closes: its own
key is deleted with the destruction's record, so no backup copy of the file can be decrypted."""

from __future__ import annotations

import shutil
from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.audit.models import AuditEvent, AuditType
from governance.datasets import datastore
from governance.datasets.cohort_model import CohortFile
from governance.datasets.datastore.cohorts import COHORT_DOMAIN
from governance.datasets.datastore.crypto import Binding
from governance.kernel.types import utcnow
from tests.analysis.conftest import World, upload
from tests.conftest import fresh
from tests.datasets.support import decrypts_with_live_keys
from tests.support import People


def test_closing_the_agreement_erases_every_copy_of_its_cohort_files(
    app: Flask, db: Session, people: People, world: World, tmp_path: Path
) -> None:
    cohort = db.get(CohortFile, upload(db, people, world))
    assert cohort is not None
    binding = Binding(COHORT_DOMAIN, cohort.id)
    path = Path(app.config["DATA_DIR"]) / "cohorts" / cohort.storage_name
    backup = tmp_path / "cohort-backup.gde"
    shutil.copy(path, backup)
    assert decrypts_with_live_keys(app, db, backup, binding)
    wrapped, wrapping_key_id = (
        getattr(cohort, "wrapped_key", None),
        getattr(cohort, "wrapping_key_id", None),
    )
    now = utcnow()
    agreements.terminate(
        db, agreement_id=world.agreement.id, reason="Funding ended.", by=people.privacy2, now=now
    )
    agreements.certify_destruction(
        db,
        agreement_id=world.agreement.id,
        by=people.privacy,
        now=now,
        statement="All copies deleted.",
    )
    db.commit()
    destroyed = fresh(db).get(CohortFile, cohort.id)
    assert destroyed is not None
    assert destroyed.destroyed_at is not None
    assert not path.exists()
    assert not decrypts_with_live_keys(app, db, backup, binding)
    assert destroyed.wrapped_key is None
    event = db.scalars(
        select(AuditEvent).where(
            AuditEvent.event_type == AuditType.DATASET_DESTROY,
            AuditEvent.target_type == "cohort_file",
        )
    ).one()
    fingerprint = event.detail["key_fingerprint"]
    assert fingerprint
    assert fingerprint == datastore.cohort_key_fingerprint(
        CohortFile(wrapped_key=wrapped, wrapping_key_id=wrapping_key_id)
    )
