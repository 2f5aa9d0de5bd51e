"""`governance expire --now` activates and expires exactly the agreements due at that moment.

The expiry date is the last day in force: an agreement expiring on D is active until the end of
D (UTC) and expired from 00:00 UTC on D + 1.
"""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement, AgreementStatus
from governance.cli import main
from tests.agreements import builders
from tests.agreements.builders import Datasets
from tests.conftest import fresh
from tests.support import People


def run_expire(app: Flask, monkeypatch: pytest.MonkeyPatch, now: str) -> str:
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", app.config["DATABASE_URL"])
    result = CliRunner().invoke(main, ["expire", "--apply", "--now", now])
    assert result.exit_code == 0, result.output
    return result.output


def statuses(db: Session, *agreements: Agreement) -> list[str]:
    fresh(db)
    return [str(db.get(Agreement, a.id).status) for a in agreements]  # type: ignore[union-attr]


def test_expire_now_changes_exactly_the_agreements_due(
    app: Flask, db: Session, people: People, datasets: Datasets, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = builders.today()
    day = dt.timedelta(days=1)
    ends_d10 = builders.approved(db, people, datasets, expiry_date=today + 10 * day)
    ends_d11 = builders.approved(db, people, datasets, expiry_date=today + 11 * day)
    starts_d11 = builders.approved(
        db, people, datasets, effective_date=today + 11 * day, expiry_date=today + 40 * day
    )
    starts_d12 = builders.approved(
        db, people, datasets, effective_date=today + 12 * day, expiry_date=today + 40 * day
    )
    draft = builders.draft(db, people, datasets, expiry_date=today + 2 * day)
    everything = (ends_d10, ends_d11, starts_d11, starts_d12, draft)

    last_second = (today + 10 * day).isoformat() + "T23:59:59+00:00"
    output = run_expire(app, monkeypatch, last_second)
    assert "agreements.expire: 0 changed" in output
    assert statuses(db, *everything) == ["active", "active", "executed", "executed", "draft"]

    # A naive time is UTC; 00:00 on D+1 is the first moment after the last day in force.
    output = run_expire(app, monkeypatch, (today + 11 * day).isoformat() + "T00:00:00")
    assert "agreements.expire: 1 changed" in output
    assert "agreements.activate: 1 changed" in output
    assert f"agreement:expire {ends_d10.reference} version 1" in output
    assert f"agreement:activate {starts_d11.reference} version 1" in output
    assert statuses(db, *everything) == ["expired", "active", "active", "executed", "draft"]

    again = run_expire(app, monkeypatch, (today + 11 * day).isoformat() + "T12:00:00Z")
    assert "agreements.expire: 0 changed" in again
    assert "agreements.activate: 0 changed" in again

    run_expire(app, monkeypatch, (today + 60 * day).isoformat())
    assert statuses(db, *everything) == ["expired", "expired", "expired", "expired", "draft"]
    ended = fresh(db).get(Agreement, ends_d10.id)
    assert ended is not None
    assert ended.ended_at == dt.datetime.combine(today + 11 * day, dt.time(), tzinfo=dt.UTC)
    assert ended.destruction_due() == today + 41 * day


def test_a_malformed_now_is_refused(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", app.config["DATABASE_URL"])
    result = CliRunner().invoke(main, ["expire", "--now", "next tuesday"])
    assert result.exit_code == 2
    assert "not an ISO-8601 date-time" in result.output


def test_an_expired_agreement_with_a_pending_amendment_discards_it(
    db: Session, people: People, datasets: Datasets
) -> None:
    from governance.agreements import service as agreements
    from governance.agreements.schedule import expire_due
    from governance.identity.actors import System
    from governance.kernel.types import utcnow

    agreement = builders.approved(
        db, people, datasets, expiry_date=builders.today() + dt.timedelta(days=1)
    )
    agreements.start_amendment(
        db, agreement_id=agreement.id, reason="Extend", by=people.privacy, now=utcnow()
    )
    assert expire_due(db, System("t"), utcnow() + dt.timedelta(days=2)) == 1
    assert agreement.status == AgreementStatus.EXPIRED
    assert agreement.working_version is None
    assert agreement.versions[-1].status == "discarded"


def test_expire_without_apply_is_a_dry_run_whose_summary_counts_what_it_lists(
    app: Flask, db: Session, people: People, datasets: Datasets, monkeypatch: pytest.MonkeyPatch
) -> None:
    from governance.audit import service as audit
    from governance.audit.models import AuditEvent

    today = builders.today()
    ending = builders.approved(db, people, datasets, expiry_date=today + dt.timedelta(days=3))
    head = audit.chain_head(fresh(db))
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", app.config["DATABASE_URL"])
    moment = (today + dt.timedelta(days=5)).isoformat()
    result = CliRunner().invoke(main, ["expire", "--now", moment])
    assert result.exit_code == 0, result.output
    output = result.output
    assert "Dry run" in output
    assert "nothing was changed" in output
    assert "agreements.expire: 1 would change, 1 audited event" in output
    assert f"agreement:expire {ending.reference} version 1" in output
    assert "datastore-sweep: not previewed" in output
    assert statuses(db, ending) == ["active"]
    assert audit.chain_head(fresh(db)) == head
    # Every job's count of events is the number of event lines listed under it.
    listed = [line for line in output.splitlines() if line.startswith("    ")]
    counted = sum(
        int(part.split(" audited")[0].rsplit(", ", 1)[1])
        for part in output.splitlines()
        if " audited event" in part and part.startswith("  ") and not part.startswith("    ")
    )
    assert counted == len(listed) > 0
    assert f"{len(listed)} audited event" in output.splitlines()[-1]

    applied = CliRunner().invoke(main, ["expire", "--apply", "--now", moment])
    assert applied.exit_code == 0, applied.output
    assert "agreements.expire: 1 changed" in applied.output
    assert statuses(db, ending) == ["expired"]
    assert fresh(db).query(AuditEvent).filter(AuditEvent.seq > head[0]).count() == len(listed)
