"""Several OS processes appending at once leave one unbroken chain, on both databases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditEvent
from governance.audit.verify import verify_chain
from governance.kernel.extensions import database
from tests.conftest import fresh
from tests.support import People

WRITERS = 4
EVENTS_EACH = 25
WRITER = """
import sys
from governance import create_app
from governance.kernel.extensions import database
from governance.audit.models import AuditType
from governance.audit import service as audit
from governance.identity.actors import System

app = create_app()
db = database(app)
actor = System(f"writer-{sys.argv[1]}")
for i in range(int(sys.argv[2])):
    with db.session() as session:
        audit.record(session, AuditType.AUDIT_SEARCH, by=actor, detail={"i": i})
        session.commit()
db.dispose()
"""


def test_concurrent_writers_from_several_processes_leave_one_chain(
    app: Flask, db: Session, people: People, instance_path: Path
) -> None:
    before, _ = audit.chain_head(db)
    db.rollback()
    env = dict(os.environ, GOVERNANCE_INSTANCE_PATH=str(instance_path))
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(n), str(EVENTS_EACH)], env=env)
        for n in range(WRITERS)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0] * WRITERS
    fresh(db)
    total = before + WRITERS * EVENTS_EACH
    seqs = list(db.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
    assert seqs == list(range(1, total + 1))  # no duplicate, no gap
    distinct_prev = db.scalar(select(func.count(func.distinct(AuditEvent.prev_hash))))
    assert distinct_prev == total  # no two events chained onto the same predecessor
    assert audit.chain_head(db)[0] == total
    result = verify_chain(database(app).read_engine(), audit.settings_of(db))
    assert result.intact, result.summary()
    assert result.events == total
