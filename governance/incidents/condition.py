"""The condition an open, frozen incident puts on every grant under the agreements it involves:
reads stop from the moment of the freeze until it is lifted or the incident closed.

It lives with incidents, not with the other obligation conditions in `access`, so that the
arrow runs one way (incidents know access; access knows nothing of incidents); the registry
installs it beside them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access.models import Grant
from governance.access.obligation_conditions import Ends, reference_of
from governance.incidents.models import Incident, IncidentAgreement, IncidentStatus

CLAUSE_FREEZE = "incidents.freeze"


def not_frozen(session: Session, grants: Sequence[Grant], now: dt.datetime) -> Ends:
    frozen: dict[int, tuple[dt.datetime, int]] = {}
    for agreement_id, incident_id, frozen_at in session.execute(
        select(IncidentAgreement.agreement_id, Incident.id, Incident.frozen_at)
        .join(Incident, Incident.id == IncidentAgreement.incident_id)
        .where(
            IncidentAgreement.agreement_id.in_({g.agreement_id for g in grants}),
            Incident.status == IncidentStatus.OPEN,
            Incident.frozen_at.is_not(None),
        )
    ):
        assert frozen_at is not None
        if agreement_id not in frozen or frozen_at < frozen[agreement_id][0]:
            frozen[agreement_id] = (frozen_at, incident_id)
    ends: Ends = {}
    for grant in grants:
        if grant.agreement_id in frozen:
            at, incident_id = frozen[grant.agreement_id]
            ends[grant.id] = (
                at,
                (
                    f"Access under {reference_of(session, grant.agreement_id)} is frozen while "
                    f"incident #{incident_id} is investigated (clause {CLAUSE_FREEZE}). Keep any "
                    "copies untouched and answer the privacy officer's questions; access resumes "
                    "when the privacy officer lifts the freeze."
                ),
            )
    return ends
