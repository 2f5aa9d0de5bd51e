"""The catalogue of laws and policies an agreement can bind the recipient to (`privacy.laws`).

Each federal or national law carries the handling requirements the recipient accepts, the
training every authorised person must hold (`TrainingCourse`), and whether it imposes the
"minimum necessary" rule on access. State laws are added by name by privacy officers
(`StateLaw`); they carry their requirements as text. An agreement stores a snapshot of each
chosen law's terms, so a later edit of the catalogue never rewrites what was agreed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from governance.identity.models import TrainingCourse
from governance.kernel.db import Base
from governance.kernel.types import created_at, intpk, str200

STATE_LAW_PREFIX = "state:"


class LawCode(StrEnum):
    HIPAA = "hipaa"
    FERPA = "ferpa"
    CJIS = "cjis"
    PART2 = "42cfr2"
    PRIVACY_ACT = "privacy_act_1974"
    UK_GDPR = "uk_gdpr_dpa2018"


@dataclass(frozen=True)
class Law:
    """One entry of the catalogue, as an agreement records it."""

    code: str
    label: str
    requirements: str
    courses: frozenset[TrainingCourse] = field(default_factory=frozenset)
    minimum_necessary: bool = False
    # The breach notification the law requires, if any: to whom, within how many hours of the
    # incident's discovery, and the rule it comes from (a deployment may override the hours
    # per law: BREACH_NOTICE_HOURS in the configuration).
    breach_notice: BreachNotice | None = None
    # The legal basis an agreement citing the law must name for the disclosure (what the
    # agreement's `privacy.legal_basis` clause records), as a prompt; None: the law asks none.
    legal_basis: str | None = None

    def snapshot(self) -> dict[str, Any]:
        snapshot = {
            "code": self.code,
            "label": self.label,
            "requirements": self.requirements,
            "courses": sorted(c.value for c in self.courses),
            "minimum_necessary": self.minimum_necessary,
        }
        if self.legal_basis is not None:
            snapshot["legal_basis"] = self.legal_basis
        if self.breach_notice is not None:
            snapshot["breach_notice"] = self.breach_notice.as_dict()
        return snapshot


@dataclass(frozen=True)
class BreachNotice:
    recipient: str
    hours: int
    rule: str

    def as_dict(self) -> dict[str, Any]:
        return {"recipient": self.recipient, "hours": self.hours, "rule": self.rule}


NATIONAL_LAWS: dict[str, Law] = {
    law.code: law
    for law in (
        Law(
            LawCode.HIPAA,
            "HIPAA Privacy and Security Rules (45 CFR Parts 160 and 164)",
            "Use and disclose only the minimum necessary protected health information "
            "(45 CFR 164.502(b)); keep the Security Rule's administrative, physical and technical "
            "safeguards; report any breach to the provider without delay.",
            frozenset({TrainingCourse.HIPAA_PRIVACY}),
            minimum_necessary=True,
            breach_notice=BreachNotice(
                "the covered entity (the provider), for notice to individuals and HHS",
                60 * 24,
                "HIPAA Breach Notification Rule (45 CFR 164.410): without unreasonable delay and "
                "no later than 60 calendar days after discovery",
            ),
            legal_basis="the individuals' authorisation (45 CFR 164.508) or an IRB or privacy "
            "board's waiver of authorisation (45 CFR 164.512(i))",
        ),
        Law(
            LawCode.FERPA,
            "FERPA (20 U.S.C. 1232g; 34 CFR Part 99)",
            "Education records disclosed for studies (34 CFR 99.31(a)(6)) are used only for the "
            "stated study; no one outside the named personnel may identify a student or parent; "
            "records are destroyed when no longer needed for the study.",
            frozenset({TrainingCourse.FERPA}),
            minimum_necessary=True,
            legal_basis="the studies exception (34 CFR 99.31(a)(6)) or written consent "
            "(34 CFR 99.30)",
        ),
        Law(
            LawCode.CJIS,
            "FBI CJIS Security Policy",
            "Criminal justice information is protected under the CJIS Security Policy: security "
            "awareness training for every authorised person before access and every year, "
            "personnel screening, advanced authentication, encryption in transit and at rest, "
            "and audit logging of every access.",
            frozenset({TrainingCourse.CJIS_SECURITY_AWARENESS}),
            minimum_necessary=True,
        ),
        Law(
            LawCode.PART2,
            "42 CFR Part 2 (confidentiality of substance use disorder records)",
            "Patient records are used only under this written agreement, are not re-disclosed, and "
            "are never used to initiate or substantiate criminal charges against a patient "
            "(42 CFR 2.12, 2.52).",
            frozenset({TrainingCourse.PART2_CONFIDENTIALITY}),
            minimum_necessary=True,
            legal_basis="the patients' written consent (42 CFR 2.31) or the research disclosure "
            "provisions (42 CFR 2.52)",
        ),
        Law(
            LawCode.PRIVACY_ACT,
            "Privacy Act of 1974 (5 U.S.C. 552a)",
            "Records from a federal system of records are used only for statistical research in "
            "a form that is not individually identifiable (5 U.S.C. 552a(b)(5)); disclosures are "
            "accounted for.",
        ),
        Law(
            LawCode.UK_GDPR,
            "UK GDPR and Data Protection Act 2018",
            "A lawful basis and the Schedule 1 conditions for special category and criminal "
            "offence data; data minimisation (Article 5(1)(c)); storage limitation; a data "
            "protection impact assessment where processing is high risk.",
            frozenset({TrainingCourse.UK_DATA_PROTECTION}),
            minimum_necessary=True,
            breach_notice=BreachNotice(
                "the supervisory authority (the Information Commissioner's Office)",
                72,
                "UK GDPR Article 33(1): without undue delay and, where feasible, not later than "
                "72 hours after becoming aware of a personal data breach",
            ),
            legal_basis="the Article 6(1) lawful basis and, for special category or criminal "
            "offence data, the Article 9(2) or 10 condition with its Data Protection "
            "Act 2018 Schedule 1 condition",
        ),
    )
}

# Every agreement requires current privacy and security training of every authorised person,
# whatever laws it names.
BASELINE_COURSES = frozenset({TrainingCourse.PRIVACY_SECURITY})


class StateLaw(Base):
    """A state law added to the catalogue by name, with its handling requirements."""

    __tablename__ = "state_law"
    __table_args__ = (UniqueConstraint("code"), UniqueConstraint("name"))

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(80))
    name: Mapped[str200]
    requirements: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[created_at]

    def as_law(self) -> Law:
        return Law(self.code, self.name, self.requirements)


def breach_notice_of(law: dict[str, Any]) -> BreachNotice | None:
    """The notice a recorded law requires: its snapshot's, else the catalogue's (agreements
    recorded before the catalogue carried deadlines)."""
    stored = law.get("breach_notice")
    if stored:
        return BreachNotice(str(stored["recipient"]), int(stored["hours"]), str(stored["rule"]))
    catalogued = NATIONAL_LAWS.get(str(law.get("code")))
    return None if catalogued is None else catalogued.breach_notice


def legal_basis_required(law: dict[str, Any]) -> str | None:
    """What legal basis a recorded law asks the agreement to name (its snapshot's prompt,
    else the catalogue's, for agreements recorded before the catalogue asked)."""
    if "legal_basis" in law:
        return str(law["legal_basis"])
    catalogued = NATIONAL_LAWS.get(str(law.get("code")))
    return None if catalogued is None else catalogued.legal_basis


def courses_of(law_snapshots: list[dict[str, Any]]) -> set[TrainingCourse]:
    """The courses a set of recorded laws requires, plus the baseline every agreement needs."""
    courses = set(BASELINE_COURSES)
    for law in law_snapshots:
        courses.update(TrainingCourse(c) for c in law.get("courses", []))
    return courses
