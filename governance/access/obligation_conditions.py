"""The obligations every grant depends on beyond training, as conditions of conditions.py.

Each is folded into the grant's effective end when something it reads changes (an acceptance,
an ethics approval, an attestation, an incident freeze, an amendment), so a read after a lapse
is refused with the clause that failed at no extra cost to the decision:

- `personnel`: the holder is still on the personnel list of the version the grant is under;
- `personnel.acceptance`: the holder accepted the individual terms of that version (when the
  version asks for it);
- `ethics.approval`: the project's ethics approval is in force (when the version asks for it);
- `personnel.attestation`: the holder's periodic attestation is not overdue (when the version
  sets a period);
- `incidents.freeze`: no open incident has frozen the agreement.

Each reason says what the holder (and the stewards, who receive the same notice) can do.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access.conditions import Condition, covered_until, midnight, versions_of
from governance.access.models import Grant
from governance.access.obligations import attestation_due
from governance.agreements.models import Agreement, AgreementVersion
from governance.agreements.obligations import individual_terms_sha256
from governance.agreements.obligations_model import Acceptance, EthicsApproval

CLAUSE_PERSONNEL = "personnel"
CLAUSE_ACCEPTANCE = "personnel.acceptance"
CLAUSE_ETHICS = "ethics.approval"
CLAUSE_ATTESTATION = "personnel.attestation"

Ends = dict[int, tuple[dt.datetime, str]]


def reference_of(session: Session, agreement_id: int) -> str:
    agreement = session.get(Agreement, agreement_id)
    return agreement.reference if agreement is not None else f"agreement {agreement_id}"


def on_personnel_list(session: Session, grants: Sequence[Grant], now: dt.datetime) -> Ends:
    versions = versions_of(session, grants)
    ends: Ends = {}
    for grant in grants:
        version = versions.get((grant.agreement_id, grant.agreement_version))
        if version is not None and not version.is_personnel(grant.user_id):
            reference = reference_of(session, grant.agreement_id)
            ends[grant.id] = (
                now,
                (
                    f"You are no longer on the personnel list of {reference}"
                    f" (clause {CLAUSE_PERSONNEL}). Ask the principal investigator to add you in "
                    "an "
                    "amendment; a steward then decides on a new request."
                ),
            )
    return ends


def accepted_current_terms(session: Session, grants: Sequence[Grant], now: dt.datetime) -> Ends:
    versions = versions_of(session, grants)
    asked = [g for g in grants if _version_asks(versions, g, "acceptance_required")]
    if not asked:
        return {}
    accepted: dict[tuple[int, int], set[str]] = defaultdict(set)
    for user_id, agreement_id, sha in session.execute(
        select(Acceptance.user_id, Acceptance.agreement_id, Acceptance.terms_sha256).where(
            Acceptance.user_id.in_({g.user_id for g in asked}),
            Acceptance.agreement_id.in_({g.agreement_id for g in asked}),
        )
    ):
        accepted[(user_id, agreement_id)].add(sha)
    ends: Ends = {}
    for grant in asked:
        version = versions[(grant.agreement_id, grant.agreement_version)]
        if individual_terms_sha256(version) in accepted[(grant.user_id, grant.agreement_id)]:
            continue
        ends[grant.id] = (
            now,
            (
                f"You have not yet accepted the terms of version {version.number} of "
                f"{reference_of(session, grant.agreement_id)} that bind you personally (clause "
                f"{CLAUSE_ACCEPTANCE}). Open the agreement, read them and accept them with your "
                f"password: your access resumes at once. Stewards: nothing to do."
            ),
        )
    return ends


def ethics_in_force(session: Session, grants: Sequence[Grant], now: dt.datetime) -> Ends:
    versions = versions_of(session, grants)
    asked = [g for g in grants if _version_asks(versions, g, "ethics_required")]
    if not asked:
        return {}
    periods: dict[int, list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)
    for approval in session.scalars(
        select(EthicsApproval).where(
            EthicsApproval.agreement_id.in_({g.agreement_id for g in asked})
        )
    ):
        # In force from the later of the letter's date and its recording: a letter recorded
        # late never covers the reads refused before it.
        start = max(midnight(approval.approved_on), approval.recorded_at)
        periods[approval.agreement_id].append(
            (start, midnight(approval.expires_on + dt.timedelta(days=1)))
        )
    todo = (
        "The principal investigator sends the board's renewed approval to the privacy "
        "officer, who records it; access resumes as soon as it is recorded."
    )
    ends: Ends = {}
    for grant in asked:
        reference = reference_of(session, grant.agreement_id)
        until = covered_until(periods[grant.agreement_id], now)
        if until is not None:
            ends[grant.id] = (
                until,
                (
                    f"The ethics approval of {reference} expired on "
                    f"{(until - dt.timedelta(days=1)).date().isoformat()} (clause "
                    f"{CLAUSE_ETHICS}). "
                    f"{todo}"
                ),
            )
        else:
            ends[grant.id] = (
                now,
                (f"{reference} has no ethics approval in force (clause {CLAUSE_ETHICS}). {todo}"),
            )
    return ends


def attestation_not_overdue(session: Session, grants: Sequence[Grant], now: dt.datetime) -> Ends:
    due = attestation_due(session, grants, versions_of(session, grants))
    ends: Ends = {}
    for grant in grants:
        due_on = due.get((grant.user_id, grant.agreement_id))
        if due_on is None:
            continue
        ends[grant.id] = (
            midnight(due_on + dt.timedelta(days=1)),
            (
                f"Your attestation under {reference_of(session, grant.agreement_id)} was due on "
                f"{due_on.isoformat()} (clause {CLAUSE_ATTESTATION}). Open the agreement and "
                "attest that you still need the access, kept the terms and list any copies held "
                "outside the service: your access resumes at once."
            ),
        )
    return ends


def _version_asks(
    versions: dict[tuple[int, int], AgreementVersion], grant: Grant, term: str
) -> bool:
    version = versions.get((grant.agreement_id, grant.agreement_version))
    return version is not None and bool(getattr(version, term))


# The conditions above, by the clause a refusal cites (the registry installs them).
OBLIGATION_CONDITIONS: tuple[tuple[str, Condition], ...] = (
    (CLAUSE_PERSONNEL, on_personnel_list),
    (CLAUSE_ACCEPTANCE, accepted_current_terms),
    (CLAUSE_ETHICS, ethics_in_force),
    (CLAUSE_ATTESTATION, attestation_not_overdue),
)
