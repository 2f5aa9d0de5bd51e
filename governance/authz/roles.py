"""The roles a person can hold; one person may hold several."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    PRIVACY_OFFICER = "privacy_officer"
    DATA_STEWARD = "data_steward"
    COMPLIANCE_MANAGER = "compliance_manager"
    ANALYST = "analyst"
    PARTNER_REVIEWER = "partner_reviewer"
    OUTPUT_CHECKER = "output_checker"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.ADMIN: "Administrator",
    Role.PRIVACY_OFFICER: "Privacy officer",
    Role.DATA_STEWARD: "Data steward",
    Role.COMPLIANCE_MANAGER: "Compliance manager",
    Role.ANALYST: "Analyst",
    Role.PARTNER_REVIEWER: "Partner reviewer",
    Role.OUTPUT_CHECKER: "Output checker",
}


# The order a person's dashboard is chosen in when they hold several roles.
DASHBOARD_ORDER = (
    Role.ADMIN,
    Role.PRIVACY_OFFICER,
    Role.COMPLIANCE_MANAGER,
    Role.DATA_STEWARD,
    Role.OUTPUT_CHECKER,
    Role.ANALYST,
    Role.PARTNER_REVIEWER,
)
