"""Every domain error carries the fields of the audit event that records its refusal from the
moment it is built: a service never sets them afterwards."""

from __future__ import annotations

import pytest

from governance.kernel import errors

REFUSAL = {"event_type": "access_request:approve", "clause": "access.derived_forms"}


@pytest.mark.parametrize(
    "kind",
    [
        errors.DomainError,
        errors.NotFound,
        errors.PermissionDenied,
        errors.InvalidTransition,
        errors.Conflict,
        errors.ValidationFailed,
        errors.TooLarge,
        errors.ServiceUnavailable,
    ],
)
def test_each_domain_error_takes_its_refusal_when_built(kind: type[errors.DomainError]) -> None:
    built = kind("Refused.", audit=REFUSAL)
    assert built.audit == REFUSAL
    assert built.audit is not REFUSAL  # a copy: the caller's dict may be reused
    assert kind("Refused.").audit is None


def test_a_refusal_raised_below_takes_its_callers_fields_and_stays_itself() -> None:
    invalid = errors.ValidationFailed("Bad filter.", {"filters": "Unknown column."})
    assert invalid.recorded_as(REFUSAL) is invalid
    assert invalid.audit == REFUSAL
    assert invalid.fields == {"filters": "Unknown column."}
