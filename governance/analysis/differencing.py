"""The differencing ledger: the populations behind every output produced over a dataset's people.

One ledger per dataset (the dataset whose person keys define the output's populations:
`records` for descriptive kinds, `index_events` for the matched comparison), whichever
agreement, analyst or dataset version produced the output, so two agreements over the same
people can no longer each release a table on populations a few people apart. Each population
is kept as its size, a keyed digest and the engine's keyed 256-bit member hashes (32 bytes each,
sorted), with the fingerprint of the ledger key, which cell of its tables each hashed member
is in and whether they had each outcome its tables count (so a later release is also checked
cell by cell, people and outcomes); never raw person keys.

The key is one service-wide secret kept outside the database (`ledger_key`): derived with HKDF
from the data key ring under its own label, from the data key the ledger was first written under
(found by the fingerprint its rows record), so rotating the data key leaves it unchanged, and
that data key cannot be discarded while the ledger needs it (`keeps_data_key`). Rows written
under another key can never match a new population, so if any row of a dataset names another
fingerprint, every release over that dataset's people is refused (`LedgerKeyChanged`) until the
key is restored: a changed key must never switch the check off.

A population counts as released when its run succeeds: the result is stored and shown to its
requester, then handed to output checking, and nothing later takes it back. Refused and failed
runs, and results the reaper took from a worker, never enter (docs/decisions/analysis-ledger.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.analysis.engine import DisclosurePolicy, Population, get_kind
from governance.analysis.engine.cell_differencing import CellRelease, PersonCells
from governance.analysis.engine.ledger import (
    LEGACY_SCHEME,
    MEMBER_HASH_BYTES,
    SCHEME,
    DifferencingConflict,
    cell_conflicts,
    differencing_conflicts,
    key_fingerprint,
)
from governance.analysis.models import AnalysisRun, ReleasedPopulation
from governance.datasets.models import Dataset
from governance.kernel import keys, sealing


class LedgerKeyChanged(Exception):
    """The ledger of a dataset was written under another key: releases over its people stop.
    Not something a user caused: the worker refuses the run with this message and logs it."""

    def __init__(self, dataset: str, recorded: str, current: str) -> None:
        self.message = (
            f"The differencing ledger of {dataset} was written under another ledger key "
            f"(fingerprint {recorded}; the key in use now is {current}). Its earlier releases "
            "cannot be compared with new ones, so no release over these people is made until "
            "an operator restores the key the ledger was written under "
            "(docs/decisions/analysis-ledger.md)."
        )
        super().__init__(self.message)


def pack_members(members: np.ndarray | None) -> bytes:
    """Sorted 32-byte member hashes, concatenated."""
    return b"" if members is None else np.sort(members).tobytes()


def unpack_members(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=f"S{MEMBER_HASH_BYTES}")


def ledger_label(run_id: int, label: str) -> str:
    return f"run {run_id}: {label}"


def person_dataset(kind: str, datasets: Mapping[str, int]) -> int:
    """The dataset whose people a run's populations are."""
    return int(datasets[get_kind(kind).person_table])


@dataclass(frozen=True)
class LedgerRow:
    """A ledger row without its member hashes (they are loaded only when a size is near)."""

    id: int
    run_id: int
    label: str
    size: int
    digest: str
    scheme: str
    key_fingerprint: str | None
    has_cells: bool


Reader = Callable[[], AbstractContextManager[Session]]


