"""The rule a visa's status follows, over every combination (Hypothesis): it holds only while
its own lifetime runs, its grant's seal holds, its holder's account is active and its grant is
active and has not reached its end."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from governance.access.models import GrantStatus
from governance.passport.visas import VisaState, visa_state

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
OFFSETS = st.integers(min_value=-10_000, max_value=10_000).map(
    lambda seconds: NOW + dt.timedelta(seconds=seconds)
)


@given(
    visa_expires_at=OFFSETS,
    holder_active=st.booleans(),
    status=st.sampled_from(list(GrantStatus)),
    ends_at=OFFSETS,
    sealed=st.booleans(),
)
def test_a_visa_holds_only_while_it_its_holder_and_its_grant_do(
    visa_expires_at: dt.datetime,
    holder_active: bool,
    status: GrantStatus,
    ends_at: dt.datetime,
    sealed: bool,
) -> None:
    state = visa_state(
        visa_expires_at=visa_expires_at,
        holder_active=holder_active,
        grant_status=status,
        grant_ends_at=ends_at,
        now=NOW,
        grant_sealed=sealed,
    )
    holds = (
        visa_expires_at > NOW
        and sealed
        and holder_active
        and status == GrantStatus.ACTIVE
        and ends_at > NOW
    )
    assert (state == VisaState.ACTIVE) == holds
    if visa_expires_at <= NOW:
        assert state == VisaState.EXPIRED  # its own clock first: nothing revives it
    elif not sealed:
        assert state == VisaState.GRANT_SEAL_BROKEN  # the grant's stored state says nothing
    elif not holder_active:
        assert state == VisaState.HOLDER_DEACTIVATED
    elif status == GrantStatus.REVOKED:
        assert state == VisaState.GRANT_REVOKED
