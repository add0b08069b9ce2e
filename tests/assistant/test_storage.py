"""Database: connections the server dropped are replaced, not reported as an outage (real PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa

from assistant.storage import Database


def test_a_pooled_connection_terminated_by_the_server_is_replaced(pg_url: str) -> None:
    """A PostgreSQL restart (or an administrator) ends every session with 57P01 "terminating connection
    due to administrator command"; the pooled connections must be replaced on the next checkout."""
    db = Database(pg_url)
    killer = sa.create_engine(pg_url)
    try:
        db.create_schema()
        with db.engine.connect() as conn:  # one pooled connection, then back to the pool
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with killer.begin() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        assert db.ping()
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() != pid
    finally:
        killer.dispose()
        db.engine.dispose()


def test_failures_are_described_without_personal_data() -> None:
    from assistant.logs import describe_failure
    from assistant.storage import StorageError

    driver = RuntimeError('duplicate key: Key (phone)=(010-2345-6789) already exists\nDETAIL: more')
    wrapped = sa.exc.IntegrityError("INSERT INTO complaints ...", {"phone": "010-2345-6789"}, driver)
    err = StorageError("database error: IntegrityError")
    err.__cause__ = wrapped
    text = describe_failure(err)
    assert text.startswith("StorageError <- IntegrityError <- RuntimeError: duplicate key")
    assert "6789" not in text and "INSERT" not in text and "DETAIL" not in text
    assert describe_failure(ValueError("x")) == "ValueError"
