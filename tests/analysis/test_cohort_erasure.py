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
    # The file's key is held under a key file of its agreement's, not the data key ring.
    assert cohort.storage_format == "pme1"
    assert cohort.wrapping_key_id is None
    assert cohort.agreement_key_id
    key_file = (
        datastore.key_files.folder(db)
        / f"agreement-{world.agreement.id}"
        / f"cohort-{cohort.id}-{cohort.agreement_key_id}.key"
    )
    assert key_file.exists()
    before = datastore.cohort_key_fingerprint(cohort)
    backup_row = {c.key: getattr(cohort, c.key) for c in CohortFile.__mapper__.column_attrs}
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
    # With the database row as it was (a database backup) and every key left, nothing opens
    # the copy: the agreement's key file for it is gone.
    assert not key_file.exists()
    assert not decrypts_with_live_keys(app, db, backup, binding, backup_row)
    assert destroyed.wrapped_key is None
    event = db.scalars(
        select(AuditEvent).where(
            AuditEvent.event_type == AuditType.DATASET_DESTROY,
            AuditEvent.target_type == "cohort_file",
        )
    ).one()
    fingerprint = event.detail["key_fingerprint"]
    assert fingerprint
    assert fingerprint == before
