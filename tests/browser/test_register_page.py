"""The public data-use register in a real browser, with the keyboard: an outsider goes from
the published outputs to the register, reads the listed project, and downloads the audit
head a real time-stamping authority (OpenSSL's `ts`) witnessed, whose token checks out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit import timestamping, witness
from governance.audit.models import AuditTimestamp
from governance.kernel.types import utcnow
from governance.periodic import SCHEDULER
from tests.agreements.builders import Datasets, approved
from tests.browser.keyboard import press, tab_to
from tests.browser.test_journeys import world  # noqa: F401  (the fixture)
from tests.support import People
from tests.tsa import Authority, serve

SUMMARY = "Whether a diversion scheme instead of court changes how often people are re-arrested."


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[Authority]:
    yield from serve(tmp_path / "tsa")


def test_an_outsider_reads_the_register_and_keeps_the_witnessed_head(
    db: Session,
    people: People,
    world: Datasets,  # noqa: F811  (the fixture imported above)
    tsa: Authority,
    live_server: Any,
    new_page: Any,
    tmp_path: Path,
) -> None:
    agreement = approved(
        db, people, world, title="Diversion and re-arrest", public_register=True,
        lay_summary=SUMMARY,
    )  # fmt: skip
    approved(db, people, world, title="An unlisted project")
    db.info["settings"] = {
        **db.info["settings"],
        "AUDIT_TSA_URL": tsa.url,
        "AUDIT_TSA_CA_FILE": str(tsa.root),
    }
    assert timestamping.stamp_checkpoints(db, SCHEDULER, utcnow()) >= 1
    db.commit()
    latest = db.scalars(select(AuditTimestamp).order_by(AuditTimestamp.seq.desc())).first()
    assert latest is not None

    visitor = new_page()  # nobody signs in
    visitor.goto(f"{live_server.url}/published/")
    press(visitor, "main a[href='/register/']")
    text = visitor.inner_text("main")
    assert "Diversion and re-arrest" in text
    assert SUMMARY in text
    assert agreement.reference in text
    assert "An unlisted project" not in text
    assert latest.head_hash in text  # the witnessed head, shown to the public

    tab_to(visitor, "a[href='/register/witness.json']")
    with visitor.expect_download() as download:
        visitor.keyboard.press("Enter")
    kept_path = tmp_path / "kept.json"
    download.value.save_as(kept_path)
    kept = witness.Witness.from_json(json.loads(kept_path.read_text()))
    assert (kept.seq, kept.head_hash) == (latest.seq, latest.head_hash)
    root = x509.load_pem_x509_certificate(tsa.root.read_bytes())
    assert witness.check(kept, [root]) == latest.stamped_at
