"""The SCIM endpoint run through scim2-tester, the scim2 family's own checker of RFC 7643 and
7644: discovery, then create, read, replace, PATCH and delete of Users and Groups. The figures
are reported in docs/identity.md ("SCIM conformance").

Three checks differ by design and are named here, so any other failure fails the test: the
tester compares a PATCHed value byte for byte with what it sent, while we keep one e-mail and
always mark it primary, and we answer group members with their display name and `$ref`.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from flask import Flask
from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_tester import Status, check_server
from sqlalchemy.orm import Session

from governance.identity import scim_tokens
from governance.kernel.types import utcnow
from tests.support import People

FAILED = {Status.ERROR, Status.CRITICAL}
KNOWN_DEVIATIONS = {
    ("check_replace_attribute", "User", "emails"),
    ("check_add_attribute", "Group", "members"),
    ("check_replace_attribute", "Group", "members"),
}


def run_checks(app: Flask, db: Session, people: People) -> list[Any]:
    _token, secret = scim_tokens.issue_token(
        db, name="scim2-tester", days=1, by=people.admin, now=utcnow()
    )
    db.commit()
    client = WSGISCIMClient(
        app=app.wsgi_app,
        base_url="http://localhost/scim/v2",
        headers={"Authorization": f"Bearer {secret}"},
    )
    return list(check_server(client))


def test_scim2_tester_passes_all_but_the_named_deviations(
    app: Flask, db: Session, people: People
) -> None:
    results = run_checks(app, db, people)
    counts = Counter(result.status.name for result in results)
    print("scim2-tester:", dict(counts))
    failures = {
        (
            r.title,
            r.resource_type,
            (r.reason or "").split("'")[1] if "'" in (r.reason or "") else "",
        )
        for r in results
        if r.status in FAILED
    }
    details = [f"{r.title} {r.resource_type}: {r.reason}" for r in results if r.status in FAILED]
    assert failures <= KNOWN_DEVIATIONS, "\n".join(details)
    assert counts["SUCCESS"] >= 51, counts
