"""The terms of an agreement as a privacy officer enters them: checked, then written to a
version. Invalid terms are refused as a whole with a message per field and nothing is saved;
incomplete terms may be saved as a draft but not submitted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.analysis_kind_model import AnalysisKind
from governance.agreements.law_model import legal_basis_required
from governance.agreements.laws import catalogue
from governance.agreements.models import (
    DEFAULT_DESTRUCTION_DAYS,
    DEFAULT_DOMINANCE_THRESHOLD,
    DEFAULT_MAX_ABS_SMD,
    DEFAULT_MIN_AGE,
    DEFAULT_MIN_CELL_SIZE,
    DEFAULT_MIN_COHORT_SIZE,
    DEFAULT_MIN_LINK_PROBABILITY,
    DEFAULT_PREVIEW_WINDOW_DAYS,
    ROUNDING_BASES,
    AgreementVersion,
    DerivedForms,
    ResearchProductsOwner,
)
from governance.agreements.parts_model import CoveredColumn, Personnel, ProjectRole
from governance.datasets.models import Dataset
from governance.identity.models import User
from governance.kernel.errors import ValidationFailed
from governance.kernel.text import clean_line, clean_lines, clean_text

PARTIES = ("provider", "recipient")


@dataclass
class Signatory:
    party: str
    name: str
    title: str = ""


@dataclass
class TermsInput:
    """Everything a version holds, as typed; `columns` maps dataset id to column names and
    `personnel` maps user id to project role."""

    title: str
    purpose: str
    effective_date: dt.date
    expiry_date: dt.date
    permitted_uses: list[str] = field(default_factory=list)
    columns: dict[int, list[str]] = field(default_factory=dict)
    signatories: list[Signatory] = field(default_factory=list)
    research_products_owner: str = ResearchProductsOwner.RECIPIENT.value
    laws: list[str] = field(default_factory=list)
    third_party_recipients: list[str] = field(default_factory=list)
    publication_allowed: bool = True
    min_cell_size: int = DEFAULT_MIN_CELL_SIZE
    min_cohort_size: int = DEFAULT_MIN_COHORT_SIZE
    preview_window_days: int = DEFAULT_PREVIEW_WINDOW_DAYS
    two_checkers_required: bool = True
    dominance_threshold: float = DEFAULT_DOMINANCE_THRESHOLD
    rounding_base: int | None = None
    protection_width: int | None = None
    max_abs_smd: float = DEFAULT_MAX_ABS_SMD
    min_link_probability: float = DEFAULT_MIN_LINK_PROBABILITY
    row_level_download: bool = False
    min_age: int | None = DEFAULT_MIN_AGE
    excluded_offence_categories: list[str] = field(default_factory=list)
    withheld_offence_categories: list[str] = field(default_factory=list)
    destruction_days: int = DEFAULT_DESTRUCTION_DAYS
    personnel: dict[int, str] = field(default_factory=dict)
    acceptance_required: bool = False
    attestation_months: int | None = None
    ethics_required: bool = False
    provider_notice_hours: int | None = None
    legal_bases: dict[str, str] = field(default_factory=dict)
    progress_months: int | None = None
    # Above this share of records unique on a request's quasi-identifiers, a privacy officer
    # approves too (access/requests.py); None: no limit.
    max_unique_share: float | None = None
    # The forms a column may be granted in instead of its stored values (access/requests.py,
    # the data door): none, coarsened, pseudonymised or both. None unless chosen; an amendment
    # starts from the version it amends.
    derived_forms: str = DerivedForms.NONE.value
    # Transparency: whether the parties allow the agreement on the public data-use register,
    # and the plain-language summary shown there (governance/register).
    public_register: bool = False
    lay_summary: str = ""

    @classmethod
    def from_version(cls, version: AgreementVersion) -> TermsInput:
        columns: dict[int, list[str]] = {}
        for covered in version.covered:
            columns.setdefault(covered.dataset_id, []).append(covered.column_name)
        return cls(
            title=version.title,
            purpose=version.purpose,
            effective_date=version.effective_date,
            expiry_date=version.expiry_date,
            permitted_uses=list(version.permitted_uses),
            columns=columns,
            signatories=[Signatory(**s) for s in version.signatories],
            research_products_owner=str(version.research_products_owner),
            laws=version.law_codes,
            third_party_recipients=list(version.third_party_recipients),
            publication_allowed=version.publication_allowed,
            min_cell_size=version.min_cell_size,
            min_cohort_size=version.min_cohort_size,
            preview_window_days=version.preview_window_days,
            two_checkers_required=version.two_checkers_required,
            dominance_threshold=version.dominance_threshold,
            rounding_base=version.rounding_base,
            protection_width=version.protection_width,
            max_abs_smd=version.max_abs_smd,
            min_link_probability=version.min_link_probability,
            row_level_download=version.row_level_download,
            min_age=version.min_age,
            excluded_offence_categories=list(version.excluded_offence_categories),
            withheld_offence_categories=list(version.withheld_offence_categories),
            destruction_days=version.destruction_days,
            personnel={p.user_id: str(p.project_role) for p in version.personnel},
            acceptance_required=version.acceptance_required,
            attestation_months=version.attestation_months,
            ethics_required=version.ethics_required,
            provider_notice_hours=version.provider_notice_hours,
            legal_bases=dict(version.legal_bases),
            progress_months=version.progress_months,
            max_unique_share=version.max_unique_share,
            derived_forms=str(version.derived_forms),
            public_register=version.public_register,
            lay_summary=version.lay_summary,
        )


@dataclass
class CheckedTerms:
    """Terms that passed every check, with what the checks looked up."""

    terms: TermsInput
    laws: list[dict[str, Any]]


def past_expiry(expiry_date: dt.date, today: dt.date) -> str | None:
    """Why the expiry date cannot be kept (it has passed: the version could never be in force),
    or None. Saving, submitting and approving all refuse it, on the field."""
    return f"{expiry_date} is in the past." if expiry_date < today else None


def check_terms(
    session: Session, terms: TermsInput, *, provider_id: int, recipient_id: int, today: dt.date
) -> CheckedTerms:
    """Refuse invalid terms with a message per field (422); nothing is written here."""
    errors: dict[str, str] = {}
    terms.title = clean_line(terms.title, "title", errors, max_length=200)
    terms.purpose = clean_text(terms.purpose, "purpose", errors, max_length=10000)
    terms.lay_summary = clean_text(
        terms.lay_summary, "lay_summary", errors, max_length=3000, required=False
    )
    _check_choices(terms, errors)
    _check_numbers(terms, errors)
    if terms.expiry_date < terms.effective_date:
        errors["expiry_date"] = (
            f"The expiry date ({terms.expiry_date.isoformat()}) is before "
            f"the effective date ({terms.effective_date.isoformat()})."
        )
    elif past := past_expiry(terms.expiry_date, today):
        errors["expiry_date"] = past
    law_snapshots = _check_laws(session, terms, errors)
    _check_columns(session, terms, provider_id, errors)
    _check_personnel(session, terms, recipient_id, errors)
    _check_people_text(terms, errors)
    if errors:
        raise ValidationFailed("Some terms are not valid; nothing was saved.", errors)
    return CheckedTerms(terms=terms, laws=law_snapshots)


def _check_choices(terms: TermsInput, errors: dict[str, str]) -> None:
    known_uses = {k.value for k in AnalysisKind}
    unknown = [u for u in terms.permitted_uses if u not in known_uses]
    if unknown:
        errors["permitted_uses"] = (
            f"Unknown analysis kind {', '.join(map(repr, unknown))}; choose from the catalogue."
        )
    terms.permitted_uses = [k.value for k in AnalysisKind if k.value in terms.permitted_uses]
    if terms.research_products_owner not in {o.value for o in ResearchProductsOwner}:
        errors["research_products_owner"] = "Choose the recipient, the provider or both."
    if terms.derived_forms not in {f.value for f in DerivedForms}:
        errors["derived_forms"] = "Choose none, coarsened, pseudonymised or both."
    if terms.rounding_base not in ROUNDING_BASES:
        errors["rounding_base"] = "Choose no rounding or rounding to base 5."


def _check_numbers(terms: TermsInput, errors: dict[str, str]) -> None:
    if terms.min_cell_size < 1:
        errors["min_cell_size"] = "The minimum cell size must be at least 1."
    if terms.min_cohort_size < 1:
        errors["min_cohort_size"] = "The minimum cohort size must be at least 1."
    if terms.preview_window_days < 0:
        errors["preview_window_days"] = "The preview window cannot be negative."
    elif terms.preview_window_days > 365:
        errors["preview_window_days"] = "At most 365 days."
    if not 0 < terms.dominance_threshold <= 1:
        errors["dominance_threshold"] = "A share greater than 0 and at most 1 (e.g. 0.9)."
    if terms.protection_width is not None and not 1 <= terms.protection_width <= 1_000_000:
        errors["protection_width"] = "At least 1 person, or empty for the minimum cell size."
    if not 0 < terms.max_abs_smd <= 1:
        errors["max_abs_smd"] = "Greater than 0 and at most 1 (the JDL uses 0.1)."
    if not 0.5 <= terms.min_link_probability < 1:
        errors["min_link_probability"] = "A probability from 0.5 to below 1 (e.g. 0.95)."
    if terms.min_age is not None and not 0 <= terms.min_age <= 120:
        errors["min_age"] = "An age from 0 to 120, or empty for no minimum."
    if terms.destruction_days < 0:
        errors["destruction_days"] = "The number of days cannot be negative."
    elif terms.destruction_days > 3650:
        errors["destruction_days"] = "At most 3650 days."
    if terms.attestation_months is not None and not 1 <= terms.attestation_months <= 36:
        errors["attestation_months"] = "Between 1 and 36 months, or none."
    if terms.progress_months is not None and not 1 <= terms.progress_months <= 24:
        errors["progress_months"] = "Between 1 and 24 months, or none."
    if terms.max_unique_share is not None and not 0 <= terms.max_unique_share <= 1:
        errors["max_unique_share"] = "A share between 0 and 1 (0.05 is 5%), or none."
    if terms.provider_notice_hours is not None and not 1 <= terms.provider_notice_hours <= 8760:
        errors["provider_notice_hours"] = "Between 1 and 8760 hours, or none."


def _check_laws(
    session: Session, terms: TermsInput, errors: dict[str, str]
) -> list[dict[str, Any]]:
    known = catalogue(session)
    unknown = [code for code in terms.laws if code not in known]
    if unknown:
        errors["laws"] = (
            f"Unknown law {', '.join(map(repr, unknown))}: choose from the "
            f"catalogue, or add the state law to it first."
        )
        return []
    codes = list(dict.fromkeys(terms.laws))
    terms.laws = codes
    stray = sorted(set(terms.legal_bases) - set(codes))
    if stray:
        errors["legal_bases"] = f"A legal basis for a law not cited: {', '.join(stray)}."
    terms.legal_bases = {
        code: clean_text(text, "legal_bases", errors, max_length=2000, required=False)
        for code, text in terms.legal_bases.items()
        if code in codes
    }
    terms.legal_bases = {code: text for code, text in terms.legal_bases.items() if text}
    return [known[code].snapshot() for code in codes]


def _check_columns(
    session: Session, terms: TermsInput, provider_id: int, errors: dict[str, str]
) -> None:
    problems: list[str] = []
    for dataset_id, names in sorted(terms.columns.items()):
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            problems.append(f"there is no dataset {dataset_id}")
            continue
        if dataset.provider_id != provider_id:
            problems.append(f"{dataset.name} is not provided by this agreement's provider")
        declared = set(dataset.column_names)
        missing = [n for n in names if n not in declared]
        if missing:
            problems.append(
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not "
                f"in the dataset {dataset.name}"
            )
        terms.columns[dataset_id] = [n for n in dataset.column_names if n in names]
    terms.columns = {k: v for k, v in terms.columns.items() if v}
    if problems:
        errors["columns"] = "Covered columns: " + "; ".join(problems) + "."


def _check_personnel(
    session: Session, terms: TermsInput, recipient_id: int, errors: dict[str, str]
) -> None:
    problems: list[str] = []
    roles = {r.value for r in ProjectRole}
    for user_id, role in sorted(terms.personnel.items()):
        user = session.get(User, user_id)
        if user is None:
            problems.append(
                f"there is no account {user_id}: every authorised person needs an account"
            )
        elif not user.active:
            problems.append(f"{user.name}'s account is deactivated")
        elif user.organization_id != recipient_id:
            problems.append(f"{user.name} does not belong to the recipient organisation")
        if role not in roles:
            problems.append(f"unknown project role {role!r}")
    if problems:
        errors["personnel"] = "Authorised personnel: " + "; ".join(problems) + "."


def _check_people_text(terms: TermsInput, errors: dict[str, str]) -> None:
    terms.third_party_recipients = clean_lines(
        terms.third_party_recipients, "third_party_recipients", errors, max_length=200
    )
    terms.excluded_offence_categories = clean_lines(
        terms.excluded_offence_categories, "excluded_offence_categories", errors, max_length=100
    )
    terms.withheld_offence_categories = clean_lines(
        terms.withheld_offence_categories, "withheld_offence_categories", errors, max_length=100
    )
    cleaned: list[Signatory] = []
    for signatory in terms.signatories:
        if signatory.party not in PARTIES:
            errors["signatories"] = f"Unknown party {signatory.party!r}."
            continue
        field_name = f"{signatory.party}_signatories"
        name = clean_line(signatory.name, field_name, errors, max_length=200, required=False)
        title = clean_line(signatory.title, field_name, errors, max_length=200, required=False)
        if name:
            cleaned.append(Signatory(signatory.party, name, title))
    terms.signatories = cleaned


def missing_for_submission(version: AgreementVersion) -> dict[str, str]:
    """What a version lacks before it can be reviewed (a draft may be saved without it)."""
    missing: dict[str, str] = {}
    if not version.permitted_uses:
        missing["permitted_uses"] = "Choose at least one permitted use."
    if not version.covered:
        missing["columns"] = "Choose the dataset columns the agreement covers."
    if not version.laws:
        missing["laws"] = "Name the laws and policies that apply."
    if not any(p.project_role == ProjectRole.PRINCIPAL_INVESTIGATOR for p in version.personnel):
        missing["personnel"] = "Name the authorised personnel, with a principal investigator."
    for law in version.laws:
        prompt = legal_basis_required(law)
        if prompt and not version.legal_bases.get(str(law["code"])):
            missing["legal_bases"] = f"Name the legal basis under {law['label']}: {prompt}."
    for party in PARTIES:
        if not any(s["party"] == party for s in version.signatories):
            missing[f"{party}_signatories"] = f"Name at least one signatory for the {party}."
    if version.public_register and not version.lay_summary.strip():
        # The register shows the public what the project does: an entry without words is none.
        missing["lay_summary"] = "Write the lay summary the public data-use register shows."
    return missing


def write_terms(session: Session, version: AgreementVersion, checked: CheckedTerms) -> None:
    """Write checked terms to a version, keeping rows whose identity has not changed."""
    terms = checked.terms
    version.title = terms.title
    version.purpose = terms.purpose
    version.effective_date = terms.effective_date
    version.expiry_date = terms.expiry_date
    version.permitted_uses = list(terms.permitted_uses)
    version.signatories = [
        {"party": s.party, "name": s.name, "title": s.title} for s in terms.signatories
    ]
    version.research_products_owner = ResearchProductsOwner(terms.research_products_owner)
    version.laws = checked.laws
    version.third_party_recipients = list(terms.third_party_recipients)
    version.publication_allowed = terms.publication_allowed
    version.min_cell_size = terms.min_cell_size
    version.min_cohort_size = terms.min_cohort_size
    version.preview_window_days = terms.preview_window_days
    version.two_checkers_required = terms.two_checkers_required
    version.dominance_threshold = terms.dominance_threshold
    version.rounding_base = terms.rounding_base
    version.protection_width = terms.protection_width
    version.max_abs_smd = terms.max_abs_smd
    version.min_link_probability = terms.min_link_probability
    version.row_level_download = terms.row_level_download
    version.min_age = terms.min_age
    version.excluded_offence_categories = list(terms.excluded_offence_categories)
    version.withheld_offence_categories = list(terms.withheld_offence_categories)
    version.destruction_days = terms.destruction_days
    version.acceptance_required = terms.acceptance_required
    version.attestation_months = terms.attestation_months
    version.ethics_required = terms.ethics_required
    version.provider_notice_hours = terms.provider_notice_hours
    version.legal_bases = dict(terms.legal_bases)
    version.progress_months = terms.progress_months
    version.max_unique_share = terms.max_unique_share
    version.derived_forms = terms.derived_forms
    version.public_register = terms.public_register
    version.lay_summary = terms.lay_summary.strip()
    existing_columns = {(c.dataset_id, c.column_name): c for c in version.covered}
    version.covered = [
        existing_columns.get((dataset_id, name))
        or CoveredColumn(
            dataset_id=dataset_id, column_name=name, dataset=session.get(Dataset, dataset_id)
        )
        for dataset_id, names in sorted(terms.columns.items())
        for name in names
    ]
    existing_people = {p.user_id: p for p in version.personnel}
    people: list[Personnel] = []
    for user_id, role in sorted(terms.personnel.items()):
        person = existing_people.get(user_id) or Personnel(
            user_id=user_id, user=session.get(User, user_id)
        )
        person.project_role = ProjectRole(role)
        people.append(person)
    version.personnel = people


def datasets_of_provider(session: Session, provider_id: int) -> list[Dataset]:
    return list(
        session.scalars(
            select(Dataset).where(Dataset.provider_id == provider_id).order_by(Dataset.name)
        )
    )