@dataclass
class DatasetLedger:
    """The engine's `ReleaseLedger` for one dataset: row metadata up front; member hashes only
    for rows whose size is within reach of a new population, and earlier tables on demand,
    each read in its own short session (`reader`) because the engine runs outside any
    transaction."""

    reader: Reader
    dataset_id: int
    key: bytes
    dataset_name: str
    rows: list[LedgerRow] = field(default_factory=list)
    high_water: int = 0
    _cell_releases: list[CellRelease] | None = None

    @classmethod
    def open(cls, session: Session, reader: Reader, dataset_id: int, key: bytes) -> DatasetLedger:
        """Load the dataset's ledger; `LedgerKeyChanged` if it was written under another key."""
        dataset = session.get(Dataset, dataset_id)
        ledger = cls(reader, dataset_id, key, dataset.name if dataset else str(dataset_id))
        ledger._add(_rows(session, dataset_id, after=0))
        return ledger

    def _add(self, rows: list[LedgerRow]) -> None:
        current = key_fingerprint(self.key)
        for row in rows:
            if row.scheme == SCHEME and row.key_fingerprint != current:
                raise LedgerKeyChanged(
                    f"dataset {self.dataset_name!r}", str(row.key_fingerprint), current
                )
        self.rows += rows
        self.high_water = max([self.high_water, *(row.id for row in rows)])

    @property
    def wants_legacy_digest(self) -> bool:
        return any(row.scheme == LEGACY_SCHEME for row in self.rows)

    def near(self, size: int, minimum: int) -> Iterable[Population]:
        rows = [row for row in self.rows if abs(row.size - size) < minimum]
        with self.reader() as session:
            return _populations(session, rows)

    def tables_over(self, population: Population) -> Sequence[Mapping[str, Any]]:
        """Tables of earlier runs released over exactly this population (the keyed digest of
        either form its keys were written in)."""
        digests = population.digests
        same = [row for row in self.rows if row.scheme == SCHEME and row.digest in digests]
        tables: list[Mapping[str, Any]] = []
        if not same:
            return tables
        with self.reader() as session:
            for row in same:
                run = session.get(AnalysisRun, row.run_id)
                if run is not None and run.result:
                    tables += [
                        t for t in run.result.get("tables", []) if t.get("population") == row.label
                    ]
        return tables

    def cell_releases(self) -> Iterable[CellRelease]:
        """Every earlier population that kept its members' cells, with its tables: read once
        per run (each is its member hashes and two bytes per member and dimension)."""
        if self._cell_releases is None:
            with self.reader() as session:
                self._cell_releases = _cell_releases(session, self.rows, self.key)
        return self._cell_releases

    def newer_conflicts(
        self,
        session: Session,
        populations: Iterable[Population],
        policy: DisclosurePolicy,
        tables: Sequence[Mapping[str, Any]] = (),
    ) -> list[tuple[Population, list[DifferencingConflict]]]:
        """Conflicts with rows written since this ledger was opened (a run over the same people
        that finished meanwhile), whole populations and, for ``tables`` (this run's, as
        released), cell by cell, people and outcomes, under the run's ``policy``. Call it under
        the audit writer lock, in the transaction that records this run's populations, so no
        third run can slip in between."""
        minimum = policy.min_cell_size
        newer = _rows(session, self.dataset_id, after=self.high_water)
        if not newer:
            return []
        self._add(newer)
        earlier = _populations(session, newer)
        with_cells = _cell_releases(session, newer, self.key)
        found = []
        for population in populations:
            own = [t for t in tables if t.get("population") == population.label]
            conflicts = differencing_conflicts(population, earlier, minimum) + cell_conflicts(
                population, own, with_cells, minimum, policy
            )
            if conflicts:
                found.append((population, conflicts))
        return found


def _rows(session: Session, dataset_id: int, *, after: int) -> list[LedgerRow]:
    columns = (
        ReleasedPopulation.id,
        ReleasedPopulation.run_id,
        ReleasedPopulation.label,
        ReleasedPopulation.size,
        ReleasedPopulation.digest,
        ReleasedPopulation.scheme,
        ReleasedPopulation.key_fingerprint,
        ReleasedPopulation.cell_dimensions.is_not(None),
    )
    return [
        LedgerRow(*values)
        for values in session.execute(
            select(*columns)
            .where(ReleasedPopulation.dataset_id == dataset_id, ReleasedPopulation.id > after)
            .order_by(ReleasedPopulation.id)
        )
    ]


