"""Trails written before format 2 (the demo instance, a production database) keep verifying
after migration 0011 and `governance init`, and the upgrade cannot be undone to reach
format 1's weaker rules."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, insert, text, update

from governance import schema
from governance.audit.format import chain_hash, content_text, format_time
from governance.audit.models import AuditCheckpoint, AuditEvent, AuditHead
from governance.cli import main
from governance.kernel import append_only
from governance.kernel.db import make_engine

LEGACY_EVENTS = 12
LEGACY_EVERY = 5  # the format-1 writer's checkpoint cadence in this trail
SCHEMA = "audit_legacy"


@pytest.fixture
def legacy_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own: a new SQLite file, or a PostgreSQL schema."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'legacy.db'}"
        return
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        connection.exec_driver_sql(f"CREATE SCHEMA {SCHEMA}")
    yield f"{database_url}?options=-csearch_path%3D{SCHEMA}"
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    engine.dispose()


def write_format_1_trail(engine: Engine, key: bytes) -> None:
    """Events as the writer before migration 0011 stored them: the detail as Python's json
    module wrote it (a float as 1.0, where RFC 8785 writes 1), checkpoints signed `SEQ:SHA256`,
    the head unsigned."""
    prev, start = "0" * 64, dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    last_checkpoint: tuple[int, dt.datetime] = (0, start)
    with engine.begin() as connection:
        for seq in range(1, LEGACY_EVENTS + 1):
            moment = start + dt.timedelta(seconds=seq)
            detail = {"share": 1.0, "large": 1e16, "n": seq}
            event: dict[str, Any] = {
                "seq": seq,
                "occurred_at": moment,
                "event_type": "dataset:read",
                "outcome": "allowed",
                "actor_id": 3,
                "actor_email": "analyst@lab.example",
                "agreement_id": 1,
                "agreement_version": 1,
                "dataset_id": 2,
                "target_type": "dataset",
                "target_id": "2",
                "rule": "grant:1",
                "clause": None,
            }
            stored = json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            digest = chain_hash(
                prev,
                content_text(
                    event["actor_email"],
                    event["actor_id"],
                    event["agreement_id"],
                    event["agreement_version"],
                    event["clause"],
                    event["dataset_id"],
                    stored,
                    event["event_type"],
                    format_time(moment),
                    event["outcome"],
                    event["rule"],
                    seq,
                    event["target_id"],
                    event["target_type"],
                ),
            )
            connection.execute(
                insert(AuditEvent), {**event, "detail": detail, "prev_hash": prev, "hash": digest}
            )
            if seq == 1 or seq - last_checkpoint[0] >= LEGACY_EVERY:
                connection.execute(
                    insert(AuditCheckpoint).values(
                        seq=seq,
                        head_hash=digest,
                        created_at=moment,
                        key_id=hashlib.sha256(key).hexdigest()[:16],
                        signature=hmac.new(
                            key, f"{seq}:{digest}".encode(), hashlib.sha256
                        ).hexdigest(),
                    )
                )
                last_checkpoint = (seq, moment)
            prev = digest
        connection.execute(
            update(AuditHead)
            .where(AuditHead.id == 1)
            .values(
                seq=LEGACY_EVENTS,
                hash=prev,
                last_checkpoint_seq=last_checkpoint[0],
                last_checkpoint_at=last_checkpoint[1],
            )
        )


@pytest.fixture
def upgraded(
    legacy_url: str, instance_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Engine]:
    """A format-1 trail at revision 0010, upgraded and sealed by `governance init`, then
    written to by the new writer."""
    monkeypatch.setenv("GOVERNANCE_DATABASE_URL", legacy_url)
    monkeypatch.setenv("GOVERNANCE_AUDIT_CHECKPOINT_EVERY", "5")
    engine = make_engine(legacy_url)
    schema.upgrade(engine, "0010")
    write_format_1_trail(engine, (instance_path / "audit.key").read_bytes())
    result = governance("init")
    assert result.exit_code == 0, result.output
    assert "upgraded from 0010" in result.output
    assert f"Audit trail sealed in its new format at event {LEGACY_EVENTS + 1}" in result.output
    for _ in range(7):  # each `init` writes nothing more, each `verify` one event
        assert governance("audit", "verify").exit_code == 0
    yield engine
    engine.dispose()


def governance(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def intrude(engine: Engine, *statements: str) -> None:
    """As someone with database access who dropped the audit tables' triggers."""
    dialect = engine.dialect.name
    with engine.begin() as connection:
        for table in ("audit_event", "audit_checkpoint", append_only.HEAD_TABLE):
            for statement in append_only.drop_statements(table, dialect):
                connection.exec_driver_sql(statement)
        for statement in statements:
            connection.execute(text(statement))


