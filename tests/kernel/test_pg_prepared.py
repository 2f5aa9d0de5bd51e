"""A rolled-back PostgreSQL transaction of plain statements keeps the connection's prepared
statements (kernel/pg_prepared.py), and the rollback still discards what it wrote; DDL and a
failed transaction are rolled back by psycopg as before, which forgets them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text

from governance.kernel.db import make_engine

# psycopg prepares a statement at its fifth execution on a connection.
READ = text("SELECT epoch FROM policy_epoch WHERE id = :id")


@pytest.fixture
def engine(postgres_url: str) -> Iterator[Engine]:
    from tests.conftest import _reset_postgres

    _reset_postgres(postgres_url)
    made = make_engine(postgres_url, pool_size=1, max_overflow=0)
    yield made
    made.dispose()


def _prepared(connection: Connection) -> list[str]:
    return list(connection.scalars(text("SELECT statement FROM pg_prepared_statements")))


def _read_in_rolled_back_transactions(engine: Engine, times: int) -> None:
    for _ in range(times):
        with engine.connect() as connection:  # leaving it rolls the transaction back
            assert connection.scalar(READ, {"id": 1}) == 0


def test_a_read_rolled_back_keeps_its_prepared_statement(engine: Engine) -> None:
    _read_in_rolled_back_transactions(engine, 7)
    with engine.connect() as connection:
        assert any("policy_epoch" in s for s in _prepared(connection))


def test_a_write_rolled_back_is_discarded_and_the_statements_stay_prepared(
    engine: Engine,
) -> None:
    _read_in_rolled_back_transactions(engine, 7)
    with engine.connect() as connection:
        connection.execute(text("UPDATE policy_epoch SET epoch = 99 WHERE id = 1"))
        assert connection.scalar(READ, {"id": 1}) == 99
        connection.rollback()
        assert connection.scalar(READ, {"id": 1}) == 0
    with engine.connect() as connection:
        assert connection.scalar(READ, {"id": 1}) == 0
        assert any("policy_epoch" in s for s in _prepared(connection))


def test_a_rolled_back_table_forgets_the_prepared_statements(engine: Engine) -> None:
    _read_in_rolled_back_transactions(engine, 7)
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE TABLE scratch_rolled_back (n integer)")
        for _ in range(6):
            connection.exec_driver_sql(
                "SELECT n FROM scratch_rolled_back WHERE n = %(n)s", {"n": 1}
            )
    # psycopg's own rollback: nothing prepared is left that could name the table.
    with engine.connect() as connection:
        assert _prepared(connection) == []
        assert connection.scalar(text("SELECT to_regclass('scratch_rolled_back')")) is None
        # The same statement runs again (and would be prepared afresh), no stale plan.
        connection.exec_driver_sql("CREATE TABLE scratch_rolled_back (n integer)")
        for _ in range(6):
            connection.exec_driver_sql(
                "SELECT n FROM scratch_rolled_back WHERE n = %(n)s", {"n": 1}
            )


def test_a_failed_transaction_is_rolled_back_by_psycopg(engine: Engine) -> None:
    _read_in_rolled_back_transactions(engine, 7)
    with engine.connect() as connection:
        with pytest.raises(Exception, match="division by zero"):
            connection.execute(text("SELECT 1 / 0"))
        connection.rollback()
        assert connection.scalar(READ, {"id": 1}) == 0
    with engine.connect() as connection:
        assert connection.scalar(READ, {"id": 1}) == 0


def test_a_committed_transaction_is_unchanged(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE policy_epoch SET epoch = 5 WHERE id = 1"))
    _read_in_rolled_back_transactions_expecting(engine, 5)


def _read_in_rolled_back_transactions_expecting(engine: Engine, epoch: int) -> None:
    for _ in range(7):
        with engine.connect() as connection:
            assert connection.scalar(READ, {"id": 1}) == epoch
