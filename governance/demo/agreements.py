"""Demo agreements between the lab and the two agencies, one in every state of the lifecycle.

Dates are relative to the day the demo is loaded (so the active agreement is active and the
expired one expired whatever the day); everything else is fixed. Every step goes through the
services, as two privacy officers: Priya drafts, Omar reviews.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

from governance.agreements import service as agreements
from governance.agreements.law_model import LawCode
from governance.agreements.laws import add_state_law
from governance.agreements.models import Agreement
from governance.agreements.schedule import expire_due
from governance.agreements.terms import Signatory, TermsInput
from governance.demo.people import DEMO_ACTOR, PROBATION, DemoWorld
from governance.identity.actors import Actor
from governance.kernel.types import utcnow
from governance.outputs import closeout, progress_reports

DAY = dt.timedelta(days=1)


def _countersign(session: Session, agreement: Agreement, *, by: Actor, now: dt.datetime) -> None:
    """The provider's first named signatory countersigns on the day of approval."""
    version = agreement.current_version
    assert version is not None
    signatory = next(s for s in version.signatories if s["party"] == "provider")
    agreements.execute(
        session,
        agreement_id=agreement.id,
        signature=agreements.Countersignature(
            name=signatory["name"],
            title=signatory["title"],
            organisation=agreement.provider.name,
            signed_on=now.date(),
            signed_copy_reference=f"{agreement.reference}-SIGNED",
        ),
        by=by,
        now=now,
    )


def create_demo_agreements(
    session: Session, world: DemoWorld, *, app: Flask, **_options: Any
) -> None:
    now = utcnow()
    today = now.date()
    drafter, reviewer = world.people["privacy"], world.people["privacy2"]
    juvenile = add_state_law(
        session,
        name="Illinois Juvenile Court Act",
        by=drafter,
        requirements="Juvenile law enforcement and court records are confidential "
        "(705 ILCS 405/1-7, 1-8): no record of a minor may be disclosed or "
        "re-disclosed outside the purposes the court allows.",
    )

    def make(
        key: str,
        provider: str,
        start: dt.date,
        end: dt.date,
        *,
        submit: bool = True,
        approve: bool = True,
        execute: bool = True,
        acting: dt.datetime | None = None,
        **terms: Any,
    ) -> Agreement:
        moment = acting or now
        agreement = agreements.create_agreement(
            session,
            provider_id=world.organizations[provider].id,
            recipient_id=world.people["analyst"].organization_id,
            by=drafter,
            now=moment,
            terms=_terms(world, provider, start, end, **terms),
        )
        if submit:
            agreements.submit(session, agreement_id=agreement.id, by=drafter, now=moment)
        if approve:
            agreements.approve(
                session,
                agreement_id=agreement.id,
                by=reviewer,
                now=moment,
                comment="Scope and safeguards checked against the request.",
            )
        if approve and execute:
            _countersign(session, agreement, by=reviewer, now=moment)
        world.extra.setdefault("agreements", {})[key] = agreement
        return agreement

    make(
        "active",
        "Metro Police Department",
        today - 90 * DAY,
        today + 25 * DAY,
        title="Pre-arrest diversion: impact on re-arrest",
        purpose="Estimate whether pre-arrest diversion reduces re-arrest within one year, "
        "against a matched comparison group of similar arrestees.",
        uses=["descriptive", "rate_comparison", "matched_comparison"],
        analysis_data=True,
        lay_summary="Some people arrested for minor offences are offered a diversion "
        "programme instead of being charged. This project compares how often they are "
        "arrested again within a year with similar people who were charged, to tell the "
        "police department whether the programme works.",
        acting=now - 90 * DAY,
    )
    amended = make(
        "amended",
        "Metro Police Department",
        today - 200 * DAY,
        today + 165 * DAY,
        title="Violence reduction programme: linked outcomes",
        purpose="Link programme participants to later arrests and describe outcomes by district.",
        uses=["descriptive", "record_linkage"],
        acting=now - 200 * DAY,
    )
    agreements.start_amendment(
        session,
        agreement_id=amended.id,
        by=drafter,
        now=now,
        reason="Add the district so outcomes can be described by "
        "district, as the department asked.",
    )
    agreements.update_draft(
        session,
        agreement_id=amended.id,
        by=drafter,
        now=now,
        terms=_terms(
            world,
            "Metro Police Department",
            today - 200 * DAY,
            today + 165 * DAY,
            extra_columns=["district"],
            title="Violence reduction programme: linked outcomes",
            purpose="Link programme participants to later "
            "arrests and describe outcomes by district.",
            uses=["descriptive", "record_linkage"],
        ),
    )
    agreements.submit(session, agreement_id=amended.id, by=drafter, now=now)
    make(
        "approved",
        PROBATION,
        today + 14 * DAY,
        today + 14 * DAY + 365 * DAY,
        title="Cognitive behavioural programme: matched comparison",
        purpose="Compare one-year proven reoffending of programme completers with a matched "
        "group on probation who did not take part.",
        uses=["matched_comparison"],
        # Approved, waiting for the probation department's countersignature (the tour records
        # it).
        execute=False,
    )
    make(
        "submitted",
        "Metro Police Department",
        today + 7 * DAY,
        today + 372 * DAY,
        approve=False,
        title="Hot-spot patrols and arrest rates",
        purpose="Compare arrest rates in districts before and after hot-spot patrols began.",
        uses=["rate_comparison"],
        # HIPAA cited on police arrest records: the reviewer is warned that it does not fit.
        laws=[LawCode.CJIS, LawCode.HIPAA],
        legal_bases={LawCode.HIPAA: "IRB waiver of authorisation (45 CFR 164.512(i))"},
    )
    make(
        "draft",
        PROBATION,
        today + 30 * DAY,
        today + 395 * DAY,
        submit=False,
        approve=False,
        title="Reentry employment programme: who is served",
        purpose="Describe the people on supervision who join the reentry employment programme.",
        uses=["descriptive"],
        laws=[LawCode.CJIS, juvenile.code],
    )
    terminated = make(
        "terminated",
        "Metro Police Department",
        today - 60 * DAY,
        today + 300 * DAY,
        title="Body-worn camera pilot: arrest outcomes",
        purpose="Describe arrest outcomes in the pilot districts.",
        uses=["descriptive"],
        acting=now - 60 * DAY,
    )
    agreements.terminate(
        session,
        agreement_id=terminated.id,
        by=reviewer,
        now=now - 10 * DAY,
        reason="The department ended the pilot; no analysis will follow.",
    )
    make(
        "expired",
        PROBATION,
        today - 500 * DAY,
        today - 20 * DAY,
        title="Electronic monitoring: completion rates",
        purpose="Describe completion of supervision with and without electronic monitoring.",
        uses=["descriptive"],
        acting=now - 500 * DAY,
    )
    closed = make(
        "closed",
        PROBATION,
        today - 800 * DAY,
        today - 400 * DAY,
        title="Supervision risk levels: descriptive profile",
        purpose="Describe supervision orders by risk level and programme.",
        uses=["descriptive"],
        acting=now - 800 * DAY,
    )
    expire_due(session, DEMO_ACTOR, now)
    agreements.certify_destruction(
        session,
        agreement_id=closed.id,
        by=reviewer,
        now=now - 380 * DAY,
        statement="All extracts and derived files deleted from the secure environment "
        "(NIST SP 800-88 clear); certificate DC-2025-014 signed by the data manager.",
    )
    # The close-out: the final report, accepted, then the close the checklist allows.
    final = progress_reports.submit_report(
        session,
        agreement_id=closed.id,
        period_end=today - 400 * DAY,
        work_done="Descriptive profile of supervision orders by risk level delivered to the "
        "department; no outputs were published.",
        team_changes="",
        output_ids=[],
        by=world.people["analyst"],
        now=now - 379 * DAY,
        final=True,
    )
    progress_reports.decide_report(
        session, report_id=final.id, accept=True, comment="", by=reviewer, now=now - 378 * DAY
    )
    closeout.close_agreement(session, agreement_id=closed.id, by=reviewer, now=now - 377 * DAY)


