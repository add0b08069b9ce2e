"""Relational storage of what the assistant must not lose: answer feedback and call-back requests.

SQLAlchemy Core, so the same code runs on the embedded default (SQLite file in the data folder) and
on PostgreSQL in production (``ASSISTANT_DATABASE_URL``). Rows are committed before the citizen is
told they were saved. Exports mask personal data.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from .errors import AssistantError
from .pii import mask_pii

metadata = sa.MetaData()

feedback = sa.Table(
    "feedback", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("session_id", sa.String(128), nullable=False),
    sa.Column("message_id", sa.String(64), nullable=False),
    sa.Column("rating", sa.String(8), nullable=False),
    sa.Column("question", sa.Text, nullable=False, default=""),
    sa.Column("answer", sa.Text, nullable=False, default=""),
    sa.Column("comment", sa.Text, nullable=False, default=""),
    sa.UniqueConstraint("session_id", "message_id", name="uq_feedback_message"),
)

callbacks = sa.Table(
    "callback_requests", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("session_id", sa.String(128), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False, default="chat"),
    sa.Column("phone", sa.String(32), nullable=False),
    sa.Column("name", sa.String(64), nullable=False, default=""),
    sa.Column("preferred_time", sa.String(200), nullable=False, default=""),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("status", sa.String(16), nullable=False, default="requested"),
)


class StorageError(AssistantError):
    transient = True


def is_connection_error(exc: BaseException) -> bool:
    """A failure of the connection rather than of the statement (server down or restarted, socket
    closed): safe to retry an idempotent operation on a new connection."""
    cause = exc.__cause__ if isinstance(exc, StorageError) else exc
    if isinstance(cause, sa.exc.DBAPIError) and cause.connection_invalidated:
        return True
    return isinstance(cause, (sa.exc.OperationalError, sa.exc.InterfaceError))


def default_url(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'assistant.db').resolve()}"


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"pool_pre_ping": True, "future": True}
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
        elif url.startswith("postgresql") and "connect_timeout" not in url:
            # a server that is down or unreachable fails fast (-> readiness red, Korean 503) instead of
            # holding the request; pool_pre_ping replaces connections broken by a restart
            kwargs["connect_args"] = {"connect_timeout": 3}
        self.engine: Engine = sa.create_engine(url, **kwargs)
        self._lock = threading.Lock()

    def create_schema(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent; several workers may call it
        at once — on PostgreSQL an advisory lock lets one migrate while the others wait)."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", "assistant:migrations")
        with self._translate(), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(724311)"))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            if is_connection_error(exc):
                # the server went away (restart, failover, network): drop every pooled connection so
                # the next request starts on fresh ones instead of finding the next stale one
                self.engine.dispose()
            raise StorageError(f"database error: {type(exc).__name__}") from exc

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction (committed on exit); SQLAlchemy errors become :class:`StorageError`."""
        with self._translate(), self.engine.begin() as conn:
            yield conn


    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    # --- feedback -----------------------------------------------------------------------------
    def add_feedback(self, session_id: str, message_id: str, rating: str, question: str = "",
                     answer: str = "", comment: str = "") -> bool:
        """Store one rating per answer (the first one wins); True if stored now."""
        row = {"created_at": dt.datetime.now(dt.UTC), "session_id": session_id,
               "message_id": message_id, "rating": rating, "question": mask_pii(question),
               "answer": answer, "comment": mask_pii(comment)}
        with self.transaction() as conn:
            exists = conn.execute(sa.select(feedback.c.id).where(
                feedback.c.session_id == session_id, feedback.c.message_id == message_id)).first()
            if exists:
                return False
            conn.execute(feedback.insert().values(**row))
        return True

    def feedback_rows(self, limit: int = 10000) -> list[dict[str, Any]]:
        with self.transaction() as conn:
            rows = conn.execute(sa.select(feedback).order_by(feedback.c.id).limit(limit)).mappings()
            return [dict(r) for r in rows]

    def feedback_csv(self) -> str:
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["created_at", "session_id", "message_id", "rating", "question", "answer", "comment"])
        for r in self.feedback_rows():
            w.writerow([r["created_at"].isoformat() if r["created_at"] else "", r["session_id"],
                        r["message_id"], r["rating"], mask_pii(r["question"]), r["answer"],
                        mask_pii(r["comment"])])
        return out.getvalue()

    # --- call-back requests -------------------------------------------------------------------
    def add_callback(self, session_id: str, phone: str, name: str = "", preferred_time: str = "",
                     reason: str = "", channel: str = "chat") -> str:
        now = dt.datetime.now(dt.UTC)
        with self.transaction() as conn:
            result = conn.execute(callbacks.insert().values(
                created_at=now, session_id=session_id, channel=channel, phone=phone, name=name,
                preferred_time=preferred_time, reason=reason, status="requested"))
            pk = result.inserted_primary_key[0] if result.inserted_primary_key else 0
        return f"CB-{now.astimezone(dt.timezone(dt.timedelta(hours=9))):%Y%m%d}-{int(pk):04d}"

    def callback_rows(self, limit: int = 10000) -> list[dict[str, Any]]:
        with self.transaction() as conn:
            rows = conn.execute(sa.select(callbacks).order_by(callbacks.c.id).limit(limit)).mappings()
            return [dict(r) for r in rows]
