"""Staff monitoring dashboard (``GET /admin``): login, complaint list/detail/changes, charts, CSV.

Owns the HTTP side of the dashboard; the data comes from the ``ComplaintStore`` in the app's
service dict (``state["complaints"]``, read at request time because the lifespan fills it).

Routes (all under ``/admin``; everything except the login form and the stylesheet needs a staff
session):

- ``GET /admin/login`` form, ``POST /admin/login`` (form fields ``username``, ``password``) sets the
  ``nyj_admin`` cookie (HttpOnly, SameSite=Strict, Path=/admin, Secure over https) and redirects to
  ``/admin``; ``POST /admin/logout``.
- ``GET /admin`` the dashboard page (``static/admin.html`` + ``admin.js`` + ``admin.css``); without
  a session it redirects to the login form.
- JSON under ``/admin/api/`` (401 JSON without a session): ``complaints`` (filters ``status``,
  ``team``, ``urgent``, ``due_state``, ``repeat``, ``open``, ``q`` (text, or 4+ phone digits),
  ``from``/``to`` as Seoul dates, ``limit``, ``offset``), ``summary`` (counters), ``complaints/{id}`` (detail + audit trail),
  ``POST complaints/{id}/change`` (``{"expected_version", "status"?, "team"?, "note"?}``; 409 with a
  Korean message when someone changed it first or the transition is not allowed), ``series`` (daily
  intake and average processing hours, last 30 days) and ``complaints.csv`` (same filters; UTF-8
  with BOM; personal data masked).

Security: sessions are HMAC-signed tokens (``assistant.auth``) checked against the configured
users on every request; state-changing POSTs need the ``X-CSRF-Token`` header, an HMAC of the
session token that the page receives in a ``<meta>`` tag; login failures are slowed down and
limited per client address; pages carry a strict Content-Security-Policy. Contact data (name,
phone, e-mail) is always masked on the dashboard and in exports, and free text goes through
``mask_pii``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from assistant.complaints.store import STATUSES, TRANSITIONS, ComplaintStore, Conflict, NotFound
from assistant.errors import AssistantError
from assistant.hours import SEOUL
from assistant.pii import mask_pii
from assistant.settings import Settings

from .staff_login import MSG_CSRF, MSG_LOGIN_REQUIRED, StaffLogin

log = logging.getLogger("channels.admin")
STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "nyj_admin"
FAIL_DELAY_S = 0.6  # every failed login waits this long (module attribute so tests can shorten it)
MAX_FAILURES = 5  # failed logins per client address within LOCKOUT_S before it is refused
LOCKOUT_S = 600.0
MAX_SCAN = 20_000  # complaints read for one filtered view / counter set (embedded-scale dashboard)
PAGE = 1000
OPEN_STATUSES = tuple(s for s in STATUSES if s not in ("처리완료", "반려"))
DUE_STATES = ("overdue", "near_due", "on_time", "done")
DEFAULT_TEAMS = ("바로처리팀", "현장기동팀", "진심소통팀", "민원콜센터팀")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

MSG_UNAVAILABLE = "민원 자료를 불러올 수 없습니다. 잠시 후 다시 시도해 주세요."
MSG_NOT_FOUND = "해당 접수번호의 민원이 없습니다."
MSG_BAD_FILTER = "조회 조건이 올바르지 않습니다."
MSG_BAD_CHANGE = "변경 내용이 올바르지 않습니다."
MSG_NOTHING = "바꿀 상태나 담당팀, 또는 메모를 입력해 주세요."
MSG_STALE = "다른 직원이 먼저 이 민원을 변경했습니다. 최신 내용을 확인한 뒤 다시 저장해 주세요."

LOGIN_PAGE = """<!doctype html>
<html lang="ko"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>직원 로그인 · 남양주시 민원 모니터링</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/admin/admin.css"></head>
<body class="login-body"><main class="login-card" aria-labelledby="login-title">
<h1 id="login-title">민원 모니터링 직원 로그인</h1>
<p class="login-note">남양주시 민원 담당 직원 전용 화면입니다. 시민 여러분은
<a href="/">민원 안내 챗봇</a>을 이용해 주세요.</p>
{error}<form method="post" action="/admin/login" class="login-form">
<label for="username">아이디</label>
<input id="username" name="username" autocomplete="username" required maxlength="64" value="{username}" autofocus>
<label for="password">비밀번호</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="256">
<button type="submit">로그인</button></form></main></body></html>
"""


class ChangeRequest(BaseModel):
    expected_version: int = Field(ge=1)
    status: str | None = Field(default=None, max_length=8)
    team: str | None = Field(default=None, max_length=64)
    department: str | None = Field(default=None, max_length=64)
    note: str = Field(default="", max_length=1000)


@dataclass(frozen=True, slots=True)
class Filters:
    status: str | None = None
    team: str | None = None
    urgent: bool | None = None
    due_state: str | None = None
    repeat: bool = False
    open_only: bool = False
    q: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = 100
    offset: int = 0


# --- masking and serialisation ------------------------------------------------------------------
def mask_phone(phone: str) -> str:
    """``010-1234-5678`` -> ``010-****-5678``; only the area/mobile prefix and the last 4 digits stay."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) < 4:
        return ""
    if len(digits) < 8:
        return "****-" + digits[-4:]
    prefix = "02" if digits.startswith("02") else digits[:3]
    return f"{prefix}-****-{digits[-4:]}"


