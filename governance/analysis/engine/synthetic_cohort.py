"""The partner organisation's cohort file for the synthetic data set, made messy on purpose.

Real cohort files are typed by hand: names in capitals, "SURNAME, Forename", accents dropped or
added, stray spaces, middle names missing, day and month swapped, sex written five ways, the
same person entered twice or with two interventions, and people the registers do not know.
This module reproduces each of those so the linkage rules are exercised by the demo.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd


def _strip_accents(name: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))


def messy_names(rng: np.random.Generator, names: pd.Series) -> list[str]:
    result = []
    for name, style in zip(names.tolist(), rng.integers(0, 10, len(names)), strict=True):
        parts = name.split(" ")
        variants = [
            name,
            name,
            name,
            name.upper(),
            name.lower(),
            f"{parts[-1].upper()}, {' '.join(parts[:-1])}",
            _strip_accents(name),
            "  " + "   ".join(parts) + " ",
            f"{parts[0]} {parts[-1]}",
            name,
        ]
        result.append(variants[int(style)])
    return result


def partner_cohort(
    rng: np.random.Generator, events: pd.DataFrame, participant_rows: np.ndarray
) -> pd.DataFrame:
    """Cohort rows for the participants' index events plus fakes, copies and second rows."""
    chosen = events.iloc[participant_rows]
    m = len(chosen)
    start = chosen["index_date"] - pd.to_timedelta(rng.integers(30, 180, m), "D")
    end = chosen["index_date"] - pd.to_timedelta(rng.integers(0, 30, m), "D")
    dob = chosen["date_of_birth"]
    swap = (rng.random(m) < 0.02) & (dob.dt.day <= 12) & (dob.dt.day != dob.dt.month)
    dob_text = np.where(swap, dob.dt.strftime("%m/%d/%Y"), dob.dt.strftime("%d/%m/%Y"))
    sex_codes = {"M": ("M", "male", "1", "m"), "F": ("F", "female", "2", "Female")}
    sex = [sex_codes[s][int(i)] for s, i in zip(chosen["sex"], rng.integers(0, 4, m), strict=True)]
    cohort = pd.DataFrame(
        {
            "name": messy_names(rng, chosen["name"]),
            "date_of_birth": dob_text,
            "sex": sex,
            "intervention_start": start.dt.strftime("%d/%m/%Y").to_numpy(),
            "intervention_end": end.dt.strftime("%d/%m/%Y").to_numpy(),
            "reference": [
                f"Case {i}: attended sessions, see notes" for i in rng.integers(1000, 9999, m)
            ],
        }
    )
    fakes = pd.DataFrame(
        {
            "name": [f"Unknown Person{i}" for i in range(max(3, m // 100))],
            "date_of_birth": "01/01/1990",
            "sex": "M",
            "intervention_start": "01/06/2016",
            "intervention_end": "01/09/2016",
            "reference": "not on any register",
        }
    )
    duplicates = cohort.sample(n=max(2, m // 150), random_state=int(rng.integers(0, 2**31)))
    second = cohort.sample(n=max(2, m // 200), random_state=int(rng.integers(0, 2**31))).copy()
    second["intervention_start"] = "01/01/2014"
    second["intervention_end"] = "01/03/2014"
    combined = pd.concat([cohort, fakes, duplicates, second], ignore_index=True)
    return combined.iloc[rng.permutation(len(combined))].reset_index(drop=True)
