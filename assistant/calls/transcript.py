"""Stored call transcripts: masked final segments and one row per finished call (SQLAlchemy Core,
SQLite or PostgreSQL, tables made by migration ``0002_calls``), and the optional raw-audio recorder.

Only final segments are stored, and only after ``mask_pii`` (주민번호, phone, card and account numbers,
e-mail, street numbers), whatever the caller of ``add_segment`` passed. Raw audio is never written
unless ``agent.store_audio`` is on; then ``AudioRecorder`` keeps one 16 kHz WAV per call leg under
``data_dir/calls/``.
"""

from __future__ import annotations

import datetime as dt
import threading
import wave
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from ..pii import mask_pii
from ..storage import Database, metadata
from .registry import CallRecord

call_records = sa.Table(
    "call_records", metadata,
    sa.Column("call_id", sa.String(64), primary_key=True),
    sa.Column("agent", sa.String(64), nullable=False, default=""),
    sa.Column("source", sa.String(8), nullable=False),
    sa.Column("caller", sa.String(32), nullable=False, default=""),  # masked
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("intent", sa.String(32), nullable=False, default=""),
    sa.Column("summary", sa.Text, nullable=False, default=""),
    sa.Column("complaint_id", sa.String(24), nullable=True),
)

call_segments = sa.Table(
    "call_segments", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("call_id", sa.String(64), nullable=False, index=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("speaker", sa.String(8), nullable=False),
    sa.Column("start_s", sa.Float, nullable=False),
    sa.Column("end_s", sa.Float, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


class TranscriptStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _run(self, fn: Any) -> Any:
        with self.db.transaction() as conn:
            return fn(conn)

    def add_segment(self, call_id: str, seq: int, speaker: str, start: float, end: float, text: str) -> None:
        row = {"call_id": call_id, "seq": seq, "speaker": speaker[:8], "start_s": float(start),
               "end_s": float(end), "text": mask_pii(text)[:4000], "created_at": dt.datetime.now(dt.UTC)}
        self._run(lambda conn: conn.execute(call_segments.insert().values(**row)))

    def segments(self, call_id: str) -> list[dict[str, Any]]:
        q = sa.select(call_segments).where(call_segments.c.call_id == call_id).order_by(call_segments.c.seq)
        rows: list[dict[str, Any]] = self._run(lambda conn: [dict(r) for r in conn.execute(q).mappings()])
        return rows

    def save_call(self, record: CallRecord, summary: str = "") -> None:
        """Insert or replace the row of a call (at its start and again at hang-up)."""
        row = {"call_id": record.call_id, "agent": record.agent[:64], "source": record.source,
               "caller": record.caller[:32], "started_at": record.started_at, "ended_at": record.ended_at,
               "intent": record.intent[:32], "summary": mask_pii(summary), "complaint_id": record.complaint_id}

        def work(conn: Any) -> None:
            exists = conn.execute(sa.select(call_records.c.call_id).where(
                call_records.c.call_id == record.call_id)).first()
            if exists:
                conn.execute(call_records.update().where(call_records.c.call_id == record.call_id).values(**row))
            else:
                conn.execute(call_records.insert().values(**row))

        self._run(work)

    def call(self, call_id: str) -> dict[str, Any] | None:
        q = sa.select(call_records).where(call_records.c.call_id == call_id)
        row = self._run(lambda conn: conn.execute(q).mappings().first())
        return dict(row) if row else None


class AudioRecorder:
    """Appends 16 kHz float audio of one call leg to ``<folder>/<call_id>-<speaker>.wav`` (thread-safe)."""

    def __init__(self, folder: Path, call_id: str, speaker: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{call_id}-{speaker}.wav"
        self._wav: wave.Wave_write | None = wave.open(str(self.path), "wb")  # noqa: SIM115 - closed in close()
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(16000)
        self._lock = threading.Lock()

    def write(self, audio: npt.NDArray[np.float32]) -> None:
        pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        with self._lock:
            if self._wav is not None:
                self._wav.writeframes(pcm)

    def close(self) -> None:
        with self._lock:
            if self._wav is not None:
                self._wav.close()
                self._wav = None