def mask_name(name: str) -> str:
    """``홍길동`` -> ``홍*동``, ``김철`` -> ``김*``."""
    name = (name or "").strip()
    if len(name) <= 1:
        return "*" if name else ""
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_email(email: str) -> str:
    local, sep, domain = (email or "").partition("@")
    return f"{local[:1]}***@{domain}" if sep and local else ""


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _row(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": c["id"], "created_at": _iso(c["created_at"]), "updated_at": _iso(c["updated_at"]),
        "expected_at": _iso(c["expected_at"]), "closed_at": _iso(c.get("closed_at")),
        "status": c["status"], "channel": c["channel"], "category": c["category"],
        "department": c["department"], "team": c["team"], "urgent": bool(c["urgent"]),
        "due_state": c["due_state"], "repeat_count": int(c.get("repeat_count") or 0),
        "duplicate_of": c.get("duplicate_of"), "version": int(c["version"]),
        "summary": mask_pii(c.get("description") or "")[:80],
    }


def _detail(c: dict[str, Any]) -> dict[str, Any]:
    allowed = TRANSITIONS.get(c["status"], frozenset())
    return {**_row(c), "description": mask_pii(c.get("description") or ""), "address": c.get("address") or "",
            "occurred": c.get("occurred") or "", "kind": c.get("kind") or "",
            "route_reason": c.get("route_reason") or "", "status_notes": mask_pii(c.get("status_notes") or ""),
            "contact": {"name": mask_name(c.get("name") or ""), "phone": mask_phone(c.get("phone") or ""),
                        "email": mask_email(c.get("email") or "")},
            "next_statuses": [s for s in STATUSES if s in allowed],
            "photos": [f"/admin/media/{m.removeprefix('media:')}" for m in (c.get("media_url") or "").split()
                       if m.startswith("media:")]}


def _event(e: dict[str, Any]) -> dict[str, Any]:
    at = e["at"]
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)  # SQLite returns naive UTC
    return {"at": _iso(at), "actor": e["actor"], "action": e["action"], "from_status": e.get("from_status"),
            "to_status": e.get("to_status"), "note": mask_pii(e.get("note") or "")}


def _local(value: dt.datetime | None) -> str:
    return value.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M") if value is not None else ""