def _populations(session: Session, rows: Sequence[LedgerRow]) -> list[Population]:
    wanted = [row.id for row in rows if row.scheme == SCHEME]
    hashes: dict[int, bytes | None] = {}
    if wanted:
        hashes = dict(
            session.execute(
                select(ReleasedPopulation.id, ReleasedPopulation.member_hashes).where(
                    ReleasedPopulation.id.in_(wanted)
                )
            ).all()
        )
    return [
        Population(
            label=ledger_label(row.run_id, row.label),
            size=row.size,
            digest=row.digest,
            scheme=row.scheme,
            release=str(row.id),
            members=unpack_members(hashes.get(row.id) or b"") if row.scheme == SCHEME else None,
        )
        for row in rows
    ]


#: The per-person cells are sealed (AES-GCM) under a subkey of the ledger key, bound to the
#: row's run and population label: they are a pseudonymous record of each released person's
#: levels of the grouping columns, which someone with the database alone must not read (the
#: data files are encrypted at rest for the same reason), nor move to another population's row.
#: The outcomes (who re-offended) are sealed under the same subkey but bound to another
#: associated data, ``outcomes`` before the row's, so neither opens in the other's column.
CELLS_LABEL = "differencing ledger cells v1"


def _cells_context(run_id: int, label: str) -> bytes:
    return f"{run_id}\n{label}".encode()


def _events_context(run_id: int, label: str) -> bytes:
    # A run id is digits, so no cells context starts with this.
    return b"outcomes\n" + _cells_context(run_id, label)


def seal_cells(key: bytes, run_id: int, label: str, packed: bytes) -> bytes:
    return sealing.seal_under(key, CELLS_LABEL, packed, _cells_context(run_id, label))


def open_cells(key: bytes, run_id: int, label: str, sealed: bytes) -> bytes:
    return sealing.unseal_under(key, CELLS_LABEL, sealed, _cells_context(run_id, label))


def seal_events(key: bytes, run_id: int, label: str, packed: bytes) -> bytes:
    return sealing.seal_under(key, CELLS_LABEL, packed, _events_context(run_id, label))


def open_events(key: bytes, run_id: int, label: str, sealed: bytes) -> bytes:
    return sealing.unseal_under(key, CELLS_LABEL, sealed, _events_context(run_id, label))


def _cell_releases(session: Session, rows: Sequence[LedgerRow], key: bytes) -> list[CellRelease]:
    wanted = [row for row in rows if row.has_cells and row.scheme == SCHEME]
    if not wanted:
        return []
    stored = {
        values.id: values
        for values in session.execute(
            select(
                ReleasedPopulation.id,
                ReleasedPopulation.member_hashes,
                ReleasedPopulation.cell_dimensions,
                ReleasedPopulation.cell_levels,
                ReleasedPopulation.cell_codes,
                ReleasedPopulation.cell_events,
            ).where(ReleasedPopulation.id.in_([row.id for row in wanted]))
        )
    }
    releases = []
    for row in wanted:
        found = stored[row.id]
        run = session.get(AnalysisRun, row.run_id)
        tables = (run.result or {}).get("tables", []) if run is not None else []
        releases.append(
            CellRelease(
                ledger_label(row.run_id, row.label),
                str(row.id),
                unpack_members(found.member_hashes or b""),
                PersonCells.unpack(
                    found.cell_dimensions,
                    found.cell_levels,
                    (
                        open_cells(key, row.run_id, row.label, found.cell_codes)
                        if found.cell_codes
                        else b""
                    ),
                    # Rows from before migration 0047 kept no outcomes: compared on people only.
                    (
                        open_events(key, row.run_id, row.label, found.cell_events)
                        if found.cell_events
                        else None
                    ),
                ),
                [t for t in tables if t.get("population") == row.label],
            )
        )
    return releases


def conflict_records(
    session: Session, conflicts: Iterable[DifferencingConflict]
) -> list[dict[str, Any]]:
    """What a refusal keeps about the earlier releases, for the people allowed to see them."""
    records = []
    for conflict in conflicts:
        row = session.get(ReleasedPopulation, int(conflict.release or 0))
        if row is None:
            continue
        records.append(
            {
                "ledger_id": row.id,
                "run_id": row.run_id,
                "agreement_id": row.agreement_id,
                "label": row.label,
                "size": row.size,
                "exact": conflict.exact,
                "only_in_new": conflict.only_in_new,
                "only_in_released": conflict.only_in_released,
                "cells": conflict.cells,
                "outcome_cells": conflict.outcome_cells,
            }
        )
    return records


