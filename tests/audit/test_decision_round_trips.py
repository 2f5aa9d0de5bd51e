"""What one audited decision sends to PostgreSQL, message by message (libpq's own trace).

An audited read waits for the server three times: BEGIN with the policy epoch's SELECT (one
message), the audit append (a statement prepared on the connection, so only bound and
executed), and COMMIT. Each wait is a round trip a served read pays on every request; this pins
the count, and that the append stays prepared across the commits that end each read.
"""

from __future__ import annotations

import tempfile
from typing import Any

import pytest
from flask import Flask

from governance.audit import service as audit
from governance.audit.models import AuditType, Outcome
from governance.authz.actions import DataAction
from governance.authz.decision import DataRequest, decide
from governance.identity.actors import System
from governance.kernel.extensions import database
from governance.kernel.types import utcnow

#: Decisions run before the traced ones: psycopg prepares a statement at its sixth execution
#: on a connection, and the pool may hand out more than one connection.
WARM_UP = 14


@pytest.fixture
def app_config(database_url: str) -> dict[str, Any]:
    # The production cadence: with the audit tests' checkpoint every 5 events, every fifth
    # decision would also write a checkpoint (one statement more, a thousandth of the reads).
    return {"TESTING": True, "DATABASE_URL": database_url}


def _request() -> DataRequest:
    # Nobody holds a grant: the decision is a denial, audited like an access.
    return DataRequest(
        user_id=1,
        agreement_id=1,
        dataset_id=1,
        columns=("age_at_arrest",),
        action=DataAction.READ,
        purpose="descriptive",
        now=utcnow(),
    )


def _audited_decision(app: Flask, *, traced: bool) -> str:
    """One decision in its own session, as a served read makes it: decide, record, commit.
    Returns libpq's trace of what went to and came from the server."""
    with database(app).session() as session:
        # psycopg sends nothing until the first statement: the checkout is silent.
        pgconn = session.connection().connection.dbapi_connection.pgconn
        with tempfile.TemporaryFile() as trace:
            if traced:
                from psycopg import pq

                pgconn.trace(trace.fileno())
                pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
            try:
                request = _request()
                decision = decide(session, request)
                assert not decision.allowed
                audit.record(
                    session,
                    AuditType.DATASET_READ,
                    by=System("round-trips"),
                    outcome=Outcome.DENIED,
                    agreement_id=request.agreement_id,
                    dataset_id=request.dataset_id,
                    clause=decision.clause,
                    detail={"columns": list(request.columns), "purpose": request.purpose},
                )
                session.commit()
            finally:
                if traced:
                    pgconn.untrace()  # flushes the trace
            trace.seek(0)
            return trace.read().decode()


def test_an_audited_decision_waits_for_the_server_three_times(app: Flask) -> None:
    if database(app).is_sqlite:
        pytest.skip("SQLite has no round trips")
    for _ in range(WARM_UP):
        _audited_decision(app, traced=False)
    for _ in range(3):
        lines = _audited_decision(app, traced=True).splitlines()
        sent = [line.split("\t") for line in lines if line.startswith("F\t")]
        # Each wait ends with the server's ReadyForQuery.
        assert sum(line.startswith("B\t5\tReadyForQuery") for line in lines) == 3, lines
        kinds = [message[2] for message in sent]
        assert kinds == ["Query", "Bind", "Describe", "Execute", "Sync", "Query"], lines
        assert sent[0][3] == ' "BEGIN;SELECT epoch FROM policy_epoch WHERE id = 1"'
        # The append is bound to a statement prepared earlier on this connection and kept
        # across the commits since: no Parse, a named statement.
        assert sent[1][3].startswith(' "" "_pg3_'), sent[1]
        assert sent[-1][3] == ' "COMMIT"'
    with database(app).session() as session:
        events = audit.chain_head(session)[0]
    assert events >= WARM_UP + 3
