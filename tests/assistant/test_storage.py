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