def record_populations(
    session: Session,
    *,
    run: AnalysisRun,
    dataset_id: int,
    key: bytes,
    populations: Iterable[Population],
    tables: Sequence[Mapping[str, Any]] = (),
) -> list[ReleasedPopulation]:
    """One ledger row per population, with its cells and the outcomes its ``tables`` (the
    run's, as released) publish a count of, each sealed."""
    fingerprint = key_fingerprint(key)
    rows = [
        ReleasedPopulation(
            agreement_id=run.agreement_id,
            dataset_id=dataset_id,
            run_id=run.id,
            label=p.label,
            size=p.size,
            digest=p.digest,
            scheme=SCHEME,
            key_fingerprint=fingerprint,
            member_hashes=pack_members(p.members),
            cell_dimensions=None if p.cells is None else list(p.cells.dimensions),
            cell_levels=None if p.cells is None else [list(level) for level in p.cells.labels],
            cell_codes=(
                None if p.cells is None else seal_cells(key, run.id, p.label, p.cells.pack())
            ),
            cell_events=_sealed_events(key, run.id, p, tables),
        )
        for p in populations
    ]
    session.add_all(rows)
    session.flush()
    return rows


def _sealed_events(
    key: bytes, run_id: int, population: Population, tables: Sequence[Mapping[str, Any]]
) -> bytes | None:
    """The population's outcomes that its tables publish a count of (``events:<outcome>``),
    sealed; None when they publish none (no other outcome is kept)."""
    if population.cells is None:
        return None
    published = {
        quantity
        for table in tables
        if table.get("population") == population.label
        for quantity in table.get("measures", {}).values()
        if str(quantity).startswith("events:")
    }
    packed = population.cells.pack_events(published)
    return None if packed is None else seal_events(key, run_id, population.label, packed)


LEDGER_KEY_LABEL = "differencing ledger v1"


def _recorded_fingerprints(session: Session) -> set[str]:
    return {
        f
        for f in session.scalars(
            select(ReleasedPopulation.key_fingerprint)
            .where(ReleasedPopulation.scheme == SCHEME)
            .distinct()
        )
        if f
    }


def _candidate_keys(session: Session) -> Iterable[tuple[str, bytes]]:
    ring = keys.rings_of(session).data
    for key_id in (ring.current_id, *ring.retired_ids):
        yield key_id, ring.derive(LEDGER_KEY_LABEL, key_id=key_id)


def ledger_key(session: Session) -> bytes:
    """The ledger key: the one derived from the data key the ledger was written under, or,
    before anything is recorded, from the current data key. When no data key in the ring gives
    a recorded fingerprint, the current one is returned and the ledger refuses every release
    (`LedgerKeyChanged`)."""
    recorded = _recorded_fingerprints(session)
    candidates = list(_candidate_keys(session))
    for _key_id, key in candidates:
        if key_fingerprint(key) in recorded:
            return key
    return candidates[0][1]


def needs_data_key(session: Session, key_id: str) -> bool:
    """Whether the ledger's key is derived from this data key (which must then be kept)."""
    recorded = _recorded_fingerprints(session)
    return any(
        key_fingerprint(key) in recorded
        for candidate, key in _candidate_keys(session)
        if candidate == key_id
    )


def keeps_data_key(session: Session, key_id: str) -> str | None:
    """Why the data key may not be discarded while the ledger's key derives from it, or None
    (the registry hands this to `datasets.key_management`, which sits below analysis)."""
    if needs_data_key(session, key_id):
        return (
            f"The differencing ledger's key is derived from data key "
            f"{key_id}: discarding it would stop every release over the "
            "people already released. It is kept."
        )
    return None
