"""A refusal must not say what it refuses to release (redteam9b).

The refusal's purpose is that nobody learns how many people separate two populations: that
number is a count of those people, which the tables suppress when it is small. The reason the
analyst read quoted the refused population's size ("'compared groups' (297 people)") and the
run page told its requester "0 in this run only, 3 in the earlier release only": with the
earlier total published, either gives the 3 people without a recorded aid whose cell the
counts table suppressed. Output checkers and privacy officers, who investigate refusals,
still see the numbers. Nor may a refusal's threshold be the analyst's to move: refusals
at thresholds of their choosing count the people.
"""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.analysis.models import RunStatus
from governance.analysis.runner import effective_parameters
from governance.kernel.errors import ValidationFailed
from tests.analysis.conftest import MATCHED_PARAMS, World, grant_matched, submit, upload
from tests.analysis.test_ledger_across_releases import agreement_over, declare, register, run
from tests.conftest import Browser
from tests.support import PASSWORD, People

COMPARE_AID = {"group_column": "aid", "group_a": "1", "group_b": "0", "outcome": "passed"}


def test_a_differencing_refusal_does_not_give_the_size_of_the_difference(
    app: Flask, db: Session, people: People, browser: Browser
) -> None:
    frame = register()
    frame["aid"] = frame["aid"].astype("Int64")
    frame.loc[frame.index[:3], "aid"] = None
    survey = declare(db, people, frame)
    agreement = agreement_over(db, people, survey, analyst=people.analyst)
    by_aid = run(app, db, agreement, survey, people.analyst, "descriptive", {"group_by": ["aid"]})
    assert by_aid.status == RunStatus.SUCCEEDED, by_aid.reason
    assert by_aid.result is not None
    counts = next(t for t in by_aid.result["tables"] if t["name"] == "counts")
    total = next(c for c in counts["cells"] if c["labels"] == {"aid": "Total"})
    assert total["values"]["count"] == 300
    hidden = [c for c in counts["cells"] if c["disclosure"]["suppressed"]]
    assert hidden, "the cell of the 3 people without a recorded aid is suppressed"

    refused = run(app, db, agreement, survey, people.analyst, "rate_comparison", COMPARE_AID)
    assert refused.status == RunStatus.REFUSED, refused.reason
    assert refused.conflicts
    assert refused.conflicts[0]["only_in_released"] == 3
    # The attacker: the published total less any number the refusal quotes.
    quoted = {int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", refused.reason or "")}
    assert not {300 - n for n in quoted} & set(range(1, 10)), refused.reason

    browser.login(people.analyst.email, PASSWORD)
    page = browser.get(f"/analyses/{refused.id}").get_data(as_text=True)
    assert f"/analyses/{by_aid.id}" in page  # the analyst's own earlier run is still named
    assert "in the earlier release only" not in page
    assert "297" not in page

    officer = Browser(app.test_client())
    officer.login(people.privacy.email, PASSWORD)
    page = officer.get(f"/analyses/{refused.id}").get_data(as_text=True)
    assert "0 in this run only, 3 in the earlier release only" in page


def test_an_analyst_cannot_choose_the_cohort_size_a_refusal_counts_against(
    db: Session, people: People, world: World
) -> None:
    """Refused at 300, run at 200, refused at 250...: nine refused runs, none in the ledger,
    gave the exact number of eligible people (295 of the synthetic cohort), and less the
    treatment group's published 290, the 5 without a comparison within the caliper that the
    cohort flow suppressed. The agreement's size alone applies; another is a recorded 422."""
    grant_matched(db, people, world)
    cohort_id = upload(db, people, world)
    version = world.agreement.current_version
    assert version is not None
    bisect = {**MATCHED_PARAMS, "eligibility": {**MATCHED_PARAMS["eligibility"]}}
    bisect["eligibility"]["min_cohort_size"] = version.min_cohort_size + 140
    with pytest.raises(ValidationFailed) as caught:
        submit(db, people, world, "matched_comparison", bisect, cohort_id=cohort_id)
    db.rollback()
    assert caught.value.audit is not None
    assert caught.value.audit["clause"] == "publication.min_cohort_size"
    assert "eligibility.min_cohort_size" in caught.value.fields
    # Asking for the agreement's own size is no choice; a stored run's own wish is ignored.
    bisect["eligibility"]["min_cohort_size"] = version.min_cohort_size
    assert submit(db, people, world, "matched_comparison", bisect, cohort_id=cohort_id).id
    bisect["eligibility"]["min_cohort_size"] = 5
    applied = effective_parameters("matched_comparison", bisect, version)
    assert applied["eligibility"]["min_cohort_size"] == version.min_cohort_size
