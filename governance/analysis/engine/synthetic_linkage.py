"""A labelled cohort for checking probabilistic linkage: who each cohort row really is.

Register people come from the project's generator (synthetic.register_people). The cohort
takes a sample of them, written as partner files write them (synthetic_cohort's messy names:
capitals, "SURNAME, Forename", accents dropped, spacing, middle names missing) and adds the
errors only a probabilistic model forgives: a mistyped letter in the surname, a date of birth
a day out or with day and month exchanged, and people the register does not hold. The truth
column ``true_person_id`` (empty for people not in the register) stays with the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .synthetic import register_people
from .synthetic_cohort import messy_names

LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))


@dataclass
class LabelledLinkage:
    register: pd.DataFrame  # person_id, name, date_of_birth, sex
    cohort: pd.DataFrame  # name, date_of_birth, sex, intervention_start
    true_person_id: pd.Series  # per cohort row; <NA> when the person is not in the register


def _typo(rng: np.random.Generator, name: str) -> str:
    position = int(rng.integers(1, len(name))) if len(name) > 2 else 0
    return name[:position] + str(rng.choice(LETTERS)) + name[position + 1 :]


def labelled_linkage(
    n_register: int,
    n_cohort: int,
    seed: int = 0,
    absent_share: float = 0.1,
    typo_share: float = 0.15,
    dob_error_share: float = 0.1,
) -> LabelledLinkage:
    rng = np.random.default_rng(seed)
    everyone = register_people(n_register + int(n_cohort * absent_share) + 1, seed)
    register = everyone.iloc[:n_register].reset_index(drop=True)
    outsiders = everyone.iloc[n_register:]
    n_absent = int(n_cohort * absent_share)
    chosen = pd.concat(
        [
            register.iloc[rng.choice(n_register, n_cohort - n_absent, replace=False)],
            outsiders.iloc[:n_absent],
        ]
    ).reset_index(drop=True)
    names = messy_names(rng, chosen["name"])
    for i in np.flatnonzero(rng.random(len(names)) < typo_share):
        parts = names[i].split(" ")
        parts[-1] = _typo(rng, parts[-1])
        names[i] = " ".join(parts)
    dob = chosen["date_of_birth"].copy()
    wrong = rng.random(len(dob)) < dob_error_share
    one_day = wrong & (rng.random(len(dob)) < 0.6)
    dob[one_day] = dob[one_day] + pd.Timedelta(days=1)
    swap = wrong & ~one_day & (dob.dt.day <= 12)
    text = np.where(swap, dob.dt.strftime("%m/%d/%Y"), dob.dt.strftime("%d/%m/%Y"))
    cohort = pd.DataFrame(
        {
            "name": names,
            "date_of_birth": text,
            "sex": chosen["sex"].to_numpy(),
            "intervention_start": "01/06/2019",
        }
    )
    truth = chosen["person_id"].astype("Int64").where(chosen["person_id"] <= n_register)
    order = rng.permutation(len(cohort))
    return LabelledLinkage(
        register=register,
        cohort=cohort.iloc[order].reset_index(drop=True),
        true_person_id=truth.iloc[order].reset_index(drop=True),
    )
