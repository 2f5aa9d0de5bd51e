"""Re-identification figures for a request of quasi-identifiers on 1 million records: age,
sex, area (3,000 codes of one length), date of birth (20,000 days) and an offence category as
the sensitive column, with every alternative (each column dropped, each coarsened), as the
steward's review shows them. Target: <= 30 s for the whole report. Median of 3 runs.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pandas as pd


def records(size: int, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(10, 90, size),
            "sex": rng.choice(["F", "M"], size),
            "area": pd.Categorical.from_codes(
                rng.integers(0, 3000, size), [f"A{i:04d}" for i in range(3000)]
            ).astype(str),
            "date_of_birth": pd.Timestamp("1935-01-01")
            + pd.to_timedelta(rng.integers(0, 20_000, size), unit="D"),
            "offence_category": rng.choice(["violence", "theft", "drugs", "fraud", "other"], size),
        }
    )


def run(quick: bool) -> dict[str, float]:
    from governance.analysis.engine.reidentification import report

    size = 20_000 if quick else 1_000_000
    frame = records(size)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        found = report(
            frame,
            ["age", "sex", "area", "date_of_birth"],
            sensitive=["offence_category"],
            threshold=10,
        )
        times.append(time.perf_counter() - started)
    seconds = statistics.median(times)
    print(
        f"   {size:,} records, {len(found.alternatives)} alternatives: {seconds:.2f} s; "
        f"unique as requested {found.requested.unique_share:.1%}"
    )
    return {"reid_risk_1m_s": round(seconds, 2)} if not quick else {"reid_risk_20k_s": seconds}