def _terms(
    world: DemoWorld,
    provider: str,
    start: dt.date,
    end: dt.date,
    *,
    title: str,
    purpose: str,
    uses: list[str],
    laws: list[str] | None = None,
    legal_bases: dict[str, str] | None = None,
    extra_columns: tuple[str, ...] | list[str] = (),
    analysis_data: bool = False,
    lay_summary: str = "",
) -> TermsInput:
    police = provider != PROBATION
    dataset = world.extra["datasets"]["Arrests" if police else "Probation supervision"]
    columns = (
        ["person_id", "sex", "age_at_arrest", "arrest_date", "offence_category"]
        if police
        else [
            "person_id",
            "sex",
            "supervision_start",
            "risk_level",
            "programme",
            "reoffended_within_1y",
        ]
    )
    people = world.people
    covered = {dataset.id: [*columns, *extra_columns]}
    if analysis_data:
        # The synthetic index events and proven offences the analysis engine reads.
        for name in ("Index events", "Proven offences"):
            analysed = world.extra["datasets"][name]
            covered[analysed.id] = analysed.column_names
    return TermsInput(
        title=title,
        purpose=purpose,
        effective_date=start,
        expiry_date=end,
        permitted_uses=uses,
        columns=covered,
        signatories=[
            Signatory(
                "provider",
                "Chief Dana Reyes" if police else "Maria Lopez",
                "Chief of Police" if police else "Chief Probation Officer",
            ),
            Signatory("recipient", "Dr Lee Park", "Director, Riverside Crime Lab"),
        ],
        laws=laws or [LawCode.CJIS],
        legal_bases=legal_bases or {},
        # With a lay summary the parties allow the public data-use register to list it.
        public_register=bool(lay_summary),
        lay_summary=lay_summary,
        excluded_offence_categories=["sexual", "domestic_violence", "terrorism"],
        personnel={
            people["analyst"].id: "principal_investigator",
            people["analyst2"].id: "analyst",
            people["steward"].id: "data_manager",
        },
    )
