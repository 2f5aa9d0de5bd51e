"""What keeping outcomes in the differencing ledger costs (engine level, no database).

A register of a million people by three columns (10 x 2 x 8 levels) with one published outcome
(a rate table by all three, and its margins), released once; then the same table without 3%
of the people. Measured: the sealed outcomes' size per million people, packing and sealing
them, opening and unpacking them, and the cell-by-cell comparison with and without the outcome
check (``cell_difference`` with and without the policy). Each timing is the best of three.
Run alone: `python bench/ledger_outcomes_bench.py [people]`.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from governance.analysis.differencing import open_events, seal_events
from governance.analysis.engine import DisclosurePolicy, RunContext, run_analysis
from governance.analysis.engine.cell_differencing import CellRelease, PersonCells, cell_difference
from governance.analysis.engine.ledger import ReleasedPopulations

KEY = b"k" * 32


def register(size: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "person_id": np.arange(1, size + 1),
            "region": rng.choice([f"r{i}" for i in range(10)], size=size),
            "sex": rng.choice(["F", "M"], size=size),
            "band": rng.choice([f"b{i}" for i in range(8)], size=size),
            "passed": rng.integers(0, 2, size=size),
        }
    )


def best(action: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(3):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return min(times), result


def main(size: int) -> dict[str, Any]:
    frame = register(size)
    parameters = {"group_by": ["region", "sex", "band"], "rate_of": "passed"}
    policy = DisclosurePolicy(min_cell_size=10)
    context = RunContext(policy=policy, released=ReleasedPopulations(), ledger_key=KEY)
    first = run_analysis("descriptive", {"records": frame}, parameters, context)
    population = first.populations[0]
    assert population.cells is not None
    assert population.members is not None
    cells = population.cells
    pack_s, sealed = best(
        lambda: seal_events(KEY, 1, "records", cells.pack_events(["events:passed"]) or b"")
    )
    open_s, _ = best(
        lambda: PersonCells.unpack(
            cells.dimensions, cells.labels, cells.pack(), open_events(KEY, 1, "records", sealed)
        )
    )
    tables = [t.to_dict() for t in first.tables]
    later = frame.sample(frac=0.97, random_state=3)
    context = RunContext(policy=policy, released=ReleasedPopulations(), ledger_key=KEY)
    second = run_analysis("descriptive", {"records": later}, parameters, context)
    new = second.populations[0]
    assert new.cells is not None
    assert new.members is not None
    earlier = CellRelease("first", "1", population.members, cells, tables)
    new_tables = [t.to_dict() for t in second.tables]
    people_s, by_people = best(
        lambda: cell_difference(new.members, new.cells, new_tables, earlier, 10)  # type: ignore[arg-type]
    )
    outcomes_s, by_outcomes = best(
        lambda: cell_difference(new.members, new.cells, new_tables, earlier, 10, policy)  # type: ignore[arg-type]
    )
    return {
        "people": size,
        "sealed_outcomes_bytes": len(sealed),
        "sealed_outcomes_bytes_per_million": round(len(sealed) * 1_000_000 / size),
        "pack_and_seal_ms": round(pack_s * 1000, 2),
        "open_and_unpack_ms": round(open_s * 1000, 2),
        "compare_people_only_s": round(people_s, 3),
        "compare_with_outcomes_s": round(outcomes_s, 3),
        "failing_cells_people_only": by_people.cells if by_people else 0,
        "failing_cells_with_outcomes": by_outcomes.cells if by_outcomes else 0,
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000), indent=1))
