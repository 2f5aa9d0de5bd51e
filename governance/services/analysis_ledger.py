"""The differencing ledger: the populations behind every output produced under an agreement.

Each output's populations (the people behind each table) are kept with their size, digest and
the engine's salted 64-bit member hashes, packed 8 bytes each; never raw person keys. A later
run under the same agreement hands them to the engine, which refuses an output whose population
differs from a recorded one by 1 to min_cell_size - 1 people (subtracting the two would describe
that small group). The salt is derived from the data key per agreement, so hashes from two
agreements cannot be compared and nobody without the key can test a guessed person against them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from governance import datastore
from governance.analysis import Population
from governance.models.analysis import AnalysisRun, ReleasedPopulation


def pack_members(hashes: Iterable[str]) -> bytes:
    """Sorted 16-hex-digit member hashes as big-endian unsigned 64-bit integers."""
    values = np.array(sorted(int(h, 16) for h in hashes), dtype=np.uint64)
    return values.astype(">u8").tobytes()


def unpack_members(blob: bytes) -> frozenset[str]:
    return frozenset(f"{value:016x}" for value in np.frombuffer(blob, dtype=">u8").tolist())


def ledger_label(run_id: int, label: str) -> str:
    return f"run {run_id}: {label}"


def salt_for(session: Session, agreement_id: int) -> str:
    return datastore.population_salt(session, agreement_id)


def released_populations(session: Session, agreement_id: int,
                         *, excluding_run: int | None = None) -> tuple[Population, ...]:
    """Every population recorded under the agreement, as the engine's `released` argument."""
    query = (select(ReleasedPopulation).options(undefer(ReleasedPopulation.member_hashes))
             .where(ReleasedPopulation.agreement_id == agreement_id)
             .order_by(ReleasedPopulation.id))
    if excluding_run is not None:
        query = query.where(ReleasedPopulation.run_id != excluding_run)
    return tuple(
        Population(label=ledger_label(row.run_id, row.label), size=row.size, digest=row.digest,
                   member_hashes=unpack_members(row.member_hashes))
        for row in session.scalars(query))


def record_populations(session: Session, *, run: AnalysisRun,
                       populations: Iterable[Population]) -> list[ReleasedPopulation]:
    rows = [ReleasedPopulation(agreement_id=run.agreement_id, run_id=run.id, label=p.label,
                               size=p.size, digest=p.digest,
                               member_hashes=pack_members(p.member_hashes or ()))
            for p in populations]
    session.add_all(rows)
    session.flush()
    return rows
