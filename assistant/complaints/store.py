"""One-Stop tracking of everyday-inconvenience complaints (SQLAlchemy Core: SQLite or PostgreSQL).

Owns: the ``complaints`` table and its audit trail (``complaint_events``), receipt numbers
(NYJ-YYYYMMDD-NNNN), the status lifecycle (접수 → 배정 → 처리중 → 처리완료 / 이관 / 반려) with
optimistic locking (no lost update when two agents change one complaint), duplicate / repeat
detection (same place and similar text within a window links a new report to the open one), status
lookup by receipt number + phone last digits, and the call-back job queue claimed with
``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL. A complaint is committed before its receipt number
is returned, so a citizen never sees a receipt for something that was not saved.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..errors import AssistantError
from ..hours import SEOUL, OfficeHours
from ..storage import Database, StorageError, is_connection_error, metadata
from .deadlines import DeadlinePolicy, due_at, due_state

STATUSES = ("접수", "배정", "처리중", "처리완료", "이관", "반려")
CLOSED = frozenset({"처리완료", "반려"})
TRANSITIONS: dict[str, frozenset[str]] = {
    "접수": frozenset({"배정", "처리중", "이관", "반려", "처리완료"}),
    "배정": frozenset({"처리중", "이관", "반려", "처리완료"}),
    "처리중": frozenset({"처리완료", "이관", "반려"}),
    "이관": frozenset({"배정", "처리중", "처리완료", "반려"}),
    "처리완료": frozenset({"처리중"}),  # reopened when the call-back finds it was not fixed
    "반려": frozenset({"접수"}),
}

complaints = sa.Table(
    "complaints", metadata,
    sa.Column("id", sa.String(24), primary_key=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(8), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("service_code", sa.String(32), nullable=False, default=""),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("address", sa.String(300), nullable=False, default=""),
    sa.Column("address_key", sa.String(300), nullable=False, default=""),
    sa.Column("lat", sa.Float, nullable=True),
    sa.Column("lon", sa.Float, nullable=True),
    sa.Column("occurred", sa.String(100), nullable=False, default=""),
    sa.Column("phone", sa.String(32), nullable=False, default=""),
    sa.Column("name", sa.String(64), nullable=False, default=""),
    sa.Column("email", sa.String(200), nullable=False, default=""),
    sa.Column("media_url", sa.String(500), nullable=False, default=""),
    sa.Column("department", sa.String(64), nullable=False),
    sa.Column("team", sa.String(64), nullable=False),
    sa.Column("urgent", sa.Boolean, nullable=False, default=False),
    sa.Column("confidence", sa.Float, nullable=False, default=0.0),
    sa.Column("route_reason", sa.Text, nullable=False, default=""),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("expected_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("duplicate_of", sa.String(24), nullable=True),
    sa.Column("repeat_count", sa.Integer, nullable=False, default=0),
    sa.Column("session_id", sa.String(128), nullable=False, default=""),
    sa.Column("status_notes", sa.Text, nullable=False, default=""),
    sa.Column("version", sa.Integer, nullable=False, default=1),
    sa.Index("ix_complaints_status", "status"),
    sa.Index("ix_complaints_created", "created_at"),
    sa.Index("ix_complaints_address_key", "address_key"),
)

events = sa.Table(
    "complaint_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("complaint_id", sa.String(24), sa.ForeignKey("complaints.id"), nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("from_status", sa.String(8), nullable=True),
    sa.Column("to_status", sa.String(8), nullable=True),
    sa.Column("note", sa.Text, nullable=False, default=""),
)

callback_jobs = sa.Table(
    "callback_jobs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("complaint_id", sa.String(24), sa.ForeignKey("complaints.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # satisfaction | pending
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("status", sa.String(12), nullable=False, default="due"),  # due|claimed|done|failed
    sa.Column("channel", sa.String(16), nullable=False, default="sms"),  # sms | agent
    sa.Column("claimed_by", sa.String(64), nullable=True),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("result", sa.Text, nullable=False, default=""),
)


class ComplaintError(AssistantError):
    """A complaint operation that cannot be done as asked (not transient)."""


class NotFound(ComplaintError):
    pass


class Conflict(ComplaintError):
    """Someone else changed the complaint first (stale version) or the transition is not allowed."""


@dataclass(frozen=True, slots=True)
class NewComplaint:
    description: str
    category: str
    department: str
    team: str
    urgent: bool = False
    confidence: float = 0.0
    route_reason: str = ""
    kind: str = "생활불편"
    address: str = ""
    lat: float | None = None
    lon: float | None = None
    occurred: str = ""
    phone: str = ""
    name: str = ""
    email: str = ""
    media_url: str = ""
    channel: str = "chat"
    service_code: str = ""
    session_id: str = ""


@dataclass(frozen=True, slots=True)
class Filed:
    complaint: dict[str, Any]
    duplicate_of: str | None = None
    created: bool = True


def normalise_address(address: str) -> str:
    """A key for "same place": NFC, no spaces or punctuation, common suffix spellings unified."""
    a = unicodedata.normalize("NFC", address).lower()
    a = re.sub(r"(경기도|경기|남양주시|남양주)\s*", "", a)
    a = re.sub(r"번지|번\b", "", a)
    return re.sub(r"[\s,.\-()·]+", "", a)


def _tokens(text: str) -> set[str]:
    return {w for w in re.findall(r"[가-힣A-Za-z0-9]{2,}", text)}


def similar(a: str, b: str) -> float:
    ta, tb = _tokens(a), _tokens(b)
    if not ta or not tb:
        return 0.0
    return len(ta & tb) / len(ta | tb)


def _utc(value: dt.datetime) -> dt.datetime:
    """Datetimes are stored in UTC (SQLite keeps no time zone; it would silently drop it)."""
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    import math

    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


@dataclass
class ComplaintStore:
    db: Database
    office: OfficeHours = field(default_factory=OfficeHours)
    policy: DeadlinePolicy = field(default_factory=DeadlinePolicy)
    duplicate_window_days: int = 30
    duplicate_radius_m: float = 50.0
    duplicate_min_similarity: float = 0.15
    pending_callback_days: int = 5
    idempotency_window_s: int = 3600  # a retried turn of the same conversation files nothing new

    # --- intake -------------------------------------------------------------------------------
    def file(self, new: NewComplaint, now: dt.datetime | None = None) -> Filed:
        """Store a complaint (or link it to the open one it repeats); committed on return.

        Idempotent per conversation: the same report (same session, description and place) filed
        again within ``idempotency_window_s`` returns the complaint already stored, with
        ``created=False``. That is what a retried turn does when a worker died after the commit but
        before the citizen saw the receipt. Filings are serialised on PostgreSQL (advisory lock) and
        retried on a receipt-number collision (SQLite), so concurrent workers never fail each other.
        """
        now = _utc(now or dt.datetime.now(dt.UTC))
        for attempt in range(5):
            try:
                return self._file_once(new, now)
            except StorageError as exc:
                # a receipt-number collision (SQLite), or a connection the server dropped (restart):
                # both are safe to retry, filing is idempotent per conversation
                retry = isinstance(exc.__cause__, IntegrityError) or (is_connection_error(exc) and attempt == 0)
                if not retry or attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def _file_once(self, new: NewComplaint, now: dt.datetime) -> Filed:
        with self.db.transaction() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(724312)"))
            same = self._find_same_report(conn, new, now)
            if same is not None:
                return Filed(self._decorate(same), same["duplicate_of"], created=False)
            original = self._find_duplicate(conn, new, now)
            day = now.astimezone(SEOUL).strftime("%Y%m%d")
            prefix = f"NYJ-{day}-"
            seq = (conn.execute(sa.select(sa.func.max(complaints.c.seq)).where(
                complaints.c.id.like(prefix + "%"))).scalar() or 0) + 1
            cid = f"{prefix}{seq:04d}"
            status = "접수"
            expected = _utc(due_at("즉시" if new.urgent else new.kind, now, self.office, self.policy))
            row = {
                "id": cid, "seq": seq, "created_at": now, "updated_at": now, "status": status,
                "channel": new.channel, "category": new.category, "service_code": new.service_code,
                "description": new.description[:4000], "address": new.address[:300],
                "address_key": normalise_address(new.address)[:300], "lat": new.lat, "lon": new.lon,
                "occurred": new.occurred[:100], "phone": new.phone, "name": new.name[:64],
                "email": new.email[:200], "media_url": new.media_url[:500],
                "department": new.department, "team": new.team, "urgent": new.urgent,
                "confidence": new.confidence, "route_reason": new.route_reason,
                "kind": "즉시" if new.urgent else new.kind, "expected_at": expected, "closed_at": None,
                "duplicate_of": original["id"] if original else None, "repeat_count": 0,
                "session_id": new.session_id, "status_notes": "", "version": 1,
            }
            conn.execute(complaints.insert().values(**row))
            self._event(conn, cid, now, new.channel, "접수", None, status,
                        f"{new.team} 배정 예정 ({new.route_reason})"[:500])
            if original:
                conn.execute(complaints.update().where(complaints.c.id == original["id"]).values(
                    repeat_count=complaints.c.repeat_count + 1, updated_at=now))
                self._event(conn, original["id"], now, "system", "반복접수", None, None, f"{cid} 같은 민원 재접수")
            else:
                conn.execute(callback_jobs.insert().values(
                    complaint_id=cid, kind="pending", status="due", channel="agent", attempts=0, result="",
                    due_at=now + dt.timedelta(days=self.pending_callback_days)))
        return Filed(self.get(cid), original["id"] if original else None)

    def _find_same_report(self, conn: Connection, new: NewComplaint, now: dt.datetime) -> dict[str, Any] | None:
        """The complaint this very conversation already filed with the same content (a retried turn)."""
        if not new.session_id or self.idempotency_window_s <= 0:
            return None
        since = now - dt.timedelta(seconds=self.idempotency_window_s)
        row = conn.execute(sa.select(complaints).where(
            complaints.c.created_at >= since, complaints.c.session_id == new.session_id,
            complaints.c.description == new.description[:4000], complaints.c.address == new.address[:300],
        ).order_by(complaints.c.created_at).limit(1)).mappings().first()
        return dict(row) if row is not None else None

    def _find_duplicate(self, conn: Connection, new: NewComplaint, now: dt.datetime) -> dict[str, Any] | None:
        key = normalise_address(new.address)
        since = now - dt.timedelta(days=self.duplicate_window_days)
        q = sa.select(complaints).where(
            complaints.c.status.not_in(CLOSED), complaints.c.created_at >= since,
            complaints.c.duplicate_of.is_(None))
        if key:
            q = q.where(complaints.c.address_key == key)
        elif new.lat is None or new.lon is None:
            return None
        for row in conn.execute(q.order_by(complaints.c.created_at)).mappings():
            if not key and (row["lat"] is None or row["lon"] is None or _distance_m(
                    new.lat or 0.0, new.lon or 0.0, row["lat"], row["lon"]) > self.duplicate_radius_m):
                continue
            if row["category"] == new.category or similar(row["description"], new.description) >= \
                    self.duplicate_min_similarity:
                return dict(row)
        return None

    # --- reading ------------------------------------------------------------------------------
    def get(self, cid: str) -> dict[str, Any]:
        with self.db.transaction() as conn:
            row = conn.execute(sa.select(complaints).where(complaints.c.id == cid)).mappings().first()
        if row is None:
            raise NotFound(cid)
        return self._decorate(dict(row))

    def lookup(self, cid: str, phone_last4: str) -> dict[str, Any] | None:
        """A citizen's own complaint: receipt number + last 4 digits of the phone given at intake."""
        cid = cid.strip().upper()
        digits = re.sub(r"\D", "", phone_last4)[-4:]
        if len(digits) != 4:
            return None
        try:
            row = self.get(cid)
        except NotFound:
            return None
        return row if re.sub(r"\D", "", row["phone"]).endswith(digits) else None

    def search(self, status: str | None = None, team: str | None = None, urgent: bool | None = None,
             limit: int = 200, offset: int = 0, since: dt.datetime | None = None,
             service_code: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(complaints)
        if since is not None:
            since = _utc(since)
        if status:
            q = q.where(complaints.c.status == status)
        if team:
            q = q.where(complaints.c.team == team)
        if urgent is not None:
            q = q.where(complaints.c.urgent == urgent)
        if since is not None:
            q = q.where(complaints.c.created_at >= since)
        if service_code:
            q = q.where(complaints.c.service_code == service_code)
        q = q.order_by(complaints.c.created_at.desc()).limit(min(limit, 1000)).offset(offset)
        with self.db.transaction() as conn:
            return [self._decorate(dict(r)) for r in conn.execute(q).mappings()]

    def history(self, cid: str) -> list[dict[str, Any]]:
        with self.db.transaction() as conn:
            rows = conn.execute(sa.select(events).where(events.c.complaint_id == cid)
                                .order_by(events.c.id)).mappings()
            return [dict(r) for r in rows]

    def _decorate(self, row: dict[str, Any]) -> dict[str, Any]:
        for k in ("created_at", "updated_at", "expected_at", "closed_at"):
            if row.get(k) is not None:
                row[k] = _utc(row[k])  # SQLite returns naive (UTC) datetimes
        row["due_state"] = due_state(row["expected_at"], dt.datetime.now(dt.UTC), row["status"] in CLOSED,
                                     self.policy)
        return row

    # --- changes ------------------------------------------------------------------------------
    def change(self, cid: str, actor: str, *, status: str | None = None, team: str | None = None,
               department: str | None = None, note: str = "", expected_version: int | None = None,
               now: dt.datetime | None = None) -> dict[str, Any]:
        """Change status and/or assignment; refuses stale versions and invalid transitions."""
        now = _utc(now or dt.datetime.now(dt.UTC))
        with self.db.transaction() as conn:
            row = conn.execute(sa.select(complaints).where(complaints.c.id == cid)).mappings().first()
            if row is None:
                raise NotFound(cid)
            if expected_version is not None and row["version"] != expected_version:
                raise Conflict(f"{cid} was changed by someone else (version {row['version']})")
            values: dict[str, Any] = {"updated_at": now, "version": row["version"] + 1}
            new_status = status or row["status"]
            if status and status != row["status"]:
                if status not in STATUSES or status not in TRANSITIONS[row["status"]]:
                    raise Conflict(f"{row['status']} -> {status} is not allowed")
                values["status"] = status
                values["closed_at"] = now if status in CLOSED else None
            if team:
                values["team"] = team
                if department:
                    values["department"] = department
                if not status and row["status"] == "접수":
                    values["status"] = new_status = "배정"
            if note:
                values["status_notes"] = note[:1000]
            res = conn.execute(complaints.update().where(
                complaints.c.id == cid, complaints.c.version == row["version"]).values(**values))
            if res.rowcount != 1:
                raise Conflict(f"{cid} was changed by someone else")
            action = "상태변경" if new_status != row["status"] else "배정변경" if team else "메모"
            self._event(conn, cid, now, actor, action, row["status"], new_status,
                        (f"담당: {team}. " if team else "") + note)
            if new_status == "처리완료" and row["status"] != "처리완료":
                conn.execute(callback_jobs.insert().values(
                    complaint_id=cid, kind="satisfaction", status="due", channel="sms", attempts=0,
                    result="", due_at=now + dt.timedelta(days=1)))
        return self.get(cid)

    @staticmethod
    def _event(conn: Connection, cid: str, at: dt.datetime, actor: str, action: str,
               from_status: str | None, to_status: str | None, note: str) -> None:
        conn.execute(events.insert().values(complaint_id=cid, at=at, actor=actor[:64], action=action,
                                            from_status=from_status, to_status=to_status, note=note[:1000]))

    # --- call-back jobs -----------------------------------------------------------------------
    def claim_due_jobs(self, worker: str, now: dt.datetime | None = None, limit: int = 10) -> list[dict[str, Any]]:
        """Claim due call-back jobs for one worker; safe with several workers running."""
        now = _utc(now or dt.datetime.now(dt.UTC))
        with self.db.transaction() as conn:
            q = (sa.select(callback_jobs.c.id).where(callback_jobs.c.status == "due",
                                                     callback_jobs.c.due_at <= now)
                 .order_by(callback_jobs.c.due_at).limit(limit))
            if conn.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            ids = [r[0] for r in conn.execute(q)]
            if not ids:
                return []
            # the status guard makes the claim safe on SQLite too (writers are serialised there)
            conn.execute(callback_jobs.update().where(callback_jobs.c.id.in_(ids),
                                                      callback_jobs.c.status == "due").values(
                status="claimed", claimed_by=worker[:64], claimed_at=now,
                attempts=callback_jobs.c.attempts + 1))
            rows = conn.execute(sa.select(callback_jobs).where(
                callback_jobs.c.id.in_(ids), callback_jobs.c.claimed_by == worker[:64],
                callback_jobs.c.status == "claimed")).mappings()
            return [dict(r) for r in rows]

    def finish_job(self, job_id: int, ok: bool, result: str = "", retry_in: dt.timedelta | None = None,
                   status: str | None = None, now: dt.datetime | None = None) -> None:
        """Close a claimed job: done / failed, back to due after ``retry_in``, or another status
        such as "agent" (waiting in the agents' call-back list)."""
        with self.db.transaction() as conn:
            values: dict[str, Any] = {"status": status or ("done" if ok else "failed"), "result": result[:500]}
            if not ok and retry_in is not None:
                values = {"status": "due", "result": result[:500],
                          "due_at": _utc(now or dt.datetime.now(dt.UTC)) + retry_in}
            conn.execute(callback_jobs.update().where(callback_jobs.c.id == job_id).values(**values))

    def jobs(self, complaint_id: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(callback_jobs).order_by(callback_jobs.c.id)
        if complaint_id:
            q = q.where(callback_jobs.c.complaint_id == complaint_id)
        with self.db.transaction() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def stats(self) -> dict[str, Any]:
        with self.db.transaction() as conn:
            by_status: dict[str, int] = dict(conn.execute(sa.select(complaints.c.status, sa.func.count())
                                          .group_by(complaints.c.status)).all())
            by_team: dict[str, int] = dict(conn.execute(sa.select(complaints.c.team, sa.func.count())
                                        .group_by(complaints.c.team)).all())
            repeats = conn.execute(sa.select(sa.func.count()).where(complaints.c.duplicate_of.is_not(None))).scalar()
        return {"by_status": by_status, "by_team": by_team, "repeats": int(repeats or 0)}
