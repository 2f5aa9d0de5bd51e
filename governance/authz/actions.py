"""What a grant lets its holder do with a column: the actions the one door decides on.

It sits with the decision (authz) rather than with the grants (access) because the door and the
grant index name these actions, and authz is below access.
"""

from __future__ import annotations

from enum import StrEnum


class DataAction(StrEnum):
    READ = "read"
    DOWNLOAD = "download"
    # The service counts classes of the rows for a request's risk figures; no row is shown.
    ASSESS_RISK = "assess_risk"
