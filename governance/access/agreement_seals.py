"""The keyed seals over an agreement's terms, so that someone with the database alone cannot
change what the service enforces under an agreement (governance/kernel/row_seals.py says how a
seal is made; kernel/sealed_kinds.py seals these rows, as every sealed kind's).

Two kinds of rows are sealed. The agreement's own row: its parties, its status and which
version is in force (`agreement`). Each version: every term the door, the analysis engine, the
publication path and the conditions jobs read (scope and columns, personnel, term dates,
disclosure thresholds, withheld categories, retention...), with its covered columns and its
authorised personnel (`agreement_version`). The application seals each when it writes it;
after a change a row is sealed again only if its seal held before, so a row written outside
the service stays unsealed when the service later writes it.

Enforcement asks `holds(session, agreement_id)`: the agreement's row and every version that
can no longer be edited (approved, awaiting signature, superseded...) hold their seals. It is
remembered per process behind the policy epoch, as the rest of a read's look-ups are
(authz/read_memo.py): checked when the terms are loaded, not at every row. An agreement that
fails it allows nothing: reads, downloads and analyses under it are refused (rule
`agreement-seal`), and no output of it is released.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import ORMExecuteState, Session

from governance.agreements.models import Agreement, AgreementVersion, VersionStatus
from governance.agreements.parts_model import CoveredColumn, Personnel
from governance.audit.models import AuditType
from governance.authz.read_memo import remembered
from governance.kernel import row_seals, sealed_rows
from governance.kernel.errors import PermissionDenied
from governance.kernel.sealed_rows import Broken, CompositeKind, Written, ring

log = logging.getLogger(__name__)

AGREEMENT_KIND = "agreement"
VERSION_KIND = "agreement_version"
AGREEMENT_SEAL_RULE = "agreement-seal"
#: The clause a refusal under a tampered agreement names: the agreement as a whole.
AGREEMENT_SEAL_CLAUSE = "agreement.integrity"
#: Versions the application still edits: their seals are kept but decide nothing until the
#: version is submitted (a draft tampered with stays unsealed once approved).
EDITABLE = (VersionStatus.DRAFT.value,)

#: What the agreement's row decides: its parties, its status and the version in force.
AGREEMENT_FIELDS = (
    Agreement.id,
    Agreement.provider_id,
    Agreement.recipient_id,
    Agreement.status,
    Agreement.current_version_number,
    Agreement.ended_at,
)
#: What a version decides, in its canonical order (the id first).
VERSION_FIELDS = (
    AgreementVersion.id,
    AgreementVersion.agreement_id,
    AgreementVersion.number,
    AgreementVersion.status,
    AgreementVersion.purpose,
    AgreementVersion.permitted_uses,
    AgreementVersion.research_products_owner,
    AgreementVersion.laws,
    AgreementVersion.third_party_recipients,
    AgreementVersion.publication_allowed,
    AgreementVersion.min_cell_size,
    AgreementVersion.min_cohort_size,
    AgreementVersion.preview_window_days,
    AgreementVersion.two_checkers_required,
    AgreementVersion.dominance_threshold,
    AgreementVersion.rounding_base,
    AgreementVersion.protection_width,
    AgreementVersion.max_abs_smd,
    AgreementVersion.min_link_probability,
    AgreementVersion.row_level_download,
    AgreementVersion.min_age,
    AgreementVersion.excluded_offence_categories,
    AgreementVersion.withheld_offence_categories,
    AgreementVersion.destruction_days,
    AgreementVersion.acceptance_required,
    AgreementVersion.attestation_months,
    AgreementVersion.ethics_required,
    AgreementVersion.provider_notice_hours,
    AgreementVersion.progress_months,
    AgreementVersion.max_unique_share,
    AgreementVersion.derived_forms,
    AgreementVersion.public_register,
    AgreementVersion.legal_bases,
    AgreementVersion.effective_date,
    AgreementVersion.expiry_date,
    AgreementVersion.executed_on,
)


# --- content --------------------------------------------------------------------------------


def _agreement_rows(session: Session, ids: Iterable[int]) -> dict[int, Any]:
    found: dict[int, Any] = {}
    for batch in sealed_rows.batches(ids):
        query = select(*AGREEMENT_FIELDS, Agreement.seal).where(Agreement.id.in_(batch))
        found |= {row.id: row for row in session.connection().execute(query)}
    return found


def _agreement_content(row: Any) -> list[object]:
    return [getattr(row, f.key) for f in AGREEMENT_FIELDS]


def _version_rows(session: Session, where: Any) -> dict[int, tuple[Any, list[object]]]:
    """The versions `where` selects, each with its content (its fields, then its covered
    columns and its personnel, sorted)."""
    connection = session.connection()
    versions = {
        row.id: row
        for row in connection.execute(select(*VERSION_FIELDS, AgreementVersion.seal).where(where))
    }
    if not versions:
        return {}
    covered: dict[int, list[list[object]]] = {i: [] for i in versions}
    personnel: dict[int, list[list[object]]] = {i: [] for i in versions}
    for batch in sealed_rows.batches(versions):
        for c in connection.execute(
            select(
                CoveredColumn.version_id, CoveredColumn.dataset_id, CoveredColumn.column_name
            ).where(CoveredColumn.version_id.in_(batch))
        ):
            covered[c.version_id].append([c.dataset_id, c.column_name])
        for p in connection.execute(
            select(Personnel.version_id, Personnel.user_id, Personnel.project_role).where(
                Personnel.version_id.in_(batch)
            )
        ):
            personnel[p.version_id].append([p.user_id, str(p.project_role)])
    return {
        i: (
            row,
            [
                *(getattr(row, f.key) for f in VERSION_FIELDS),
                sorted(covered[i]),
                sorted(personnel[i]),
            ],
        )
        for i, row in versions.items()
    }


def _versions(session: Session, ids: Iterable[int]) -> dict[int, tuple[Any, list[object]]]:
    found: dict[int, tuple[Any, list[object]]] = {}
    for batch in sealed_rows.batches(ids):
        found |= _version_rows(session, AgreementVersion.id.in_(batch))
    return found


# --- the two kinds ---------------------------------------------------------------------------


def _held_agreements(session: Session, ids: Iterable[int]) -> set[int]:
    key = ring(session)
    return {
        i
        for i, row in _agreement_rows(session, ids).items()
        if row_seals.holds(key, AGREEMENT_KIND, _agreement_content(row), row.seal)
    }


def _seal_agreements(session: Session, ids: Iterable[int]) -> int:
    key = ring(session)
    found = _agreement_rows(session, ids)
    sealed_rows.store(
        session,
        Agreement,
        {i: row_seals.seal(key, AGREEMENT_KIND, _agreement_content(r)) for i, r in found.items()},
    )
    return len(found)


def _held_versions(session: Session, ids: Iterable[int]) -> set[int]:
    key = ring(session)
    return {
        i
        for i, (row, content) in _versions(session, ids).items()
        if row_seals.holds(key, VERSION_KIND, content, row.seal)
    }


def _seal_versions(session: Session, ids: Iterable[int]) -> int:
    key = ring(session)
    found = _versions(session, ids)
    sealed_rows.store(
        session,
        AgreementVersion,
        {i: row_seals.seal(key, VERSION_KIND, content) for i, (_, content) in found.items()},
    )
    return len(found)


def _written(
    session: Session, state: ORMExecuteState, column: Any, name: str = "id"
) -> Written | None:
    if state.is_update and not sealed_rows.sets(state) - {"seal"}:
        return None  # the seals' own statement
    return Written(changed=sealed_rows.statement_rows(session, state, column, name))


def _versions_written(session: Session, table: str, state: ORMExecuteState) -> Written | None:
    if table == AgreementVersion.__tablename__:
        return _written(session, state, AgreementVersion.id)
    part = CoveredColumn if table == CoveredColumn.__tablename__ else Personnel
    return _written(session, state, part.version_id, "version_id")


def _broken(session: Session) -> list[Broken]:
    """Every agreement and every version past drafting whose seal does not hold."""
    key = ring(session)
    found: list[Broken] = []
    agreements = _agreement_rows(session, session.scalars(select(Agreement.id)))
    for i, row in sorted(agreements.items()):
        if not row_seals.holds(key, AGREEMENT_KIND, _agreement_content(row), row.seal):
            found.append(_broken_row(AGREEMENT_KIND, i, i, f"Agreement {i}"))
    versions = _version_rows(session, AgreementVersion.status.not_in(EDITABLE))
    for i, (row, content) in sorted(versions.items()):
        if not row_seals.holds(key, VERSION_KIND, content, row.seal):
            what = f"Version {row.number} of agreement {row.agreement_id}, row"
            found.append(_broken_row(VERSION_KIND, i, row.agreement_id, what))
    return found


def _broken_row(kind: str, row_id: int, agreement_id: int, what: str) -> Broken:
    return Broken(
        kind,
        row_id,
        None,
        (agreement_id,),
        AGREEMENT_SEAL_RULE,
        label=what,
        remedy="restore its terms from a trusted copy, or make a new agreement through the service",
    )


def _unsealed_agreements(session: Session) -> Iterable[int]:
    return session.scalars(select(Agreement.id).where(Agreement.seal.is_(None)))


def _unsealed_versions(session: Session) -> Iterable[int]:
    return session.scalars(select(AgreementVersion.id).where(AgreementVersion.seal.is_(None)))


AGREEMENT_SEALS = CompositeKind(
    AGREEMENT_KIND,
    models=(Agreement,),
    tables=frozenset({Agreement.__tablename__}),
    touched=lambda _session, changed, flush: sealed_rows.parent_touched(changed, flush, Agreement),
    statement=lambda session, _table, state: _written(session, state, Agreement.id),
    held=_held_agreements,
    seal=_seal_agreements,
    unsealed=_unsealed_agreements,
    broken=_broken,
    start=AuditType.AGREEMENT_SEALS_START,
)
VERSION_SEALS = CompositeKind(
    VERSION_KIND,
    models=(AgreementVersion, CoveredColumn, Personnel),
    tables=frozenset(
        {AgreementVersion.__tablename__, CoveredColumn.__tablename__, Personnel.__tablename__}
    ),
    # Its covered columns and personnel are part of it.
    touched=lambda _session, changed, flush: sealed_rows.parent_touched(
        changed, flush, AgreementVersion, "version_id"
    ),
    statement=_versions_written,
    held=_held_versions,
    seal=_seal_versions,
    unsealed=_unsealed_versions,
    # Its rows are checked, and reported, with their agreement's (`_broken`).
    broken=lambda _session: [],
    start=AuditType.AGREEMENT_SEALS_START,
)
#: The agreement kinds (registered with kernel/sealed_kinds.py by registry.py).
KINDS = (AGREEMENT_SEALS, VERSION_SEALS)


# --- what enforcement asks -------------------------------------------------------------------


def check(session: Session, agreement_id: int) -> bool:
    """Whether the agreement's row and each of its versions past drafting hold their seals,
    checked now."""
    key = ring(session)
    agreement = _agreement_rows(session, [agreement_id]).get(agreement_id)
    if agreement is None:
        return True  # no such agreement: the caller refuses it for that
    if not row_seals.holds(key, AGREEMENT_KIND, _agreement_content(agreement), agreement.seal):
        log.critical(
            "agreement %s fails its seal check (rule %s)", agreement_id, AGREEMENT_SEAL_RULE
        )
        return False
    versions = _version_rows(
        session,
        (AgreementVersion.agreement_id == agreement_id) & AgreementVersion.status.not_in(EDITABLE),
    )
    broken = [
        row.number
        for row, content in versions.values()
        if not row_seals.holds(key, VERSION_KIND, content, row.seal)
    ]
    if broken:
        log.critical(
            "agreement %s version(s) %s fail their seal check (rule %s)",
            agreement_id,
            ", ".join(str(n) for n in sorted(broken)),
            AGREEMENT_SEAL_RULE,
        )
    return not broken


def holds(session: Session, agreement_id: int) -> bool:
    """`check`, remembered per process behind the policy epoch (every change the service
    makes to an agreement bumps it; one made outside it is seen at the next bump, or within
    the memo's few seconds)."""
    return remembered(
        session, ("agreement_seal", agreement_id), lambda: check(session, agreement_id)
    )


def refusal(reference: str | int) -> str:
    """What a refusal under a tampered agreement says."""
    return (
        f"Agreement {reference} fails its integrity check: its terms were written or changed "
        "in the database outside the service, so nothing is allowed under it. The compliance "
        "team has the record."
    )


def require(session: Session, agreement_id: int, reference: str, audit: dict[str, Any]) -> None:
    """Refuse (403, recorded with `audit` and the rule) unless the agreement's seals hold."""
    if holds(session, agreement_id):
        return
    raise PermissionDenied(
        refusal(reference),
        clause=AGREEMENT_SEAL_CLAUSE,
        audit={**audit, "clause": AGREEMENT_SEAL_CLAUSE, "rule": AGREEMENT_SEAL_RULE},
    )
