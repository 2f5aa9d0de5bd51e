"""Deterministic synthetic administrative data and partner cohort for demos and tests.

``generate_dataset(n_people, seed)`` builds, with a seeded numpy Generator and no loops over
people, the two administrative tables described in reoffending.py (index events with
covariates, long proven-offence records) plus a partner's cohort file for one programme.

Why it is built this way: programme participation and one-year re-offending both depend on
age, prior offences, custody, employment and a latent risk, so a naive participants-vs-rest
comparison is biased; the programme lowers the re-offending probability of its participants by
``effect_pp`` percentage points, so a sound matched analysis should recover about
``-effect_pp / 100`` as the difference in rates. The cohort file is messy on purpose (case,
accents, "SURNAME, Forename", spacing, swapped day/month, sex codes, unlinkable and duplicate
rows, people with two interventions, under-14s and excluded offence categories).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .synthetic_cohort import partner_cohort
from .synthetic_names import FEMALE_FORENAMES, MALE_FORENAMES, SURNAMES

CATEGORIES = (
    "violence",
    "acquisitive",
    "drugs",
    "public_order",
    "motoring",
    "fraud",
    "sexual",
    "domestic_violence",
    "terrorism",
)
CATEGORY_SHARES = (0.22, 0.30, 0.15, 0.12, 0.08, 0.06, 0.03, 0.035, 0.005)
ETHNICITIES = ("white", "black", "asian", "mixed", "other", "unknown")
REGIONS = ("north", "midlands", "south", "london", "wales")
FIRST_INDEX = np.datetime64("2015-01-01")
INDEX_SPAN_DAYS = 5 * 365
DATA_COMPLETE_UNTIL = "2022-12-31"


@dataclass
class SyntheticDataset:
    """Administrative tables, the partner's cohort file and the generator's ground truth."""

    index_events: pd.DataFrame
    offences: pd.DataFrame
    cohort: pd.DataFrame
    truth: dict[str, Any] = field(default_factory=dict)


def _logistic(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _intercept_for(linear: np.ndarray, expected: float) -> float:
    """Intercept giving ``expected`` participants in expectation (bisection on a monotone sum)."""
    low, high = -30.0, 10.0
    for _ in range(60):
        middle = (low + high) / 2
        if _logistic(linear + middle).sum() > expected:
            high = middle
        else:
            low = middle
    return (low + high) / 2


def _people(rng: np.random.Generator, n: int) -> pd.DataFrame:
    male = rng.random(n) < 0.82
    # The forename carries its trailing space so the three parts join with no separator.
    fore = (
        np.where(
            male,
            np.array(MALE_FORENAMES, dtype=object)[rng.integers(0, len(MALE_FORENAMES), n)],
            np.array(FEMALE_FORENAMES, dtype=object)[rng.integers(0, len(FEMALE_FORENAMES), n)],
        )
        + " "
    )
    middle_pool = np.array(MALE_FORENAMES + FEMALE_FORENAMES, dtype=object)
    middle = np.where(
        rng.random(n) < 0.3, middle_pool[rng.integers(0, len(middle_pool), n)] + " ", ""
    )
    surname = np.array(SURNAMES, dtype=object)[rng.integers(0, len(SURNAMES), n)]
    age_at_first = 14 + rng.gamma(2.0, 7.0, n)
    first_index = FIRST_INDEX + rng.integers(0, INDEX_SPAN_DAYS, n).astype("timedelta64[D]")
    dob = first_index - np.round(age_at_first * 365.25).astype("timedelta64[D]")
    return pd.DataFrame(
        {
            "person_id": np.arange(1, n + 1, dtype=np.int64),
            "name": fore + middle + surname,
            "date_of_birth": dob.astype("datetime64[ns]"),
            "sex": np.where(male, "M", "F"),
            "first_index": first_index.astype("datetime64[ns]"),
            "latent_risk": rng.normal(0, 1, n),
        }
    )


def _events(rng: np.random.Generator, people: pd.DataFrame) -> pd.DataFrame:
    again = rng.random(len(people)) < 0.2
    second = people.loc[again].copy()
    second["first_index"] = second["first_index"] + pd.to_timedelta(
        rng.integers(365, 1100, len(second)), "D"
    )
    events = pd.concat(
        [people.assign(event_number=1), second.assign(event_number=2)], ignore_index=True
    )
    n = len(events)
    days = (events["first_index"] - events["date_of_birth"]).dt.days.to_numpy()
    age = np.floor(days / 365.25)
    risk = events["latent_risk"].to_numpy()
    priors = rng.poisson(np.exp(0.6 + 0.35 * risk + 0.02 * np.minimum(age, 45) - 0.1 * (age < 18)))
    custody = rng.random(n) < _logistic(-1.2 + 0.25 * np.minimum(priors, 10) / 2 + 0.3 * risk)
    employed = rng.random(n) < _logistic(0.2 - 0.5 * risk - 0.04 * priors)
    return events.assign(
        index_id=np.arange(1, n + 1, dtype=np.int64),
        index_date=events["first_index"],
        index_disposal=np.where(custody, "custody", "community"),
        offence_category=np.array(CATEGORIES)[rng.choice(len(CATEGORIES), n, p=CATEGORY_SHARES)],
        age_at_index=age.astype(int),
        prior_offences=priors.astype(int),
        prior_custodial_sentences=rng.binomial(priors, 0.25 + 0.2 * custody).astype(int),
        ethnicity=np.array(ETHNICITIES)[
            rng.choice(len(ETHNICITIES), n, p=(0.72, 0.1, 0.08, 0.05, 0.02, 0.03))
        ],
        employed=employed.astype(int),
        region=np.array(REGIONS)[rng.integers(0, len(REGIONS), n)],
    )


def _offences(
    rng: np.random.Generator, events: pd.DataFrame, reoffends: np.ndarray
) -> pd.DataFrame:
    n = len(events)
    counts = np.where(
        reoffends, 1 + rng.poisson(0.4 + 0.15 * np.minimum(events["prior_offences"], 12)), 0
    )
    owner = np.repeat(np.arange(n), counts)
    offence_day = rng.integers(0, 365, owner.size)
    proven_day = offence_day + np.floor(rng.random(owner.size) * (547 - offence_day)).astype(int)
    # Offences that must NOT count: committed after the year, or proven after the waiting period.
    late = np.flatnonzero(rng.random(n) < 0.3)
    late_day = rng.integers(365, 900, late.size)
    slow = np.flatnonzero((rng.random(n) < 0.05) & ~reoffends)
    slow_day = rng.integers(200, 365, slow.size)
    owners = np.concatenate([owner, late, slow])
    committed = np.concatenate([offence_day, late_day, slow_day])
    proven = np.concatenate(
        [proven_day, late_day + rng.integers(0, 200, late.size), rng.integers(547, 800, slow.size)]
    )
    base = events["index_date"].to_numpy()[owners]
    return pd.DataFrame(
        {
            "person_id": events["person_id"].to_numpy()[owners],
            "offence_date": base + committed.astype("timedelta64[D]"),
            "proven_date": base + proven.astype("timedelta64[D]"),
        }
    ).sort_values(["person_id", "offence_date"], kind="stable", ignore_index=True)


def _history(
    seed: int, events: pd.DataFrame, offences: pd.DataFrame, per_person: float, n_people: int
) -> pd.DataFrame:
    """Earlier offence records (before each person's first index date) added until index
    events and offences together number about ``per_person`` per person. They come from a
    generator of their own, so the rest of the data is the same with or without them, and
    they fall before every index date, so no outcome counts them: the analysis results are
    unchanged, only the tables are larger (the register's scale, ~10 events a person)."""
    wanted = round(per_person * n_people) - len(events) - len(offences)
    if wanted <= 0:
        return offences
    rng = np.random.default_rng([seed, 1])
    first = events.loc[events["event_number"].to_numpy() == 1]
    owners = rng.integers(0, len(first), wanted)
    start = first["first_index"].to_numpy()[owners]
    # Committed 1 to 15 years before the first index date, proven within a year after.
    committed = start - rng.integers(365, 15 * 365, wanted).astype("timedelta64[D]")
    proven = np.minimum(
        committed + rng.integers(0, 365, wanted).astype("timedelta64[D]"),
        start - np.timedelta64(1, "D"),
    )
    extra = pd.DataFrame(
        {
            "person_id": first["person_id"].to_numpy()[owners],
            "offence_date": committed,
            "proven_date": proven,
        }
    )
    return pd.concat([offences, extra], ignore_index=True).sort_values(
        ["person_id", "offence_date"], kind="stable", ignore_index=True
    )


def register_people(n_people: int, seed: int = 0) -> pd.DataFrame:
    """``person_id``, ``name``, ``date_of_birth``, ``sex`` of ``n_people`` generated people."""
    people = _people(np.random.default_rng(seed), n_people)
    return people[["person_id", "name", "date_of_birth", "sex"]]


def generate_dataset(
    n_people: int = 100_000,
    seed: int = 0,
    programme_size: int = 1_000,
    effect_pp: float = 10.0,
    events_per_person: float | None = None,
) -> SyntheticDataset:
    """Administrative tables for ``n_people`` people and a cohort of ~``programme_size``.

    By default there are about 2.5 events (index events and offence records) per person; with
    ``events_per_person`` (10 is a national register's scale) earlier offence history is added
    until there are about that many, leaving every analysis result unchanged (`_history`)."""
    if n_people < 10 * programme_size:
        raise ValueError("n_people must be at least ten times programme_size")
    rng = np.random.default_rng(seed)
    events = _events(rng, _people(rng, n_people))
    priors = np.minimum(events["prior_offences"].to_numpy(), 15)
    # Age enters linearly (centred at 30), as the default propensity model has it, so the demo
    # shows what matching can do when the model is right rather than a misspecification.
    young = -(events["age_at_index"].to_numpy() - 30) / 10
    custody = (events["index_disposal"] == "custody").to_numpy(dtype=float)
    unemployed = 1.0 - events["employed"].to_numpy()
    risk = events["latent_risk"].to_numpy()
    selection = 0.18 * priors + 0.6 * young + 0.7 * custody + 0.5 * unemployed
    eligible = events["event_number"].to_numpy() == 1
    selection = np.where(eligible, selection, -np.inf)
    selection += _intercept_for(selection[eligible], programme_size)
    participant = rng.random(len(events)) < _logistic(selection)
    # A few programme members aged 12-13 at the time, whom the JDL rules must exclude.
    kids = rng.choice(
        np.flatnonzero(participant), size=max(2, programme_size // 200), replace=False
    )
    dob = events["date_of_birth"].to_numpy().copy()
    dob[kids] = events["index_date"].to_numpy()[kids] - np.timedelta64(13 * 365, "D")
    events["date_of_birth"] = dob
    events.loc[kids, "age_at_index"] = 12
    base = _logistic(
        -1.4 + 0.16 * priors + 0.5 * young + 0.4 * custody + 0.4 * unemployed + 0.5 * risk
    )
    probability = np.clip(base - participant * effect_pp / 100, 0.0, 1.0)
    reoffends = rng.random(len(events)) < probability
    offences = _offences(rng, events, reoffends)
    cohort = partner_cohort(rng, events, np.flatnonzero(participant))
    if events_per_person is not None:
        offences = _history(seed, events, offences, events_per_person, n_people)
    public = events.drop(columns=["first_index", "latent_risk", "event_number"])
    truth = {
        "effect_pp": effect_pp,
        "participants": int(participant.sum()),
        "seed": seed,
        "participant_person_ids": events.loc[participant, "person_id"].to_numpy(),
        "data_complete_until": DATA_COMPLETE_UNTIL,
    }
    return SyntheticDataset(public, offences, cohort, truth)


def benchmark(
    n_people: int = 1_000_000,
    programme_size: int = 1_000,
    seed: int = 0,
    measure_memory: bool = False,
) -> dict[str, float]:
    """Time the matched comparison end to end in the engine on synthetic data.

    Generates the data (not engine work), hands the engine only the columns it declares, as
    the governance layer would, and times one run. With ``measure_memory`` a second, traced run
    reports ``engine_peak_mb``: the peak memory allocated through Python and numpy while the
    engine runs (tracemalloc slows that run down, so it is not the timed one).
    ``process_peak_rss_mb`` is the whole process's peak, generated data included.
    Run:
    ``python -c "from governance.analysis.engine.synthetic import benchmark as b; print(b())"``.
    """
    import resource
    import time
    import tracemalloc

    from .disclosure import DisclosurePolicy
    from .kinds import columns_needed, run_analysis
    from .kinds_base import RunContext

    started = time.perf_counter()
    data = generate_dataset(n_people, seed=seed, programme_size=programme_size)
    generated = time.perf_counter()
    params = {"eligibility": {"data_complete_until": DATA_COMPLETE_UNTIL}}
    read = columns_needed("matched_comparison", params)
    tables = {name: getattr(data, name)[columns] for name, columns in read.items()}
    engine_start, cpu_start = time.perf_counter(), time.process_time()
    run_analysis("matched_comparison", tables, params, RunContext(DisclosurePolicy()))
    figures = {
        "n_index_events": float(len(data.index_events)),
        "n_cohort_rows": float(len(data.cohort)),
        "generate_seconds": generated - started,
        "engine_seconds": time.perf_counter() - engine_start,
        # CPU seconds (both cores) are steadier than wall time on a shared machine.
        "engine_cpu_seconds": time.process_time() - cpu_start,
    }
    if measure_memory:
        tracemalloc.start()
        run_analysis("matched_comparison", tables, params, RunContext(DisclosurePolicy()))
        figures["engine_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    figures["process_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures
