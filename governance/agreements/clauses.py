"""The clauses of an agreement, in order: stable ids, labels, and how each value reads.

The same rendering feeds the detail page, the PDF and the clause-by-clause diff of versions, so
what a privacy officer reviews, what is signed and what the audit trail says changed agree.
Clause ids never change once issued: later layers cite them in their decisions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from governance.agreements.analysis_kind_model import AnalysisKind
from governance.agreements.parts_model import ProjectRole
from governance.identity.models import TrainingCourse

if TYPE_CHECKING:
    from governance.agreements.models import AgreementVersion

PREVIEW_SCOPE = (
    "The provider may preview outputs before publication only to check that no individual "
    "is identifiable and that no statement of fact is objectively incorrect. Outside this "
    "scope the provider may not edit, delay or prevent the release of findings, including "
    "for reasons related to their substance."
)

CLAUSES: tuple[tuple[str, str], ...] = (
    ("parties.provider", "Data provider"),
    ("parties.recipient", "Recipient organisation"),
    ("parties.signatories", "Signatories"),
    ("scope.title", "Project title"),
    ("scope.purpose", "Purpose"),
    ("scope.permitted_uses", "Permitted uses"),
    ("scope.datasets", "Datasets and columns covered"),
    ("ownership.source_data", "Ownership of source data"),
    ("ownership.research_products", "Ownership of research products"),
    ("privacy.laws", "Laws and policies that apply"),
    ("privacy.legal_basis", "Legal basis under each law"),
    ("privacy.minimum_necessary", "Minimum necessary"),
    ("privacy.required_training", "Training required of every authorised person"),
    ("privacy.third_party_recipients", "Third-party sharing"),
    ("privacy.no_identifiable_publication", "Identifiable information"),
    ("publication.publication_allowed", "Right to publish"),
    ("publication.aggregate_only", "Form of outputs"),
    ("publication.min_cell_size", "Minimum cell size"),
    ("publication.min_cohort_size", "Minimum cohort size for matched comparisons"),
    ("publication.dominance_threshold", "Dominance threshold"),
    ("publication.rounding_base", "Rounding of published counts"),
    ("publication.protection_width", "Protection interval of suppressed counts"),
    ("publication.two_checkers_required", "Output checking"),
    ("publication.preview_window_days", "Partner preview window"),
    ("publication.preview_scope", "Scope of the partner preview"),
    ("access.row_level_download", "Row-level download"),
    ("analysis.balance.max_abs_smd", "Balance required of matched comparisons"),
    ("analysis.linkage.min_match_probability", "Minimum match probability of a linked pair"),
    ("analysis.eligibility.min_age", "Minimum age of people analysed"),
    (
        "analysis.eligibility.excluded_offence_categories",
        "Offence categories excluded from every analysis",
    ),
    ("access.withheld_offence_categories", "Offence categories withheld from every reader"),
    ("retention.destruction_days", "Retention and destruction"),
    ("personnel", "Authorised personnel"),
    ("personnel.acceptance", "Personal acceptance of the terms"),
    ("personnel.attestation", "Periodic attestation"),
    ("ethics.approval", "Ethics approval"),
    ("incidents.provider_notice", "Notice of incidents to the provider"),
    ("reporting.progress_months", "Progress reports"),
    ("privacy.max_unique_share", "Records unique on the requested quasi-identifiers"),
    ("access.derived_forms", "Columns granted coarsened or pseudonymised"),
    ("transparency.register", "Public data-use register"),
    ("term.effective_date", "Effective date"),
    ("term.expiry_date", "Expiry date"),
)
CLAUSE_LABELS = dict(CLAUSES)
# The `access.derived_forms` term (models.DerivedForms) in the words of the clause list.
DERIVED_FORMS = {
    "none": "Every column is granted as stored: none coarsened or pseudonymised.",
    "coarsened": "A steward may grant a column coarsened (a date to its month, an age to a "
    "band), not pseudonymised; the data door produces the form at every read.",
    "pseudonymised": "A steward may grant a column as a keyed pseudonym, not coarsened; the "
    "data door produces the form at every read.",
    "both": "A steward may grant a column coarsened or as a keyed pseudonym; the data door "
    "produces the form at every read.",
}


def _categories(codes: list[str]) -> str:
    """Offence category codes as words (domestic_violence -> domestic violence)."""
    return ", ".join(code.replace("_", " ") for code in codes)


def _yes_no(flag: bool, yes: str, no: str) -> str:
    return yes if flag else no


def render_clauses(version: AgreementVersion) -> list[tuple[str, str, str]]:
    agreement = version.agreement
    provider, recipient = agreement.provider.name, agreement.recipient.name
    values = {
        "parties.provider": provider,
        "parties.recipient": recipient,
        "parties.signatories": "\n".join(
            f"{provider if s['party'] == 'provider' else recipient}: {s['name']}"
            + (f", {s['title']}" if s.get("title") else "")
            for s in version.signatories
        )
        or "None named yet",
        "scope.title": version.title,
        "scope.purpose": version.purpose,
        "scope.permitted_uses": ", ".join(AnalysisKind.label_of(u) for u in version.permitted_uses)
        or "None",
        "scope.datasets": _datasets(version),
        "ownership.source_data": f"{provider} keeps ownership of its source data.",
        "ownership.research_products": {
            "recipient": f"{recipient} owns the products of the research.",
            "provider": f"{provider} owns the products of the research.",
            "joint": f"{provider} and {recipient} own the products of the research jointly.",
        }[str(version.research_products_owner)],
        "privacy.laws": "\n".join(f"{law['label']}: {law['requirements']}" for law in version.laws)
        or "None named",
        "privacy.legal_basis": "\n".join(
            f"{law['label']}: {version.legal_bases[law['code']]}"
            for law in version.laws
            if version.legal_bases.get(law["code"])
        )
        or "None named",
        "privacy.minimum_necessary": _yes_no(
            version.minimum_necessary,
            "Each person may access only the data necessary for their role.",
            "No law named here imposes it; access is still limited to the covered columns.",
        ),
        "privacy.required_training": ", ".join(
            sorted(TrainingCourse(c).label for c in version.required_courses())
        ),
        "privacy.third_party_recipients": (
            "Confidential data may be shared only with: "
            + "; ".join(version.third_party_recipients)
            + ". Sharing with anyone else is prohibited."
        )
        if version.third_party_recipients
        else "Prohibited: no third party is named in this agreement.",
        "privacy.no_identifiable_publication": "No information that identifies, or could identify, "
        "a person may be published.",
        "publication.publication_allowed": _yes_no(
            version.publication_allowed,
            f"{recipient} may publish non-identifiable, aggregate research findings.",
            "Findings may not be published.",
        ),
        "publication.aggregate_only": "Outputs are aggregate and non-identifiable only.",
        "publication.min_cell_size": f"{version.min_cell_size} people: no published figure "
        "describes fewer.",
        "publication.min_cohort_size": f"{version.min_cohort_size} people",
        "publication.dominance_threshold": f"{version.dominance_threshold:g}: no published total "
        "may be dominated by one "
        f"contributor beyond this share.",
        "publication.rounding_base": (
            f"Published counts are rounded to a base of {version.rounding_base}."
        )
        if version.rounding_base
        else "No rounding required.",
        "publication.two_checkers_required": _yes_no(
            version.two_checkers_required,
            "Two independent output checkers must clear every output.",
            "One output checker must clear every output.",
        ),
        "publication.preview_window_days": f"{version.preview_window_days} days",
        "publication.preview_scope": PREVIEW_SCOPE,
        "access.row_level_download": _yes_no(
            version.row_level_download,
            "Permitted: named personnel may download row-level data.",
            "Not permitted: row-level data never leaves the secure environment.",
        ),
        "publication.protection_width": (
            f"{version.protection_width} people"
            if version.protection_width
            else "The minimum cell size"
        )
        + (
            ": no suppressed count can be worked out from the released figures to within "
            "fewer people."
        ),
        "analysis.balance.max_abs_smd": (
            f"{version.max_abs_smd:g}: the outcomes of a matched comparison are released only "
            "if no covariate's absolute standardised mean difference after matching exceeds "
            "it; an analyst may ask for less, never more."
        ),
        "analysis.linkage.min_match_probability": (
            f"{version.min_link_probability:g}: probabilistic linkage accepts a pair only at or "
            "above this match probability; pairs below it go to clerical review or are not "
            "linked; an analyst may ask for a higher threshold, never a lower one."
        ),
        "analysis.eligibility.min_age": f"{version.min_age} years"
        if version.min_age is not None
        else "No minimum",
        "analysis.eligibility.excluded_offence_categories": (
            f"{_categories(version.excluded_offence_categories)}: left out of every analysis "
            "(descriptive tables, rate and matched comparisons), and said so in each output's "
            "notes; holders of a grant may still view these records."
            if version.excluded_offence_categories
            else "None"
        ),
        "access.withheld_offence_categories": (
            f"{_categories(version.withheld_offence_categories)}: withheld from every reader "
            "under this agreement: never shown, exported or analysed."
            if version.withheld_offence_categories
            else "None"
        ),
        "retention.destruction_days": f"Data destroyed within {version.destruction_days} days of "
        "the agreement's end, "
        f"confirmed by a destruction certificate.",
        "personnel": "\n".join(
            f"{p.user.name} ({p.user.email}): {ProjectRole(p.project_role).label}"
            for p in version.personnel
        )
        or "None named yet",
        "personnel.acceptance": _yes_no(
            version.acceptance_required,
            "Each authorised person accepts the terms that bind them personally, in the "
            "service, before reading data and again whenever an amendment changes them.",
            "Not asked of each person.",
        ),
        "personnel.attestation": (
            f"Every {version.attestation_months} months each authorised person attests that "
            "they still need the access, have kept the terms, and lists any copies held "
            "outside the service; access pauses while an attestation is overdue."
            if version.attestation_months
            else "Not required."
        ),
        "ethics.approval": _ethics(version),
        "incidents.provider_notice": (
            f"The recipient tells {provider} of a suspected incident within "
            f"{version.provider_notice_hours} hours of discovering it, besides the "
            "notifications the laws above require."
            if version.provider_notice_hours
            else "The notifications the laws above require."
        ),
        "privacy.max_unique_share": (
            f"A request under which more than {version.max_unique_share:.1%} of the records are "
            "unique on the requested quasi-identifiers needs a privacy officer's approval "
            "naming that figure, besides the steward's."
            if version.max_unique_share is not None
            else "No limit: the steward sees the figures and decides."
        ),
        "access.derived_forms": DERIVED_FORMS[str(version.derived_forms)],
        "reporting.progress_months": (
            f"The personnel report progress every {version.progress_months} months from the "
            "effective date (work done, outputs released, changes in the team); the privacy "
            "officer accepts or returns each report."
            if version.progress_months
            else "Not required."
        ),
        "transparency.register": (
            "The parties allow the agreement on the public data-use register: project title, "
            "this lay summary, the organisations, the datasets' names, the legal basis, the "
            f"approval and end dates and the released outputs. Lay summary: {version.lay_summary}"
            if version.public_register
            else "Not listed on the public data-use register."
        ),
        "term.effective_date": version.effective_date.isoformat(),
        "term.expiry_date": f"{version.expiry_date.isoformat()} (the last day in force)",
    }
    return [(clause_id, label, values[clause_id]) for clause_id, label in CLAUSES]


def _ethics(version: AgreementVersion) -> str:
    if not version.ethics_required:
        return "Not required by this agreement."
    recorded = "; ".join(
        f"{a.board} {a.reference}, approved {a.approved_on.isoformat()}, expires "
        f"{a.expires_on.isoformat()}"
        for a in version.agreement.ethics_approvals
    )
    return "Data is read only while an ethics board's approval of the project is in force. " + (
        f"Recorded: {recorded}." if recorded else "None recorded yet."
    )


def _datasets(version: AgreementVersion) -> str:
    """Each dataset once, its columns in the dataset's declared order."""
    by_dataset: dict[int, list[str]] = {}
    datasets = {}
    for covered in version.covered:
        by_dataset.setdefault(covered.dataset_id, []).append(covered.column_name)
        datasets[covered.dataset_id] = covered.dataset
    lines = []
    for dataset_id in sorted(by_dataset):
        declared = datasets[dataset_id].column_names
        names = sorted(
            by_dataset[dataset_id],
            key=lambda n: (declared.index(n) if n in declared else len(declared), n),
        )
        lines.append(f"{datasets[dataset_id].name}: {', '.join(names)}")
    return "\n".join(lines) or "None yet"


def clause_diff(before: AgreementVersion | None, after: AgreementVersion) -> list[dict[str, str]]:
    """The clauses whose rendered value differs between two versions, in clause order."""
    old = {cid: value for cid, _label, value in before.clauses()} if before else {}
    return [
        {"clause": cid, "label": label, "before": old.get(cid, ""), "after": value}
        for cid, label, value in after.clauses()
        if old.get(cid, "") != value
    ]
