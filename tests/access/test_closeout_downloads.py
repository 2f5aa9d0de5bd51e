"""The close-out's downloads item (issue 17): each person who downloaded rows under the
agreement must file a destruction attestation before it can close; someone else's does not
count, and the attestations, destroyed with the data, still count afterwards."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import data_door
from governance.access import requests as access_requests
from governance.agreements import attachments
from governance.agreements import service as agreements
from governance.agreements.models import Agreement
from governance.datasets.models import DatasetVersion
from governance.kernel.types import utcnow
from governance.outputs import closeout
from tests.access.test_obligations_at_every_read import with_grant
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets
from tests.agreements.test_attachments import pdf_bytes
from tests.conftest import fresh
from tests.outputs.test_closeout import unmet_keys
from tests.support import People


def test_each_recipient_who_downloaded_rows_must_attest_their_destruction(
    db: Session, people: People, datasets: Datasets
) -> None:
    agreement = with_grant(db, people, datasets, row_level_download=True)
    request = ask(db, people, agreement, datasets, columns=("sex",), download=True)
    access_requests.steward_approve(
        db, request_id=request.id, columns=["sex"], comment="", by=people.steward, now=utcnow()
    )
    db.commit()
    _header, rows, decision = data_door.download_rows(
        db,
        by=people.analyst,
        agreement_id=agreement.id,
        dataset_id=datasets.arrests.id,
        columns=["sex"],
        purpose="descriptive",
        now=utcnow(),
    )
    assert decision.allowed
    list(rows)
    db.commit()
    agreements.terminate(
        db, agreement_id=agreement.id, reason="Ended.", by=people.privacy, now=utcnow()
    )
    db.commit()
    item = next(
        i
        for i in closeout.checklist(db, fresh(db).get(Agreement, agreement.id))  # type: ignore[arg-type]
        if i.key == "downloads_attested"
    )
    assert not item.met
    assert people.analyst.email in item.detail
    assert "grants_ended" not in unmet_keys(db, agreement)
    # Someone else's attestation does not count for the analyst.
    attachments.upload(
        db,
        agreement_id=agreement.id,
        kind="destruction_attestation",
        title="Second analyst's attestation",
        filename="analyst2.pdf",
        declared_type="pdf",
        content=pdf_bytes(),
        attesting_user_id=people.analyst2.id,
        by=people.privacy,
        now=utcnow(),
    )
    db.commit()
    assert "downloads_attested" in unmet_keys(db, agreement)
    attachments.upload(
        db,
        agreement_id=agreement.id,
        kind="destruction_attestation",
        title="Analyst's attestation",
        filename="analyst.pdf",
        declared_type="pdf",
        content=pdf_bytes(),
        attesting_user_id=people.analyst.id,
        by=people.analyst,
        now=utcnow(),
    )
    db.commit()
    assert "downloads_attested" not in unmet_keys(db, agreement)
    agreements.certify_destruction(
        db, agreement_id=agreement.id, statement="Wiped.", by=people.privacy, now=utcnow()
    )
    db.commit()
    # The stored data and both attestations are destroyed; the attestations still count.
    assert unmet_keys(db, agreement) == {"final_report"}
    assert all(v.destroyed_at is not None for v in fresh(db).scalars(select(DatasetVersion)))