def test_a_format_1_trail_verifies_after_the_upgrade(upgraded: Engine) -> None:
    result = governance("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "Audit trail intact" in result.output
    with upgraded.connect() as connection:
        upgrade = connection.execute(
            text("SELECT event_type, detail FROM audit_event WHERE seq = :seq"),
            {"seq": LEGACY_EVENTS + 1},
        ).one()
        first = connection.execute(text("SELECT detail FROM audit_event WHERE seq = 1")).one()
    assert upgrade.event_type == "audit:upgrade"
    assert json.loads(upgrade.detail)["previous_checkpoints"] == 3
    assert first.detail == '{"large":1e+16,"n":1,"share":1.0}'  # not RFC 8785: format 1
    assert governance("init").output.count("sealed") == 0  # sealed once


@pytest.mark.parametrize(
    ("attack", "statements", "reported"),
    [
        (
            "move the format boundary",
            ["UPDATE audit_head SET format_since = format_since + 1"],
            "or the format boundary was moved",
        ),
        (
            "delete a format-1 checkpoint",
            ["DELETE FROM audit_checkpoint WHERE seq = 6"],
            "format-1 checkpoints were deleted",
        ),
        # Event 13 (LEGACY_EVENTS + 1) is the upgrade; format 1 had checkpoints 1, 6 and 11.
        (
            "delete the upgrade's checkpoint",
            ["DELETE FROM audit_checkpoint WHERE seq = 13"],
            "FAILED at event 13 (checkpoint)",
        ),
        (
            "undo the upgrade: back to format 1's unsigned head",
            [
                "DELETE FROM audit_event WHERE seq > 12",
                "DELETE FROM audit_checkpoint WHERE seq > 12",
                "UPDATE audit_head SET seq = 12, hash = (SELECT hash FROM audit_event WHERE seq = "
                "12), "
                "format_since = 13, last_checkpoint_seq = 11, cadence_events = NULL, "
                "cadence_minutes = NULL, signature = NULL, key_id = NULL",
            ],
            "the chain head is not signed",
        ),
    ],
)
def test_the_upgrade_cannot_be_undone_or_moved(
    upgraded: Engine, attack: str, statements: list[str], reported: str
) -> None:
    intrude(upgraded, *statements)
    result = governance("audit", "verify")
    assert result.exit_code == 1, (attack, result.output)
    assert "Audit trail verification FAILED" in result.output
    assert reported in result.output, (attack, result.output)


def test_format_1_events_get_the_strict_row_checks(upgraded: Engine) -> None:
    if upgraded.dialect.name == "sqlite":
        intrude(
            upgraded,
            "UPDATE audit_event SET occurred_at = replace(occurred_at, ' ', 'T') WHERE seq = 3",
        )
    else:
        intrude(
            upgraded,
            "UPDATE audit_event SET occurred_at = ((occurred_at AT TIME ZONE "
            "'UTC')::text || ' BC')::timestamp AT TIME ZONE 'UTC' WHERE seq = 3",
        )
    result = governance("audit", "verify")
    assert result.exit_code == 1
    assert "FAILED at event 3 (malformed)" in result.output