def _cell(value: str) -> str:
    """Defuse spreadsheet formulas in free text (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


CSV_HEADER = ["접수번호", "접수일시", "상태", "채널", "분류", "담당부서", "담당팀", "긴급", "처리기한", "기한상태",
              "완료일시", "반복접수", "원민원", "민원내용", "주소", "성명", "연락처"]
DUE_LABELS = {"overdue": "기한 초과", "near_due": "기한 임박", "on_time": "기한 내", "done": "완료"}


def complaints_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(CSV_HEADER)
    for c in rows:
        w.writerow([c["id"], _local(c["created_at"]), c["status"], c["channel"], _cell(c["category"]),
                    _cell(c["department"]), _cell(c["team"]), "Y" if c["urgent"] else "N",
                    _local(c["expected_at"]), DUE_LABELS.get(c["due_state"], c["due_state"]),
                    _local(c.get("closed_at")), int(c.get("repeat_count") or 0), c.get("duplicate_of") or "",
                    _cell(mask_pii(c.get("description") or "")), _cell(mask_pii(c.get("address") or "")),
                    mask_name(c.get("name") or ""), mask_phone(c.get("phone") or "")])
    return "\ufeff" + out.getvalue()


# --- reading the store --------------------------------------------------------------------------
def parse_filters(params: dict[str, str]) -> Filters:
    """Query parameters -> Filters; raises ValueError on a value the dashboard never sends."""
    def date(name: str) -> dt.date | None:
        text = params.get(name, "").strip()
        return dt.date.fromisoformat(text) if text else None

    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        raise ValueError("status")
    due = params.get("due_state") or None
    if due is not None and due not in DUE_STATES:
        raise ValueError("due_state")
    urgent_text = params.get("urgent", "")
    if urgent_text not in ("", "true", "false", "1", "0"):
        raise ValueError("urgent")
    start, end = date("from"), date("to")
    limit, offset = int(params.get("limit") or 100), int(params.get("offset") or 0)
    if not 1 <= limit <= 1000 or offset < 0:
        raise ValueError("limit")
    return Filters(
        status=status, team=(params.get("team") or "").strip()[:64] or None,
        urgent=None if urgent_text == "" else urgent_text in ("true", "1"), due_state=due,
        repeat=params.get("repeat", "") in ("1", "true"), open_only=params.get("open", "") in ("1", "true"),
        q=params.get("q", "").strip()[:100],
        since=dt.datetime.combine(start, dt.time(0), SEOUL) if start else None,
        until=dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), SEOUL) if end else None,
        limit=limit, offset=offset)


def _is_repeat(c: dict[str, Any]) -> bool:
    """Part of a repeat: reported again since (repeat_count) or itself a repeat report (duplicate_of)."""
    return bool(c.get("repeat_count") or c.get("duplicate_of"))


def _matches(c: dict[str, Any], f: Filters) -> bool:
    if f.until is not None and c["created_at"] >= f.until:
        return False
    if f.due_state and c["due_state"] != f.due_state:
        return False
    if f.repeat and not _is_repeat(c):
        return False
    if f.open_only and c["status"] not in OPEN_STATUSES:
        return False
    if f.q:
        q = f.q.lower()
        fields = (c["id"], c["category"], c["description"], c.get("address") or "", c["team"],
                  c["department"], c.get("route_reason") or "")
        digits = re.sub(r"\D", "", f.q)
        if not any(q in (v or "").lower() for v in fields) and not (
                len(digits) >= 4 and digits == f.q and digits in re.sub(r"\D", "", c.get("phone") or "")):
            return False
    return True


def scan(store: ComplaintStore, f: Filters) -> tuple[list[dict[str, Any]], bool]:
    """Every complaint matching ``f`` (newest first, at most MAX_SCAN read); True if cut short."""
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = store.search(status=f.status, team=f.team, urgent=f.urgent, since=f.since,
                            limit=PAGE, offset=offset)
        for c in page:
            if c["id"] not in seen and _matches(c, f):
                seen.add(c["id"])
                out.append(c)
        offset += len(page)
        if len(page) < PAGE:
            return out, False
        if offset >= MAX_SCAN:
            return out, True


def summary(store: ComplaintStore) -> dict[str, Any]:
    stats = store.stats()
    open_rows: list[dict[str, Any]] = []
    for status in OPEN_STATUSES:
        open_rows += scan(store, Filters(status=status))[0]
    open_by_team: dict[str, int] = {}
    for c in open_rows:
        open_by_team[c["team"]] = open_by_team.get(c["team"], 0) + 1
    urgent_open = sum(1 for c in open_rows if c["urgent"])
    teams = sorted(set(DEFAULT_TEAMS) | set(stats["by_team"]))
    return {
        "by_status": {s: int(stats["by_status"].get(s, 0)) for s in STATUSES},
        "by_team": {t: int(n) for t, n in sorted(stats["by_team"].items())},
        "open_by_team": dict(sorted(open_by_team.items())),
        "by_urgency": {"긴급": urgent_open, "일반": len(open_rows) - urgent_open},
        "total": sum(int(n) for n in stats["by_status"].values()), "open": len(open_rows),
        "urgent_open": urgent_open,
        "overdue": sum(1 for c in open_rows if c["due_state"] == "overdue"),
        "near_due": sum(1 for c in open_rows if c["due_state"] == "near_due"),
        "repeats": int(stats["repeats"]), "repeat_open": sum(1 for c in open_rows if _is_repeat(c)),
        "teams": teams, "statuses": list(STATUSES),
    }


def series(store: ComplaintStore, days: int = 30, now: dt.datetime | None = None) -> dict[str, Any]:
    """Per Seoul day of the last ``days``: complaints received, closed (처리완료), mean hours to close."""
    now = now or dt.datetime.now(dt.UTC)
    today = now.astimezone(SEOUL).date()
    first = today - dt.timedelta(days=days - 1)
    since = dt.datetime.combine(first, dt.time(0), SEOUL)
    intake: dict[dt.date, int] = {}
    for c in scan(store, Filters(since=since))[0]:
        day = c["created_at"].astimezone(SEOUL).date()
        intake[day] = intake.get(day, 0) + 1
    hours: dict[dt.date, list[float]] = {}
    # closed in the window; received at most 180 days before it (older ones are not looked at)
    for c in scan(store, Filters(status="처리완료", since=since - dt.timedelta(days=180)))[0]:
        closed = c.get("closed_at")
        if closed is None or closed < since:
            continue
        hours.setdefault(closed.astimezone(SEOUL).date(), []).append(
            (closed - c["created_at"]).total_seconds() / 3600)
    out = []
    for i in range(days):
        day = first + dt.timedelta(days=i)
        done = hours.get(day, [])
        out.append({"date": day.isoformat(), "intake": intake.get(day, 0), "closed": len(done),
                    "avg_hours": round(sum(done) / len(done), 1) if done else None})
    return {"days": out}


# --- the router ---------------------------------------------------------------------------------
def _json(status: int, error: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": error, "message": message, **extra},
                        headers={"Cache-Control": "no-store"})


def _secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def admin_router(state: dict[str, Any], settings: Settings) -> APIRouter:
    """The dashboard's routes; ``state["complaints"]`` is looked up on every request."""
    secret = settings.admin.secret_key.get_secret_value()
    key = secret.encode("utf-8") if secret else secrets.token_bytes(32)
    if not secret and settings.admin.users:
        log.warning("ASSISTANT_ADMIN__SECRET_KEY is empty: staff sessions use a per-process key "
                    "(logins end on restart and do not carry across workers)")
    auth = StaffLogin(prefix="/admin", cookie=COOKIE, accounts=settings.admin.users, key=key,
                      session_hours=settings.admin.session_hours, login_html=LOGIN_PAGE, csrf_label=b"csrf:",
                      trust_forwarded=settings.server.trust_forwarded, secure=_secure,
                      fail_delay=lambda: FAIL_DELAY_S, log=log, max_failures=MAX_FAILURES, lockout_s=LOCKOUT_S)
    user_of, csrf_ok = auth.user_of, auth.csrf_ok
    router = APIRouter(include_in_schema=False)

    def store() -> ComplaintStore | None:
        s = state.get("complaints")
        return s if isinstance(s, ComplaintStore) else None

    async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(partial(fn, *args, **kwargs))

    auth.add_routes(router)  # GET/POST /admin/login, POST /admin/logout

    # --- page and assets --------------------------------------------------------------------
    auth.add_page_routes(router, STATIC, "admin")  # GET /admin, /admin/admin.js, /admin/admin.css

    # --- JSON API ---------------------------------------------------------------------------
    async def guarded(request: Request, work: Callable[[ComplaintStore, str], Any]) -> Response:
        user = user_of(request)
        if user is None:
            return _json(401, "unauthorized", MSG_LOGIN_REQUIRED)
        if request.method == "POST" and not csrf_ok(request):
            return _json(403, "csrf", MSG_CSRF)
        s = store()
        if s is None:
            return _json(503, "unavailable", MSG_UNAVAILABLE)
        try:
            result = await work(s, user)
        except NotFound:
            return _json(404, "not_found", MSG_NOT_FOUND)
        except AssistantError as exc:
            log.warning("admin dashboard backend error: %s", type(exc).__name__)
            return _json(503, "unavailable", MSG_UNAVAILABLE)
        if isinstance(result, Response):
            return result
        return JSONResponse(result, headers={"Cache-Control": "no-store"})

    def filters_of(request: Request) -> Filters | None:
        try:
            return parse_filters(dict(request.query_params))
        except ValueError:
            return None

    @router.get("/admin/api/complaints")
    async def list_complaints(request: Request) -> Response:
        async def work(s: ComplaintStore, _: str) -> Any:
            f = filters_of(request)
            if f is None:
                return _json(422, "invalid_filter", MSG_BAD_FILTER)
            rows, truncated = await call(scan, s, f)
            return {"items": [_row(c) for c in rows[f.offset:f.offset + f.limit]], "total": len(rows),
                    "truncated": truncated, "limit": f.limit, "offset": f.offset}
        return await guarded(request, work)

    @router.get("/admin/api/complaints.csv")
    async def export_csv(request: Request) -> Response:
        async def work(s: ComplaintStore, user: str) -> Any:
            f = filters_of(request)
            if f is None:
                return _json(422, "invalid_filter", MSG_BAD_FILTER)
            rows, _ = await call(scan, s, f)
            log.info("admin csv export", extra={"fields": {"user": user, "rows": len(rows)}})
            stamp = dt.datetime.now(SEOUL).strftime("%Y%m%d-%H%M")
            return Response(complaints_csv(rows), media_type="text/csv; charset=utf-8", headers={
                "Content-Disposition": f'attachment; filename="complaints-{stamp}.csv"',
                "Cache-Control": "no-store"})
        return await guarded(request, work)

    @router.get("/admin/api/summary")
    async def counts(request: Request) -> Response:
        async def work(s: ComplaintStore, _: str) -> Any:
            return await call(summary, s)
        return await guarded(request, work)

    @router.get("/admin/api/series")
    async def charts(request: Request) -> Response:
        async def work(s: ComplaintStore, _: str) -> Any:
            return await call(series, s, 30)
        return await guarded(request, work)

    @router.get("/admin/api/complaints/{cid}")
    async def detail(cid: str, request: Request) -> Response:
        async def work(s: ComplaintStore, _: str) -> Any:
            c = await call(s.get, cid[:40])
            return {"complaint": _detail(c), "history": [_event(e) for e in await call(s.history, c["id"])]}
        return await guarded(request, work)

    @router.post("/admin/api/complaints/{cid}/change")
    async def change(cid: str, request: Request) -> Response:
        async def work(s: ComplaintStore, user: str) -> Any:
            try:
                body = ChangeRequest.model_validate_json(await request.body())
            except ValidationError:
                return _json(422, "invalid_request", MSG_BAD_CHANGE)
            status = body.status or None
            team = (body.team or "").strip() or None
            note = body.note.strip()
            if status is not None and status not in STATUSES:
                return _json(422, "invalid_request", MSG_BAD_CHANGE)
            if status is None and team is None and not note:
                return _json(422, "invalid_request", MSG_NOTHING)
            try:
                c = await call(s.change, cid[:40], user, status=status, team=team,
                               department=(body.department or "").strip() or None, note=note,
                               expected_version=body.expected_version)
            except Conflict as exc:
                current = await call(s.get, cid[:40])
                message = (f"현재 상태 '{current['status']}'에서 '{status}'(으)로 바꿀 수 없습니다."
                           if "not allowed" in str(exc) else MSG_STALE)
                return _json(409, "conflict", message, complaint=_detail(current))
            log.info("admin change", extra={"fields": {"user": user, "id": c["id"], "status": c["status"],
                                                       "team": c["team"]}})
            return {"complaint": _detail(c), "history": [_event(e) for e in await call(s.history, c["id"])]}
        return await guarded(request, work)

    @router.get("/admin/media/{media_id}")
    async def media(media_id: str, request: Request) -> Response:
        """A complaint photo, for staff only (citizens' photos are never public)."""
        if user_of(request) is None:
            return _json(401, "unauthorized", "로그인이 필요합니다.")
        found = state["media"].find(media_id) if "media" in state else None
        if found is None:
            return _json(404, "not_found", "사진을 찾을 수 없습니다.")
        path, ctype = found
        return _secure(FileResponse(path, media_type=ctype, headers={"Cache-Control": "private, no-store"}))

    return router
