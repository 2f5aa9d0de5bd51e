"""Whether the laws an agreement cites fit the data it covers.

Each sector law protects one kind of record: HIPAA protected health information, FERPA
education records, the CJIS Security Policy criminal justice information, 42 CFR Part 2
substance use disorder treatment records. Citing one on data it does not govern (HIPAA on
police arrest records) usually means the agreement was copied from another project and its
real obligations are missing, so reviewers are warned before they approve; approving despite
the warnings records them with the approval. Laws that apply to any personal data (the Privacy
Act, UK GDPR, state laws) are not checked.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from governance.agreements.law_model import LawCode
from governance.agreements.models import AgreementVersion
from governance.datasets.models import Dataset, SubjectArea

# The subject areas each sector law governs.
FITS: dict[str, frozenset[SubjectArea]] = {
    LawCode.HIPAA: frozenset({SubjectArea.HEALTH, SubjectArea.SUBSTANCE_USE_TREATMENT}),
    LawCode.FERPA: frozenset({SubjectArea.EDUCATION}),
    LawCode.CJIS: frozenset({SubjectArea.CRIMINAL_JUSTICE}),
    LawCode.PART2: frozenset({SubjectArea.SUBSTANCE_USE_TREATMENT}),
}


def unfitting(law_codes: list[str], areas: set[SubjectArea]) -> list[str]:
    """The cited sector laws (in citation order) that govern none of these subject areas."""
    return [code for code in law_codes if code in FITS and not FITS[code] & areas]


def law_warnings(session: Session, version: AgreementVersion) -> list[str]:
    """One sentence per cited sector law that governs none of the covered datasets."""
    ids = version.covered_dataset_ids
    if not ids:
        return []
    # The page has the covered datasets loaded already (with the covered columns): only those
    # the session does not hold are read.
    held = {i: session.identity_map.get(identity_key(Dataset, i)) for i in ids}
    missing = [i for i, dataset in held.items() if dataset is None]
    if missing:
        held.update(
            (d.id, d) for d in session.scalars(select(Dataset).where(Dataset.id.in_(missing)))
        )
    datasets = [d for i in sorted(held) if (d := held[i]) is not None]
    misfits = unfitting(version.law_codes, {SubjectArea(d.subject_area) for d in datasets})
    described = ", ".join(f"{d.name} ({d.subject_area_label.lower()})" for d in datasets)
    labels = {str(law["code"]): str(law["label"]) for law in version.laws}
    return [
        f"{labels[code]} is cited, but it governs "
        f"{' or '.join(sorted(a.label.lower() for a in FITS[code]))} data and the covered data "
        f"is {described}: check that the law fits the data, or name the one that does."
        for code in misfits
    ]
