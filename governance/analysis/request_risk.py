"""The re-identification figures an access request's review shows (access/requests.py asks for
them through the one door; the registry installs this function there)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from governance.analysis.engine import reidentification


def figures(
    frame: pd.DataFrame, quasi_identifiers: Sequence[str], sensitive: Sequence[str], threshold: int
) -> dict[str, Any]:
    """Counts and shares only: the requested combination and each drop/coarsen alternative."""
    return reidentification.report(
        frame, quasi_identifiers, sensitive=sensitive, threshold=threshold
    ).as_dict()
