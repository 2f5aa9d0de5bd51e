"""The compliance manager's annual audit in a real browser, with the keyboard alone: she opens
an audit period and starts its certification campaign; the steward confirms one analyst's
grant and narrows the other's (whose read of the removed column is refused at once); she sees
the campaign complete and downloads the controls report, sealed with the audit head."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access import requests
from governance.audit import service as audit
from governance.compliance.models import AuditPeriod, CertificationItem, ItemStatus, PeriodStatus
from governance.kernel.types import utcnow
from tests.access.test_data_door import view_url
from tests.access.test_requests_and_grants import ask
from tests.agreements.builders import Datasets, approved
from tests.browser.keyboard import choose, log_in, press, tab_to, type_date, type_into
from tests.browser.test_journeys import world  # noqa: F401  (the fixture)
from tests.conftest import fresh
from tests.support import PASSWORD, People


def test_the_annual_audit_from_period_to_controls_report(
    db: Session,
    people: People,
    world: Datasets,
    live_server: Any,
    new_page: Any,
    console: Any,
) -> None:
    console.expect("status of 403 (FORBIDDEN)")
    agreement = approved(db, people, world)
    for analyst in (people.analyst, people.analyst2):
        request = ask(db, people, agreement, world, by=analyst)
        requests.steward_approve(
            db,
            request_id=request.id,
            columns=["sex", "age_at_arrest"],
            comment="",
            by=people.steward,
            now=utcnow(),
        )
    db.commit()
    base = live_server.url
    today = utcnow().date()

    manager = new_page()
    log_in(manager, base, people.compliance.email, PASSWORD)
    manager.goto(f"{base}/compliance/")
    type_into(manager, "#name", f"FY{today.year}")
    type_date(manager, "#starts_on", (today - dt.timedelta(days=364)).isoformat())
    type_date(manager, "#ends_on", today.isoformat())
    press(manager, "main form button.primary")
    assert re.search(r"/compliance/periods/\d+$", manager.url), manager.content()[:2000]
    period_url = manager.url
    type_date(manager, "#certify_by", (today + dt.timedelta(days=14)).isoformat())
    press(manager, "form[action$='/certify'] button")
    assert "0 of 2 grants decided" in manager.content()
    period = fresh(db).scalars(select(AuditPeriod)).one()
    assert period.status == PeriodStatus.CERTIFYING
    items = {item.holder_id: item.id for item in period.items}

    steward = new_page()
    log_in(steward, base, people.steward.email, PASSWORD)
    steward.goto(f"{base}/compliance/certifications")
    first, second = items[people.analyst.id], items[people.analyst2.id]
    choose(steward, f"#item{first}-decision", "Confirm")
    press(steward, f"form[action$='/certifications/{first}'] button")
    assert "confirmed" in steward.content()
    choose(steward, f"#item{second}-decision", "Narrow")
    choose(steward, f"#item{second}-keep", "sex")
    type_into(steward, f"#item{second}-comment", "Age is not needed for this purpose.")
    press(steward, f"form[action$='/certifications/{second}'] button")
    decided = {i.id: i for i in fresh(db).scalars(select(CertificationItem))}
    assert decided[first].status == ItemStatus.CONFIRMED
    assert decided[second].status == ItemStatus.NARROWED
    assert decided[second].removed_columns == "age_at_arrest"

    reader = new_page()
    log_in(reader, base, people.analyst2.email, PASSWORD)
    page = reader.goto(base + view_url(agreement, world, "columns=age_at_arrest"))
    assert page is not None
    assert page.status == 403

    manager.goto(period_url)
    assert "2 of 2 grants decided (100%)" in manager.content()
    assert "1 confirmed, 1 narrowed" in manager.content()
    tab_to(manager, "a[href$='/controls.pdf']")
    with manager.expect_download() as download:
        manager.keyboard.press("Enter")
    with open(download.value.path(), "rb") as handle:
        data = handle.read()
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    seq, sha = audit.chain_head(fresh(db))
    assert f"seq={seq}" in text
    assert sha[:16] in text
    assert "1 confirmed, 1 narrowed, 0 revoked" in text
    assert "164.312(b)" in text
